#pragma once
// The one place where CUDA and HIP differ for greta's GPU backend. The kernels and the backend
// are written against the CUDA runtime API; a HIP build (cmake -DGRETA_HIP=ON: GRETA_HIP defined,
// .cu files compiled by hipcc, docs/GPU.md) maps the names below onto HIP. Warp-level code always
// works in logical groups of 32 lanes (the `width` argument of the shuffles; lane = threadIdx.x
// % 32), so the reduction trees -- and therefore the bits -- are the same on a 64-lane AMD
// wavefront as on a 32-lane NVIDIA warp; a logical warp must be converged at a shuffle (the other
// half of its wavefront need not be). A block-wide barrier (__syncthreads) must be reached by
// every thread of the block: kernels keep out-of-range warps running instead of returning early.
// CUDA-only code (mma.sync: matmul_tc.cu) sits under #if !defined(GRETA_HIP).

#if defined(GRETA_HIP)
#include <hip/hip_fp16.h>
#include <hip/hip_runtime.h>
#define cudaDeviceProp hipDeviceProp_t
#define cudaError_t hipError_t
#define cudaSuccess hipSuccess
#define cudaFree hipFree
#define cudaGetDeviceCount hipGetDeviceCount
#define cudaGetDeviceProperties hipGetDeviceProperties
#define cudaGetErrorString hipGetErrorString
#define cudaGetLastError hipGetLastError
#define cudaMalloc hipMalloc
#define cudaMemcpy hipMemcpy
#define cudaMemcpyDeviceToHost hipMemcpyDeviceToHost
#define cudaMemcpyHostToDevice hipMemcpyHostToDevice
#define cudaMemset hipMemset
#define cudaDeviceSynchronize hipDeviceSynchronize
#define cudaRuntimeGetVersion hipRuntimeGetVersion
#define cudaMemcpyAsync hipMemcpyAsync
#define cudaMemcpy2DAsync hipMemcpy2DAsync
#define cudaMemcpyDeviceToDevice hipMemcpyDeviceToDevice
#define cudaMemsetAsync hipMemsetAsync
#define cudaMemGetInfo hipMemGetInfo
#define cudaStreamIsCapturing hipStreamIsCapturing
#define cudaStreamCaptureStatus hipStreamCaptureStatus
#define cudaStreamCaptureStatusNone hipStreamCaptureStatusNone
#define cudaStream_t hipStream_t
#define cudaStreamCreateWithFlags hipStreamCreateWithFlags
#define cudaStreamNonBlocking hipStreamNonBlocking
#define cudaStreamSynchronize hipStreamSynchronize
#define cudaStreamDestroy hipStreamDestroy
#define cudaStreamBeginCapture hipStreamBeginCapture
#define cudaStreamEndCapture hipStreamEndCapture
#define cudaStreamCaptureModeThreadLocal hipStreamCaptureModeThreadLocal
#define cudaGraph_t hipGraph_t
#define cudaGraphExec_t hipGraphExec_t
#define cudaGraphInstantiate(exec, graph, flags) hipGraphInstantiate((exec), (graph), nullptr, nullptr, 0)
#define cudaGraphLaunch hipGraphLaunch
#define cudaGraphDestroy hipGraphDestroy
#define cudaGraphExecDestroy hipGraphExecDestroy
#define cudaEvent_t hipEvent_t
#define cudaEventCreate hipEventCreate
#define cudaEventDestroy hipEventDestroy
#define cudaEventRecord hipEventRecord
#define cudaEventSynchronize hipEventSynchronize
#define cudaEventElapsedTime hipEventElapsedTime
#define cudaDeviceGetAttribute hipDeviceGetAttribute
#define cudaDevAttrMultiProcessorCount hipDeviceAttributeMultiprocessorCount
#define cudaEventQuery hipEventQuery
#define cudaErrorNotReady hipErrorNotReady
#define cudaHostAlloc hipHostMalloc  // pinned host memory; same arguments
#define cudaHostAllocDefault hipHostMallocDefault
#define cudaFreeHost hipHostFree
// Lane i of a logical warp reads lane (i ^ m) or src of the same 32-lane half of the wavefront.
#define GRETA_SHFL_XOR(v, m) __shfl_xor((v), (m), 32)
#define GRETA_SHFL(v, src) __shfl((v), (src), 32)
// __syncwarp: a logical warp's 32 lanes lie in one wavefront, which runs in lockstep and whose
// LDS accesses complete in order, so ordering its shared-memory writes before the other lanes'
// reads takes only wavefront-scope fences around a code-motion barrier -- no s_barrier, so it is
// safe where the rest of the block has left or diverged (older HIP has no __syncwarp).
#if defined(__HIP__)
__device__ __forceinline__ void greta_syncwarp() {
  __builtin_amdgcn_fence(__ATOMIC_RELEASE, "wavefront");
  __builtin_amdgcn_wave_barrier();
  __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "wavefront");
}
#endif
#define GRETA_SYNCWARP() greta_syncwarp()
#else
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#define GRETA_SHFL_XOR(v, m) __shfl_xor_sync(0xffffffffu, (v), (m), 32)
#define GRETA_SHFL(v, src) __shfl_sync(0xffffffffu, (v), (src), 32)
#define GRETA_SYNCWARP() __syncwarp()
#endif
