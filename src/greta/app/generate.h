#pragma once
// greta_infer's generation driver: prompt -> prefill/decode per --mode -> sampling loop, text
// streamed to stdout, logits dumped for the token span, timings on stderr, clean stop on
// SIGINT/SIGTERM. docs/CLI.md describes the behaviour a user sees.
//
// PRECONDITIONS: options come from parse_infer_options (already validated).

#include <cstdio>
#include <string>

#include "greta/app/infer_options.h"

namespace greta {

struct GenerateStreams {
  std::FILE* out = stdout;  // generated text, flushed per token
  std::FILE* err = stderr;  // notes and the timing summary
};

// Runs one greta_infer invocation and returns its exit status: 0, or 128 + signal number when
// SIGINT/SIGTERM stopped it (the partial dump is discarded). Throws greta::Error on bad input
// (exit 1 for files/model/context problems, 2 for a --dump-span outside the run).
int run_generation(const InferOptions& options, const GenerateStreams& streams = {});

// Installs SIGINT/SIGTERM handlers that request a stop at the next token boundary (a second
// signal terminates at once). Returns the signal received so far, 0 if none.
void install_stop_signal_handlers();
int stop_signal_received();

}  // namespace greta
