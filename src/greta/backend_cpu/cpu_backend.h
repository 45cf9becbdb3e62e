#pragma once
// The CPU backend: the backend interface (greta/backend/backend.h) over greta's CPU ops
// (greta/ops: scalar references and Highway SIMD kernels) and matmul kernels (greta/cpu), with
// a thread pool. Weights are used in place in the mapped file.

#include <memory>

#include "greta/backend/backend.h"

namespace greta::backend_cpu {

std::unique_ptr<backend::Backend> make_cpu_backend(const backend::BackendOptions& options);

// "AVX3_DL", "AVX2", ...: the SIMD target the matmul kernels dispatched to.
const char* cpu_simd_target();

}  // namespace greta::backend_cpu
