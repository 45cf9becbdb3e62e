#include "greta/runtime/backend_registry.h"

#include <mutex>
#include <thread>

#include "greta/backend_cpu/cpu_backend.h"
#include "greta/core/error.h"

namespace greta {
namespace {

struct Registry {
  std::mutex mutex;
  std::vector<BackendFactory> factories;
};

Registry& registry() {
  static Registry r;
  static const bool initialized = [] {
    r.factories.push_back(BackendFactory{
        .name = "cpu",
        .create = [](const backend::BackendOptions& o) { return backend_cpu::make_cpu_backend(o); },
        .describe =
            [] {
              return std::string("cpu (") + backend_cpu::cpu_simd_target() + ", " +
                     std::to_string(std::thread::hardware_concurrency()) + " hardware threads)";
            },
    });
    return true;
  }();
  (void)initialized;
  return r;
}

}  // namespace

void register_backend(BackendFactory factory) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (auto& f : r.factories) {
    if (f.name == factory.name) {
      f = std::move(factory);
      return;
    }
  }
  r.factories.push_back(std::move(factory));
}

const BackendFactory* find_backend(const std::string& name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const auto& f : r.factories) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::vector<std::string> backend_names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& f : r.factories) names.push_back(f.name);
  return names;
}

std::unique_ptr<backend::Backend> create_backend(const std::string& name, const backend::BackendOptions& options) {
  const BackendFactory* f = find_backend(name);
  if (f == nullptr) {
    std::string have;
    for (const std::string& n : backend_names()) have += (have.empty() ? "" : ", ") + n;
    fail("backend '" + name + "' is not built into this greta (available: " + have +
             "; configure with -DGRETA_CUDA=ON for cuda)",
         kExitUsage);
  }
  return f->create(options);
}

}  // namespace greta
