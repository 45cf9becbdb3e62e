#include <mutex>
#include <thread>

#include "greta/runtime/session.h"

namespace greta {

namespace {

struct Registry {
  std::mutex mutex;
  std::vector<SessionBackend> backends;
};

Registry& registry() {
  static Registry r;
  static const bool initialized = [] {
    r.backends.push_back(SessionBackend{
        .name = "cpu",
        .create = [](const LoadedModel& model, const SessionOptions& options) -> std::unique_ptr<InferenceSession> {
          return std::make_unique<Session>(model, options);
        },
        .describe = [] { return "cpu (" + std::to_string(std::thread::hardware_concurrency()) + " hardware threads)"; },
    });
    return true;
  }();
  (void)initialized;
  return r;
}

}  // namespace

void register_session_backend(SessionBackend backend) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (auto& b : r.backends) {
    if (b.name == backend.name) {
      b = std::move(backend);
      return;
    }
  }
  r.backends.push_back(std::move(backend));
}

const SessionBackend* find_session_backend(const std::string& name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const auto& b : r.backends) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

std::vector<std::string> session_backend_names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& b : r.backends) names.push_back(b.name);
  return names;
}

}  // namespace greta
