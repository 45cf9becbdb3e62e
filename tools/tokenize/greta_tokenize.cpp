// greta_tokenize: text -> token ids with a GGUF model's tokenizer.
//
//   greta_tokenize -m MODEL -p TEXT | -f FILE [--no-special] [--parse-special] [--pieces]
//   greta_tokenize -m MODEL --cases FILE.inp     (llama.cpp test-tokenizer-0 .out format)

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "greta/app/dump_metadata.h"
#include "greta/app/infer_options.h"
#include "greta/app/tool_cli.h"
#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/tokenizer/tokenizer.h"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) greta::fail("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) greta::fail("cannot read '" + path + "'");
  return ss.str();
}

// Cases separated by "\n__ggml_vocab_test__\n"; text after the last separator is one more case.
std::vector<std::string> split_cases(const std::string& s) {
  static const std::string kSep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t pos = 0;
  while (true) {
    const size_t next = s.find(kSep, pos);
    if (next == std::string::npos) break;
    cases.push_back(s.substr(pos, next - pos));
    pos = next + kSep.size();
  }
  if (pos < s.size()) cases.push_back(s.substr(pos));
  return cases;
}

// A piece printed on one line: printable bytes as is, others as \xNN.
std::string escape_piece(const std::string& p) {
  std::string out;
  for (unsigned char c : p) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"greta_tokenize: tokenize text with a GGUF model's tokenizer", "greta_tokenize"};
  std::string model, prompt, file, cases;
  bool no_special = false, parse_special = false, pieces = false;
  app.add_option("-m,--model", model, "GGUF model or vocab file")->required();
  auto* p_opt = app.add_option("-p,--prompt", prompt, "text to tokenize");
  auto* f_opt = app.add_option("-f,--file", file, "file whose bytes are tokenized");
  auto* c_opt = app.add_option("--cases", cases, "llama.cpp .inp test vectors; prints the .out format");
  p_opt->excludes(f_opt)->excludes(c_opt);
  f_opt->excludes(c_opt);
  app.add_flag("--no-special", no_special, "add no BOS/EOS tokens");
  app.add_flag("--parse-special", parse_special, "parse special-token text (e.g. <s>) into special tokens");
  app.add_flag("--pieces", pieces, "also print each token's text, one token per line");
  app.set_version_flag("--version", greta::version_text("greta_tokenize"), "print the version and exit");
  if (std::optional<std::string> text =
          greta::cli_parse(app, std::vector<std::string>(argv, argv + argc), "greta_tokenize")) {
    std::fputs(text->c_str(), stdout);
    return 0;
  }

  {
    if (p_opt->count() + f_opt->count() + c_opt->count() == 0) {
      throw greta::Error("one of -p TEXT, -f FILE or --cases FILE.inp is required", greta::kExitUsage);
    }
    auto gguf = greta::gguf::GgufFile::open(model);
    auto tok = greta::Tokenizer::from_gguf(*gguf);
    std::string out;
    if (c_opt->count()) {
      for (const std::string& c : split_cases(read_file(cases))) {
        for (greta::TokenId id : tok->encode(c, /*add_special=*/false, /*parse_special=*/false)) {
          out += ' ';
          out += std::to_string(id);
        }
        out += '\n';
      }
    } else {
      const std::string text = f_opt->count() ? read_file(file) : prompt;
      const auto ids = tok->encode(text, !no_special, parse_special);
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ' ';
        out += std::to_string(ids[i]);
      }
      out += '\n';
      if (pieces) {
        for (greta::TokenId id : ids) {
          out += std::to_string(id) + "\t'" + escape_piece(tok->token_to_piece(id, true)) + "'\n";
        }
      }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    if (std::fflush(stdout) != 0) greta::fail("writing the token ids to stdout failed");
    return 0;
  }
}

int main(int argc, char** argv) {
  return greta::guarded_main("greta_tokenize", [&] { return run(argc, argv); });
}
