// greta_infer's option model: defaults, validation messages and exit status, env precedence.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "greta/core/error.h"
#include "greta/app/infer_options.h"

namespace greta {
namespace {

using Env = std::map<std::string, std::string>;

EnvLookup fake_env(const Env& env) {
  return [env](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

InferOptions parse(std::vector<std::string> args, const Env& env = {}) {
  args.insert(args.begin(), "greta_infer");
  ParseResult r = parse_infer_options(args, fake_env(env));
  EXPECT_FALSE(r.exit_now);
  return r.options;
}

// The message of the usage error that parsing throws; fails the test if none or not exit 2.
std::string usage_error(std::vector<std::string> args, const Env& env = {}) {
  args.insert(args.begin(), "greta_infer");
  try {
    parse_infer_options(args, fake_env(env));
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitUsage) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(InferOptions, Defaults) {
  const InferOptions o = parse({});
  EXPECT_EQ(o.model_path, "models/stories260K.gguf");
  EXPECT_FALSE(o.model_given);
  EXPECT_EQ(o.prompt, "");
  EXPECT_EQ(o.max_tokens, 128);
  EXPECT_TRUE(o.finish_word);  // -n not given: the last word is finished
  EXPECT_FALSE(parse({"-n", "128"}).finish_word);
  EXPECT_GE(o.n_threads, 1);
  EXPECT_LE(o.n_threads, 256);
  EXPECT_EQ(o.seed_source, "random");
  EXPECT_EQ(o.ctx_size, 0);
  EXPECT_EQ(o.sampling.temp, 0.8f);
  EXPECT_EQ(o.sampling.top_k, 40);
  EXPECT_EQ(o.sampling.top_p, 0.95f);
  EXPECT_EQ(o.sampling.min_p, 0.05f);
  EXPECT_EQ(o.dtype, KvDtype::BF16);
  EXPECT_FALSE(o.ignore_eos);
  EXPECT_FALSE(o.kv_aligned);
  EXPECT_EQ(o.kv_aligned_source, "default");
  EXPECT_EQ(o.mode, GenMode::Prefill);
  EXPECT_EQ(o.dump_dir, "");
  EXPECT_FALSE(o.dump_span.has_value());
}

TEST(InferOptions, EveryFlag) {
  const InferOptions o =
      parse({"-m", "x.gguf", "-p", "hi", "-n", "7", "-t", "3", "-s", "42", "-c", "64", "--temp",
             "0", "--top-k", "5", "--top-p", "0.5", "--min-p", "0.1", "--dtype", "f16",
             "--ignore-eos", "--kv-aligned", "1", "--mode", "decode", "--dump-logits", "/tmp/d",
             "--dump-span", "3:4"});
  EXPECT_EQ(o.model_path, "x.gguf");
  EXPECT_TRUE(o.model_given);
  EXPECT_EQ(o.prompt, "hi");
  EXPECT_EQ(o.max_tokens, 7);
  EXPECT_EQ(o.n_threads, 3);
  EXPECT_EQ(o.seed, 42u);
  EXPECT_EQ(o.seed_source, "flag");
  EXPECT_EQ(o.ctx_size, 64);
  EXPECT_EQ(o.sampling.temp, 0.0f);
  EXPECT_EQ(o.sampling.top_k, 5);
  EXPECT_EQ(o.sampling.top_p, 0.5f);
  EXPECT_EQ(o.sampling.min_p, 0.1f);
  EXPECT_EQ(o.dtype, KvDtype::F16);
  EXPECT_TRUE(o.ignore_eos);
  EXPECT_TRUE(o.kv_aligned);
  EXPECT_EQ(o.mode, GenMode::Decode);
  EXPECT_EQ(o.dump_dir, "/tmp/d");
  ASSERT_TRUE(o.dump_span.has_value());
  EXPECT_EQ(o.dump_span->start, 3);
  EXPECT_EQ(o.dump_span->count, 4);
}

TEST(InferOptions, LongFormsAndEqualsSyntax) {
  const InferOptions o = parse({"--seed=18446744073709551615", "--kv-aligned=1", "--mode=decode",
                                "--max-tokens", "0", "--threads=256", "--prompt-file", "p.txt"});
  EXPECT_EQ(o.seed, 18446744073709551615ull);
  EXPECT_TRUE(o.kv_aligned);
  EXPECT_EQ(o.mode, GenMode::Decode);
  EXPECT_EQ(o.max_tokens, 0);
  EXPECT_EQ(o.n_threads, 256);
  EXPECT_EQ(o.prompt_file, "p.txt");
}

TEST(InferOptions, MalformedFlagsNameTheFlagAndTheAcceptedValues) {
  EXPECT_EQ(usage_error({"--kv-aligned", "2"}), "--kv-aligned: expected 0 or 1, got '2'");
  EXPECT_EQ(usage_error({"--kv-aligned", "true"}), "--kv-aligned: expected 0 or 1, got 'true'");
  EXPECT_EQ(usage_error({"--mode", "both"}), "--mode: expected prefill or decode, got 'both'");
  EXPECT_EQ(usage_error({"--dtype", "f8"}), "--dtype: expected f32, f16 or bf16, got 'f8'");
  EXPECT_EQ(usage_error({"--dump-span", "3"}),
            "--dump-span: expected START:COUNT, two decimal integers with START >= 1 and COUNT >= 1, got '3'");
  EXPECT_NE(usage_error({"--dump-span", "0:1"}).find("--dump-span"), std::string::npos);
  EXPECT_NE(usage_error({"--dump-span", "1:0"}).find("--dump-span"), std::string::npos);
  EXPECT_NE(usage_error({"--dump-span", "1:x"}).find("--dump-span"), std::string::npos);
  EXPECT_EQ(usage_error({"-t", "0"}), "--threads: expected an integer in 1..256, got '0'");
  EXPECT_EQ(usage_error({"-t", "10000"}), "--threads: expected an integer in 1..256, got '10000'");
  EXPECT_EQ(usage_error({"-t", "2x"}), "--threads: expected an integer in 1..256, got '2x'");
  EXPECT_EQ(usage_error({"-n", "-2"}), "--max-tokens: expected an integer in -1..1000000, got '-2'");
  EXPECT_EQ(parse({"-n", "-1"}).max_tokens, -1);  // llama.cpp's "no limit"
  EXPECT_EQ(usage_error({"-ngl"}), "-ngl: expected a value");
  EXPECT_EQ(usage_error({"-cnv"}).rfind("-cnv: conversation and interactive modes are not supported", 0), 0u);
  EXPECT_EQ(usage_error({"-c", "-5"}), "--ctx-size: expected an integer in 0..1048576, got '-5'");
  EXPECT_EQ(usage_error({"--seed", "-1"}),
            "--seed: expected an unsigned 64-bit decimal integer (0..18446744073709551615), got '-1'");
  EXPECT_NE(usage_error({"--seed", "18446744073709551616"}).find("--seed: expected"), std::string::npos);
  EXPECT_NE(usage_error({"--seed", "+5"}).find("--seed: expected"), std::string::npos);
  EXPECT_NE(usage_error({"--seed", ""}).find("--seed: expected"), std::string::npos);
  EXPECT_EQ(usage_error({"--temp", "nan"}), "--temp: expected a number in [0, 100], got 'nan'");
  EXPECT_EQ(usage_error({"--temp", "-0.5"}), "--temp: expected a number in [0, 100], got '-0.5'");
  EXPECT_EQ(usage_error({"--top-p", "1.5"}), "--top-p: expected a number in [0, 1], got '1.5'");
  EXPECT_EQ(usage_error({"--min-p", "x"}), "--min-p: expected a number in [0, 1], got 'x'");
  EXPECT_NE(usage_error({"--top-k", "-1"}).find("--top-k: expected an integer"), std::string::npos);
  EXPECT_NE(usage_error({"--no-such-flag"}).find("--no-such-flag"), std::string::npos);
  EXPECT_NE(usage_error({"stray"}).find("stray"), std::string::npos);
  EXPECT_NE(usage_error({"--threads"}).find("--threads"), std::string::npos);
  EXPECT_EQ(usage_error({"--dump-span", "1:2"}), "--dump-span needs --dump-logits DIR");
  EXPECT_EQ(usage_error({"--dump-logits", ""}), "--dump-logits: expected a directory path, got ''");
  EXPECT_EQ(usage_error({"-p", "a", "-f", "b"}),
            "--prompt and --prompt-file are exclusive: give one of them");
}

TEST(InferOptions, MessagesStayOnOneLine) {
  EXPECT_EQ(usage_error({"--mode", "a\nb"}), "--mode: expected prefill or decode, got 'a\\x0Ab'");
  const std::string long_value(500, 'x');
  EXPECT_EQ(usage_error({"--dtype", long_value}),
            "--dtype: expected f32, f16 or bf16, got '" + std::string(80, 'x') + "...'");
  EXPECT_EQ(usage_error({"--bogus\n"}).find('\n'), std::string::npos);
}

TEST(InferOptions, MalformedEnvNamesTheVariable) {
  const std::string seed_msg =
      "GRETA_SEED: expected an unsigned 64-bit decimal integer (0..18446744073709551615), got '";
  EXPECT_EQ(usage_error({}, {{"GRETA_SEED", "-1"}}), seed_msg + "-1'");
  EXPECT_EQ(usage_error({}, {{"GRETA_SEED", "12abc"}}), seed_msg + "12abc'");
  EXPECT_EQ(usage_error({}, {{"GRETA_SEED", "18446744073709551616"}}),
            seed_msg + "18446744073709551616'");
  EXPECT_EQ(usage_error({}, {{"GRETA_SEED", " 5"}}), seed_msg + " 5'");
  EXPECT_EQ(usage_error({}, {{"GRETA_KV_ALIGNED", "2"}}),
            "GRETA_KV_ALIGNED: expected 0 or 1, got '2'");
  EXPECT_EQ(usage_error({}, {{"GRETA_KV_ALIGNED", "yes"}}),
            "GRETA_KV_ALIGNED: expected 0 or 1, got 'yes'");
}

TEST(InferOptions, EnvUsedWhenNoFlag) {
  const InferOptions o = parse({}, {{"GRETA_SEED", "18446744073709551615"}, {"GRETA_KV_ALIGNED", "1"}});
  EXPECT_EQ(o.seed, 18446744073709551615ull);
  EXPECT_EQ(o.seed_source, "env");
  EXPECT_TRUE(o.kv_aligned);
  EXPECT_EQ(o.kv_aligned_source, "env");
}

TEST(InferOptions, FlagWinsOverEnv) {
  const InferOptions o = parse({"--seed", "7", "--kv-aligned", "0"},
                               {{"GRETA_SEED", "9"}, {"GRETA_KV_ALIGNED", "1"}});
  EXPECT_EQ(o.seed, 7u);
  EXPECT_EQ(o.seed_source, "flag");
  EXPECT_FALSE(o.kv_aligned);
  EXPECT_EQ(o.kv_aligned_source, "flag");
  // The overridden variable is not read, so even a malformed one does not matter.
  const InferOptions p = parse({"-s", "7", "--kv-aligned", "1"},
                               {{"GRETA_SEED", "junk"}, {"GRETA_KV_ALIGNED", "junk"}});
  EXPECT_EQ(p.seed, 7u);
  EXPECT_TRUE(p.kv_aligned);
}

TEST(InferOptions, EmptyEnvCountsAsUnset) {
  const InferOptions o = parse({}, {{"GRETA_SEED", ""}, {"GRETA_KV_ALIGNED", ""}});
  EXPECT_EQ(o.seed_source, "random");
  EXPECT_FALSE(o.kv_aligned);
  EXPECT_EQ(o.kv_aligned_source, "default");
}

TEST(InferOptions, HelpAndVersion) {
  ParseResult h = parse_infer_options({"greta_infer", "--help"}, fake_env({}));
  EXPECT_TRUE(h.exit_now);
  for (const char* s : {"--model", "--kv-aligned", "GRETA_KV_ALIGNED", "GRETA_SEED", "--dump-span",
                        "--mode", "--dtype", "--ignore-eos", "--no-display-prompt", "0.95", "bf16"}) {
    EXPECT_NE(h.text.find(s), std::string::npos) << s;
  }
  // --help wins over a malformed value after it, as a user expects.
  EXPECT_TRUE(parse_infer_options({"greta_infer", "-h", "--kv-aligned", "5"}, fake_env({})).exit_now);
  ParseResult v = parse_infer_options({"greta_infer", "--version"}, fake_env({}));
  EXPECT_TRUE(v.exit_now);
  EXPECT_EQ(v.text.rfind("greta_infer ", 0), 0u);
}

TEST(InferOptions, RecordedOptionsCoverTheWholeFlagTable) {
  const nlohmann::json j = infer_options_to_json(parse({"--dump-logits", "d", "--dump-span", "2:3"}));
  std::set<std::string> names;
  for (const std::string& n : infer_option_names()) {
    names.insert(n);
    if (n == "help" || n == "version") continue;
    EXPECT_TRUE(j.contains(n)) << n;
  }
  for (const auto& [k, v] : j.items()) EXPECT_TRUE(names.count(k)) << k;
  EXPECT_EQ(j["temp"].get<double>(), 0.8);
  EXPECT_EQ(j["dump-span"], "2:3");
  EXPECT_EQ(j["kv-aligned"], 0);
}

TEST(InferOptions, ParseDumpSpan) {
  const DumpSpan s = parse_dump_span("1:512");
  EXPECT_EQ(s.start, 1);
  EXPECT_EQ(s.count, 512);
}

}  // namespace
}  // namespace greta

namespace greta {
namespace {

TEST(Utf8, FirstInvalidIsStrict) {
  EXPECT_EQ(utf8_first_invalid(""), std::string::npos);
  EXPECT_EQ(utf8_first_invalid("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), std::string::npos);
  EXPECT_EQ(utf8_first_invalid("ab\xFF"), 2u);
  EXPECT_EQ(utf8_first_invalid("\xC0\x80"), 0u);          // overlong NUL
  EXPECT_EQ(utf8_first_invalid("x\xE0\x80\x80"), 1u);     // overlong 3-byte
  EXPECT_EQ(utf8_first_invalid("\xED\xA0\x80"), 0u);      // surrogate U+D800
  EXPECT_EQ(utf8_first_invalid("\xF4\x90\x80\x80"), 0u);  // U+110000
  EXPECT_EQ(utf8_first_invalid("ok\xE2\x82"), 2u);        // truncated
}

TEST(Utf8, SanitizedReplacesEachInvalidByte) {
  EXPECT_EQ(utf8_sanitized("m\xFF.gguf"), "m\xEF\xBF\xBD.gguf");
  EXPECT_EQ(utf8_sanitized("\xC3\xA9"), "\xC3\xA9");
  EXPECT_EQ(utf8_sanitized("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  const nlohmann::json j = {{"path", utf8_sanitized("a\x80z")}};
  EXPECT_EQ(j.dump(), "{\"path\":\"a\xEF\xBF\xBDz\"}");
}

}  // namespace
}  // namespace greta
