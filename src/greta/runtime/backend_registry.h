#pragma once
// Backends by name. "cpu" is always there; a GPU backend registers itself when it is linked in
// (the CLIs call cuda::register_backend() in CUDA builds).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "greta/backend/backend.h"

namespace greta {

struct BackendFactory {
  std::string name;
  std::function<std::unique_ptr<backend::Backend>(const backend::BackendOptions&)> create;
  std::function<std::string()> describe;  // the device, without creating a backend
};

void register_backend(BackendFactory factory);
const BackendFactory* find_backend(const std::string& name);  // nullptr if not built in
std::vector<std::string> backend_names();
// Throws greta::Error (usage) naming the backends this build has when `name` is not one.
std::unique_ptr<backend::Backend> create_backend(const std::string& name, const backend::BackendOptions& options);

}  // namespace greta
