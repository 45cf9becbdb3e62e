#pragma once
// Runs a built CLI as a user would (fork/exec, own environment, pipes) and collects its exit
// status, stdout and stderr. Optionally sends a signal once the first stdout bytes arrived.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace greta::test {

struct CliResult {
  int exit_code = -1;    // WEXITSTATUS, or -1 if killed by a signal
  int term_signal = 0;   // the signal that killed it, 0 if it exited
  bool timed_out = false;
  std::string out;
  std::string err;
};

struct CliRun {
  std::vector<std::string> args;                               // without the program
  std::map<std::string, std::optional<std::string>> env;       // nullopt: unset
  std::string cwd;                                             // empty: inherit
  int signal_after_output = 0;                                 // e.g. SIGINT
  int timeout_s = 120;
  long fsize_limit = -1;                                       // RLIMIT_FSIZE bytes, -1: inherit
};

inline CliResult run_cli(const std::string& binary, const CliRun& run) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) return {};
  // Environment: the caller's, minus greta's variables (tests state them explicitly), plus run.env.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    if (key == "GRETA_SEED" || key == "GRETA_KV_ALIGNED" || run.env.count(key)) continue;
    env_strings.push_back(kv);
  }
  for (const auto& [k, v] : run.env) {
    if (v) env_strings.push_back(k + "=" + *v);
  }
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = {binary};
  argv_strings.insert(argv_strings.end(), run.args.begin(), run.args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    close(out_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[0]);
    close(err_pipe[1]);
    if (!run.cwd.empty() && chdir(run.cwd.c_str()) != 0) _exit(125);
    if (run.fsize_limit >= 0) {
      const rlimit lim{static_cast<rlim_t>(run.fsize_limit), static_cast<rlim_t>(run.fsize_limit)};
      setrlimit(RLIMIT_FSIZE, &lim);
    }
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(126);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  CliResult r;
  bool signalled = false;
  const auto t0 = std::chrono::steady_clock::now();
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, 200) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
    if (run.signal_after_output != 0 && !signalled && !r.out.empty()) {
      kill(pid, run.signal_after_output);
      signalled = true;
    }
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(run.timeout_s)) {
      kill(pid, SIGKILL);
      r.timed_out = true;
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.term_signal = WTERMSIG(status);
  return r;
}

}  // namespace greta::test
