// greta_infer: text generation with a GGUF model, and the B3.68 equivalence flags
// (--kv-aligned, --mode, --dump-logits, --seed). A thin main() over libgreta: the option model is
// greta/app/infer_options.h, the driver greta/app/generate.h; docs/CLI.md is the manual.

#include <cstdio>
#include <string>
#include <vector>

#include "greta/app/dump_metadata.h"
#include "greta/core/error.h"
#include "greta/app/generate.h"
#include "greta/app/infer_options.h"
#include "greta/app/tool_cli.h"

#ifdef GRETA_HAVE_CUDA
#include "greta/cuda/cuda_backend.h"
#endif
#include "greta/runtime/backend_registry.h"

int main(int argc, char** argv) {
  return greta::guarded_main("greta_infer", [&] {
    const std::vector<std::string> args(argv, argv + argc);
    const greta::ParseResult parsed = greta::parse_infer_options(args, greta::process_env());
    if (parsed.exit_now) {
      std::fputs(parsed.text.c_str(), stdout);
      return 0;
    }
    greta::print_notes("greta_infer", parsed.notes);
#ifdef GRETA_HAVE_CUDA
    greta::cuda::register_backend();
#endif
    // A backend this binary lacks is a usage error, reported before any model is loaded.
    if (greta::find_backend(parsed.options.backend) == nullptr) {
      throw greta::Error("--backend " + parsed.options.backend +
                             ": this greta_infer was built without it (configure with -DGRETA_CUDA=ON for cuda)",
                         greta::kExitUsage);
    }
    return greta::run_generation(parsed.options);
  });
}
