#include "greta/core/error.h"

#include <cstdio>
#include <cstdlib>

namespace greta {

void fail(const std::string& message, int exit_code) { throw Error(message, exit_code); }

void rethrow_with_context(const Error& e, const std::string& context) {
  throw Error(context + ": " + e.what(), e.exit_code());
}

void assert_fail(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "greta: internal error: %s:%d: assertion '%s' failed%s%s\n", file, line, expr,
               msg ? ": " : "", msg ? msg : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace greta
