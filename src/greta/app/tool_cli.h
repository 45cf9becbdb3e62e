#pragma once
// What every greta command-line tool shares: the --version line, and llama.cpp's habits (flags
// people type from llama.cpp's tools) turned into greta's flags, accepted with a note, or
// rejected with a message naming the flag, before CLI11 sees them (CLI11 would split `-ngl 99`
// into `-n gl` and `99`). docs/CLI.md, "llama.cpp flags", is the table users read.

#include <functional>
#include <string>
#include <vector>

namespace greta {

// "<tool> VERSION (BRANCH@COMMIT)\n": the one --version format of every tool.
std::string version_text(const std::string& tool);

enum class HabitTool { Infer, Batched, Bench };

struct Habits {
  std::vector<std::string> args;   // argv for CLI11, llama.cpp's flags translated or removed
  std::vector<std::string> notes;  // one line each, without the "<tool>: note: " prefix
};

// Whether an argument ("-p", "--prompt") is an option of the tool that takes a value.
using TakesValue = std::function<bool(const std::string& arg)>;

// TakesValue of a CLI11 flag table (a template, so this header does not pull CLI11 in).
template <class App>
TakesValue option_takes_value(const App& app) {
  return [&app](const std::string& arg) {
    if (arg.size() < 2 || arg[0] != '-' || arg.find('=') != std::string::npos) return false;
    for (const auto* opt : app.get_options()) {
      if (opt->get_type_size() == 0) continue;  // a flag
      for (const std::string& n : arg[1] == '-' ? opt->get_lnames() : opt->get_snames()) {
        if (arg == (arg[1] == '-' ? "--" : "-") + n) return true;
      }
    }
    return false;
  };
}

// Translates llama.cpp's flags in args (args[0] is the program). `takes_value` says which of the
// tool's options take a value, never taken for a flag. Scanning stops at "--". Throws
// greta::Error(kExitUsage) "<flag>: ..." for a llama.cpp flag the tool does not support.
//   -ngl N, --n-gpu-layers N, --gpu-layers N   N > 0: --backend cuda in GPU builds (an explicit
//                                              --backend wins); a note and the CPU otherwise.
//                                              N = 0: the CPU.
//   -fa [on|off|auto|0|1], --flash-attn ...    accepted and ignored, with a note.
//   --n-predict N, --predict N                 --max-tokens N (greta_infer, greta_batched).
//   -cnv, -i, -if, -ctk, -ctv, -np, ...        rejected: "<flag>: not supported ...".
Habits llama_habits(const std::vector<std::string>& args, HabitTool tool, const TakesValue& takes_value);

// Prints each note as "<tool>: note: <note>" on stderr.
void print_notes(const char* tool, const std::vector<std::string>& notes);

}  // namespace greta
