#include "greta/app/tool_cli.h"

#include <cstdint>
#include <cstdio>
#include <set>

#include "greta/core/build_info.h"
#include "greta/core/error.h"

namespace greta {

// greta/app/infer_options.h's strict integer parser (declared here: that header is heavy).
int64_t parse_int_value(const std::string& text, const std::string& what, int64_t lo, int64_t hi);

std::string version_text(const std::string& tool) {
  return tool + " " + build::kVersion + " (" + build::kGitBranch + "@" + build::kGitCommit + ")\n";
}

void print_notes(const char* tool, const std::vector<std::string>& notes) {
  for (const std::string& n : notes) std::fprintf(stderr, "%s: note: %s\n", tool, n.c_str());
}

namespace {

const char* tool_name(HabitTool t) {
  switch (t) {
    case HabitTool::Infer: return "greta_infer";
    case HabitTool::Batched: return "greta_batched";
    case HabitTool::Bench: return "greta_bench";
  }
  return "greta";
}

// llama.cpp's multi-letter short flags (CLI11 would read `-ctk` as `-c tk`) and the long ones
// greta does not have, that a user of these tools is likely to type. Value: a hint, or "".
const std::vector<std::pair<std::string, std::string>>& unsupported_flags() {
  static const std::vector<std::pair<std::string, std::string>> k = {
      {"-ctk", "greta has one KV-cache type for K and V: --dtype f32|f16|bf16"},
      {"--cache-type-k", "greta has one KV-cache type for K and V: --dtype f32|f16|bf16"},
      {"-ctv", "greta has one KV-cache type for K and V: --dtype f32|f16|bf16"},
      {"--cache-type-v", "greta has one KV-cache type for K and V: --dtype f32|f16|bf16"},
      {"-ub", "greta chooses its own batch sizes"},
      {"--ubatch-size", "greta chooses its own batch sizes"},
      {"-tb", "one thread count is used for prompt and generation: -t N"},
      {"--threads-batch", "one thread count is used for prompt and generation: -t N"},
      {"-sm", "greta runs on one device"},
      {"--split-mode", "greta runs on one device"},
      {"-mg", "greta runs on one device"},
      {"--main-gpu", "greta runs on one device"},
      {"-ts", "greta runs on one device"},
      {"--tensor-split", "greta runs on one device"},
      {"-dev", "greta runs on one device: --backend cpu|cuda"},
      {"--device", "greta runs on one device: --backend cpu|cuda"},
      {"-nkvo", ""}, {"--no-kv-offload", ""}, {"-ot", ""}, {"--override-tensor", ""},
      {"-cmoe", ""}, {"-ncmoe", ""}, {"-hf", "greta downloads nothing: pass a GGUF file with -m"},
      {"-hfr", "greta downloads nothing: pass a GGUF file with -m"},
      {"-mu", "greta downloads nothing: pass a GGUF file with -m"},
      {"--model-url", "greta downloads nothing: pass a GGUF file with -m"},
      {"-lcs", ""}, {"-lcd", ""}, {"-co", ""}, {"-dt", ""}, {"-ps", ""}, {"-ns", ""}, {"-sp", ""},
      {"-td", ""}, {"-cd", ""}, {"-md", ""}, {"-ngld", ""}, {"-devd", ""}, {"-ctkd", ""}, {"-ctvd", ""},
      {"-dkvc", ""}, {"-kvu", ""}, {"-nocb", ""}, {"-lv", ""}, {"-cb", ""}, {"-gan", ""}, {"-gaw", ""},
      {"-dio", ""}, {"-pg", ""}, {"-oe", ""}, {"-mmp", ""}, {"-embd", ""}, {"-nopo", ""}, {"-rea", ""},
  };
  return k;
}

bool is_fa_value(const std::string& v) {
  static const std::set<std::string> k = {"on", "off", "auto", "0", "1", "true", "false"};
  if (k.count(v)) return true;
  // llama-bench sweeps lists: -fa 0,1
  if (v.empty() || v.find_first_not_of("01,") != std::string::npos) return false;
  return true;
}

// -ngl's value: a non-negative layer count (llama-bench: a comma-separated list of them), or
// llama.cpp's "all" / "auto" (every layer). Returns whether any layer is offloaded.
bool parse_ngl(const std::string& flag, const std::string& v, bool list) {
  if (v == "all" || v == "auto") return true;
  bool any = false, none = false;
  size_t pos = 0;
  while (true) {
    const size_t comma = list ? v.find(',', pos) : std::string::npos;
    const std::string item = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const int64_t n = parse_int_value(item, flag, 0, 1 << 30);
    (n > 0 ? any : none) = true;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (any && none) {
    fail(flag + " " + v + ": a sweep over CPU and GPU is not supported: run once per backend (--backend)",
         kExitUsage);
  }
  return any;
}

}  // namespace

Habits llama_habits(const std::vector<std::string>& args, HabitTool tool, const TakesValue& takes_value) {
  const std::string name = tool_name(tool);
  Habits h;
  std::vector<std::string> front;  // inserted right after the program name: explicit flags win
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i == 0 || a.size() < 2 || a[0] != '-') {
      h.args.push_back(a);
      continue;
    }
    if (a == "--") {  // everything after it is positional
      h.args.insert(h.args.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    const size_t eq = a.find('=');
    const std::string flag = a.substr(0, eq);
    const bool has_inline = eq != std::string::npos;
    // The flag's value: inline (--flag=V) or the next argument.
    const auto value = [&]() -> std::string {
      if (has_inline) return a.substr(eq + 1);
      if (i + 1 >= args.size()) fail(flag + ": expected a value", kExitUsage);
      return args[++i];
    };
    if (flag == "-ngl" || flag == "--n-gpu-layers" || flag == "--gpu-layers") {
      const std::string v = value();
      const bool gpu = parse_ngl(flag, v, tool == HabitTool::Bench);
#ifdef GRETA_HAVE_CUDA
      front.insert(front.end(), {"--backend", gpu ? "cuda" : "cpu"});
#else
      if (gpu) {
        h.notes.push_back(flag + " " + v + ": this " + name +
                          " has no GPU backend (configure with -DGRETA_CUDA=ON); running on the CPU");
      }
#endif
      continue;
    }
    if (flag == "-fa" || flag == "--flash-attn") {
      if (has_inline) {
        (void)value();
      } else if (i + 1 < args.size() && is_fa_value(args[i + 1])) {
        ++i;
      }
      h.notes.push_back(flag + ": ignored: greta has one attention kernel per backend, always used");
      continue;
    }
    if (tool != HabitTool::Bench && (flag == "--n-predict" || flag == "--predict")) {
      h.args.push_back("--max-tokens");
      h.args.push_back(value());
      continue;
    }
    if (flag == "-np" || flag == "--parallel") {
      if (tool == HabitTool::Infer) {
        fail(flag + ": greta_infer runs one sequence; greta_batched --parallel P runs many", kExitUsage);
      }
      if (tool == HabitTool::Batched && flag == "-np") {
        h.args.push_back("--parallel");
        h.args.push_back(value());
        continue;
      }
    }
    if (tool != HabitTool::Bench &&
        (flag == "-cnv" || flag == "--conversation" || flag == "-i" || flag == "--interactive" || flag == "-if" ||
         flag == "--interactive-first" || flag == "-sys" || flag == "--system-prompt" || flag == "-st" ||
         flag == "--single-turn" || flag == "-mli" || flag == "--multiline-input")) {
      fail(flag + ": conversation and interactive modes are not supported; " + name +
               " generates once from " + (tool == HabitTool::Infer ? "-p/-f" : "the prompt file") +
               " (greta_server serves chat: docs/SERVER.md)",
           kExitUsage);
    }
    for (const auto& [f, hint] : unsupported_flags()) {
      if (flag == f) {
        fail(flag + ": llama.cpp's flag is not supported by " + name + (hint.empty() ? "" : "; " + hint) +
                 " (see --help)",
             kExitUsage);
      }
    }
    h.args.push_back(a);
    if (!has_inline && takes_value(a) && i + 1 < args.size()) h.args.push_back(args[++i]);
  }
  if (!h.args.empty()) h.args.insert(h.args.begin() + 1, front.begin(), front.end());
  return h;
}

}  // namespace greta
