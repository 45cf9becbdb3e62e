#pragma once
// Helpers for the hardening tests (issue 6): an independent GGUF section walker (so truncation
// points do not come from the parser under test), a metadata/tensor rewriter built on GgufWriter,
// and a process runner that can drop root, cap the address space and report peak memory.

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "greta/gguf/gguf_file.h"
#include "greta/gguf/gguf_writer.h"

namespace greta::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const uint8_t* data, size_t n) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n));
  if (!f) throw std::runtime_error("cannot write " + path);
}

// One truncation point of a GGUF file: the byte offset where a section or field ends.
struct Boundary {
  uint64_t offset;
  std::string what;  // "after key 3 length", "data of tensor 'x' (middle)", ...
};

// Walks a well-formed GGUF image with its own code and returns every section/field boundary:
// header fields, each key's length/bytes/type/value, each tensor info's fields, the start of the
// data section and the start, middle and last byte of each tensor's data.
inline std::vector<Boundary> gguf_boundaries(const std::vector<uint8_t>& d) {
  std::vector<Boundary> out;
  uint64_t p = 0;
  auto u32 = [&]() { uint32_t v; std::memcpy(&v, &d.at(p + 3) - 3, 4); p += 4; return v; };
  auto u64 = [&]() { uint64_t v; std::memcpy(&v, &d.at(p + 7) - 7, 8); p += 8; return v; };
  auto mark = [&](std::string w) { out.push_back({p, std::move(w)}); };
  auto skip_string = [&]() { const uint64_t n = u64(); p += n; };
  const auto scalar_size = [](uint32_t t) -> uint64_t {
    switch (t) {
      case 0: case 1: case 7: return 1;
      case 2: case 3: return 2;
      case 4: case 5: case 6: return 4;
      case 10: case 11: case 12: return 8;
      default: return 0;
    }
  };
  std::function<void(uint32_t)> skip_value = [&](uint32_t t) {
    if (t == 8) {
      skip_string();
    } else if (t == 9) {
      const uint32_t et = u32();
      const uint64_t n = u64();
      if (et == 8 || et == 9) {
        for (uint64_t i = 0; i < n; ++i) skip_value(et);
      } else {
        p += n * scalar_size(et);
      }
    } else {
      p += scalar_size(t);
    }
  };
  u32(); mark("after magic");
  u32(); mark("after version");
  const uint64_t n_tensors = u64(); mark("after tensor count");
  const uint64_t n_kv = u64(); mark("after metadata count");
  uint64_t alignment = 32;
  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string ks = "key " + std::to_string(k);
    const uint64_t len = u64(); mark("after " + ks + " length");
    const std::string key(reinterpret_cast<const char*>(&d.at(p)), len);
    p += len; mark("after " + ks + " ('" + key + "') bytes");
    const uint32_t t = u32(); mark("after '" + key + "' type");
    if (t == 9) {
      const uint64_t at = p;
      u32(); mark("after '" + key + "' array element type");
      u64(); mark("after '" + key + "' array length");
      p = at;
    }
    const uint64_t vstart = p;
    skip_value(t);
    if (p - vstart > 2) out.push_back({vstart + (p - vstart) / 2, "middle of '" + key + "' value"});
    mark("after '" + key + "' value");
    if (key == "general.alignment") {
      uint32_t a; std::memcpy(&a, &d.at(vstart), 4); alignment = a;
    }
  }
  struct T { std::string name; uint64_t offset, n_bytes; };
  std::vector<T> tensors;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const uint64_t len = u64(); mark("after tensor " + std::to_string(i) + " name length");
    const std::string name(reinterpret_cast<const char*>(&d.at(p)), len);
    p += len; mark("after tensor '" + name + "' name");
    const uint32_t nd = u32(); mark("after tensor '" + name + "' n_dims");
    for (uint32_t k = 0; k < nd; ++k) u64();
    mark("after tensor '" + name + "' dims");
    u32(); mark("after tensor '" + name + "' type");
    const uint64_t off = u64(); mark("after tensor '" + name + "' offset");
    tensors.push_back({name, off, 0});
  }
  const uint64_t data_start = (p + alignment - 1) / alignment * alignment;
  out.push_back({data_start, "start of the data section"});
  for (size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t start = data_start + tensors[i].offset;
    const uint64_t end = i + 1 < tensors.size() ? data_start + tensors[i + 1].offset : d.size();
    out.push_back({start, "start of tensor '" + tensors[i].name + "' data"});
    out.push_back({start + (end - start) / 2, "middle of tensor '" + tensors[i].name + "' data"});
  }
  out.push_back({d.size() - 1, "one byte before the end"});
  return out;
}

// Copies a GGUF file through GgufWriter, letting the caller change metadata and tensors.
struct GgufEdit {
  // Return false to drop the key; otherwise write it (possibly replaced) into w.
  std::function<bool(const gguf::KeyValue& kv, gguf::GgufWriter& w)> on_kv;
  // Return false to drop the tensor; may add a different one instead.
  std::function<bool(const gguf::TensorInfo& t, gguf::GgufWriter& w)> on_tensor;
  std::function<void(gguf::GgufWriter& w)> extra;
};

inline void rewrite_gguf(const gguf::GgufFile& src, const GgufEdit& edit, const std::string& out_path) {
  gguf::GgufWriter w;
  for (const auto& kv : src.metadata()) {
    if (kv.key == "general.alignment") continue;
    if (edit.on_kv && !edit.on_kv(kv, w)) continue;
    w.add_value(kv.key, kv.value);
  }
  for (const auto& t : src.tensors()) {
    if (edit.on_tensor && !edit.on_tensor(t, w)) continue;
    w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims), t.data);
  }
  if (edit.extra) edit.extra(w);
  w.write_file(out_path);
}

struct ProcResult {
  int exit_code = -1;   // -1 when killed by a signal
  int term_signal = 0;
  long max_rss_kb = 0;  // peak resident set of the child (ru_maxrss)
  std::string err;      // stderr
  std::string out;      // stdout
};

struct ProcOptions {
  bool drop_root = false;     // run as 'nobody' when we are root (permission tests)
  long as_limit_bytes = -1;   // RLIMIT_AS, -1: inherit
};

// Runs `fn` in a forked child (its return value is the exit status) or, with argv, execs a binary.
// stdout and stderr are captured through temporary files so large outputs cannot block.
inline ProcResult run_process(const std::vector<std::string>& argv, const ProcOptions& opt,
                              const std::function<int()>& fn = nullptr) {
  char out_tmpl[] = "/tmp/greta_hardening_outXXXXXX";
  char err_tmpl[] = "/tmp/greta_hardening_errXXXXXX";
  const int out_fd = mkstemp(out_tmpl);
  const int err_fd = mkstemp(err_tmpl);
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    if (opt.drop_root && geteuid() == 0) {
      const passwd* pw = getpwnam("nobody");
      const uid_t uid = pw != nullptr ? pw->pw_uid : 65534;
      const gid_t gid = pw != nullptr ? pw->pw_gid : 65534;
      if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(124);
    }
    if (opt.as_limit_bytes >= 0) {
      const rlimit lim{static_cast<rlim_t>(opt.as_limit_bytes), static_cast<rlim_t>(opt.as_limit_bytes)};
      setrlimit(RLIMIT_AS, &lim);
    }
    if (fn) _exit(fn());
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(126);
  }
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  ProcResult r;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.term_signal = WTERMSIG(status);
  r.max_rss_kb = ru.ru_maxrss;
  auto slurp = [](int fd) {
    std::string s;
    lseek(fd, 0, SEEK_SET);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
    close(fd);
    return s;
  };
  r.out = slurp(out_fd);
  r.err = slurp(err_fd);
  unlink(out_tmpl);
  unlink(err_tmpl);
  return r;
}

// Number of lines of s (a trailing newline does not start a new line).
inline int count_lines(const std::string& s) {
  int n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' || i + 1 == s.size()) ++n;
  }
  return n;
}

}  // namespace greta::test
