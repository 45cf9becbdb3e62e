// greta_batched: many prompts generated together with continuous batching (like llama.cpp's
// llama-batched / llama-parallel). A thin main() over greta/app/batched.h; docs/CLI.md is the
// manual.

#include <cstdio>
#include <string>
#include <vector>

#include "greta/app/batched.h"
#include "greta/app/dump_metadata.h"
#include "greta/app/tool_cli.h"
#include "greta/core/error.h"
#ifdef GRETA_HAVE_CUDA
#include "greta/cuda/cuda_backend.h"
#endif

int main(int argc, char** argv) {
  return greta::guarded_main("greta_batched", [&] {
    const std::vector<std::string> args(argv, argv + argc);
    const greta::BatchedParse parsed = greta::parse_batched_options(args, greta::process_env());
    if (parsed.exit_now) {
      std::fputs(parsed.text.c_str(), stdout);
      return 0;
    }
    greta::print_notes("greta_batched", parsed.notes);
#ifdef GRETA_HAVE_CUDA
    greta::cuda::register_backend();
#endif
    return greta::run_batched(parsed.options);
  });
}
