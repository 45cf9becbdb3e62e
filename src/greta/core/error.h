#pragma once
// Errors in greta.
//
// Bad user input (a file, a flag, an env var, GGUF content, a dump) is reported by throwing
// greta::Error: a message that says what was wrong and what was expected, plus the exit status
// the CLI should use. Library code adds context as the error travels up
// ("loading tensor 'blk.3.attn_q.weight': ..."), like candle's `.context()`. CLIs catch it at
// main(), print one line "greta_xxx: error: <message>" to stderr and exit with exit_code().
//
// Broken internal invariants are not user errors: GRETA_ASSERT reports file:line and aborts,
// in every build type.

#include <cstdint>
#include <stdexcept>
#include <string>

namespace greta {

class Error : public std::runtime_error {
 public:
  explicit Error(std::string message, int exit_code = 1)
      : std::runtime_error(std::move(message)), exit_code_(exit_code) {}
  int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

// Exit statuses shared by every CLI.
inline constexpr int kExitFailure = 1;     // runtime failure (model, file, I/O)
inline constexpr int kExitUsage = 2;       // malformed flag / env var, invalid analyzer input
inline constexpr int kExitInterrupted = 130;

// Throws greta::Error(message).
[[noreturn]] void fail(const std::string& message, int exit_code = kExitFailure);

// Rethrows the current greta::Error with "context: " prepended, keeping its exit code.
// Usage: try { ... } catch (const Error& e) { rethrow_with_context(e, "loading 'x'"); }
[[noreturn]] void rethrow_with_context(const Error& e, const std::string& context);

[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const char* msg);

}  // namespace greta

#define GRETA_ASSERT(cond)                                                   \
  do {                                                                       \
    if (!(cond)) ::greta::assert_fail(#cond, __FILE__, __LINE__, nullptr);   \
  } while (0)
#define GRETA_ASSERT_MSG(cond, msg)                                          \
  do {                                                                       \
    if (!(cond)) ::greta::assert_fail(#cond, __FILE__, __LINE__, (msg));     \
  } while (0)
