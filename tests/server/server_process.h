#pragma once
// Starts greta_server on 127.0.0.1 with a free port (--port 0) and --exit-after (it stops by
// itself even if a test dies), reads the URL it prints, and stops it with SIGTERM. Plus small
// HTTP helpers over cpp-httplib's client.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace greta::test {

inline std::string server_binary() { return std::string(GRETA_BIN_DIR) + "/greta_server"; }
inline std::string shipped(const char* name) { return std::string(GRETA_SOURCE_DIR) + "/models/" + name; }

class ServerProcess {
 public:
  // args: after the binary; --port 0, --host 127.0.0.1 and --exit-after are added.
  explicit ServerProcess(std::vector<std::string> args, int exit_after_s = 300) {
    args.insert(args.end(), {"--host", "127.0.0.1", "--port", "0", "--exit-after", std::to_string(exit_after_s)});
    int out[2], err[2];
    if (pipe(out) != 0 || pipe(err) != 0) return;
    std::vector<std::string> argv_s = {server_binary()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(err[1], 2);
      close(out[0]);
      close(out[1]);
      close(err[0]);
      close(err[1]);
      std::vector<char*> argv;
      for (std::string& s : argv_s) argv.push_back(s.data());
      argv.push_back(nullptr);
      unsetenv("GRETA_KV_ALIGNED");
      execv(argv[0], argv.data());
      _exit(126);
    }
    close(out[1]);
    close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
    fcntl(err_fd_, F_SETFL, O_NONBLOCK);
    // The URL line, within 60 s.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::string line;
    while (std::chrono::steady_clock::now() < deadline && line.find('\n') == std::string::npos) {
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) {
        drain_err();
        continue;
      }
      char buf[256];
      const ssize_t n = read(out_fd_, buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    drain_err();
    const size_t at = line.find("http://127.0.0.1:");
    if (at != std::string::npos) port_ = std::stoi(line.substr(at + 17));
  }
  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool ready() const { return port_ > 0; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& err() {
    drain_err();
    return err_;
  }

  // SIGTERM, then the exit status (or -1 for killed / timeout: SIGKILL after timeout_s).
  int stop(int timeout_s = 30) {
    if (pid_ <= 0) return exit_code_;
    kill(pid_, SIGTERM);
    return wait_exit(timeout_s);
  }
  int wait_exit(int timeout_s) {
    if (pid_ <= 0) return exit_code_;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    int status = 0;
    for (;;) {
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        status = -1;
        break;
      }
      drain_err();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    drain_err();
    exit_code_ = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pid_ = -1;
    close(out_fd_);
    close(err_fd_);
    return exit_code_;
  }

  httplib::Client client(int read_timeout_s = 60) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(read_timeout_s, 0);
    c.set_connection_timeout(10, 0);
    return c;
  }

 private:
  void drain_err() {
    char buf[4096];
    for (;;) {
      const ssize_t n = read(err_fd_, buf, sizeof buf);
      if (n <= 0) break;
      err_.append(buf, static_cast<size_t>(n));
    }
  }
  pid_t pid_ = -1;
  int port_ = 0;
  int out_fd_ = -1, err_fd_ = -1;
  int exit_code_ = -1;
  std::string err_;
};

struct Reply {
  int status = 0;  // 0: no response
  std::string body;
  httplib::Headers headers;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

inline Reply post(const ServerProcess& s, const std::string& path, const std::string& body, const httplib::Headers& h = {}) {
  httplib::Client c = s.client();
  auto res = c.Post(path.c_str(), h, body, "application/json");
  if (!res) return {};
  return {res->status, res->body, res->headers};
}

inline Reply get(const ServerProcess& s, const std::string& path, const httplib::Headers& h = {}) {
  httplib::Client c = s.client();
  auto res = c.Get(path.c_str(), h);
  if (!res) return {};
  return {res->status, res->body, res->headers};
}

// The value of a Prometheus sample line "name value" (-1 if absent).
inline double metric(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

// Data payloads of an SSE body, in order ("[DONE]" included).
inline std::vector<std::string> sse_payloads(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    out.push_back(body.substr(pos + 6, (end == std::string::npos ? body.size() : end) - pos - 6));
    pos = end == std::string::npos ? body.size() : end + 2;
  }
  return out;
}

}  // namespace greta::test
