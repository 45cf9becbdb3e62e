# The GPU backend built for AMD GPUs with HIP (-DGRETA_HIP=ON), from the CUDA sources of
# src/greta/cuda (docs/GPU.md). gpu_compat.h maps the CUDA names onto HIP; this file only wires
# the build. The target keeps the name greta_cuda (and GRETA_HAVE_CUDA), so the CLIs, test_cuda
# and `--backend cuda` are the same in both builds.
#
# The .cu files are compiled by hipcc (ROCm's, or Debian's: apt package hipcc) through custom
# commands rather than CMake's HIP language: CMake before 3.28 looks for ROCm's hip-lang package
# only under <root>/lib/cmake, which Debian's multiarch layout (/usr/lib/x86_64-linux-gnu/cmake)
# does not match, and this way the host code (cuda_backend.cpp, every other library) keeps the
# project's C++ compiler. The objects are ordinary host objects with the device code embedded;
# linking them needs only libamdhip64.
#
#   GRETA_HIP_ARCHS      offload architectures (--offload-arch), default gfx942 (MI300X/MI325X);
#                        gfx90a is MI200 (MI210/MI250X). Debian 12's hipcc (HIP 5.2, clang 15)
#                        knows gfx90a and gfx940 but not gfx942: scripts/hip_check.sh builds
#                        gfx90a with it and compiles the device code for gfx942 with clang-19.
#   GRETA_HIP_COMPILER   hipcc (searched in $ROCM_PATH/bin, /opt/rocm/bin, then PATH).
#   ROCM_PATH            (environment) where ROCm is, when not /opt/rocm or /usr.

if(GRETA_CUDA)
  message(FATAL_ERROR "GRETA_CUDA and GRETA_HIP build the same target (greta_cuda): choose one")
endif()

set(GRETA_HIP_ARCHS "gfx942" CACHE STRING "AMD GPU architectures of greta_cuda under HIP (--offload-arch), e.g. gfx942 (MI300X) or gfx90a (MI250X)")
set(_greta_rocm_hints $ENV{ROCM_PATH} /opt/rocm)
find_program(GRETA_HIP_COMPILER NAMES hipcc HINTS ${_greta_rocm_hints} PATH_SUFFIXES bin REQUIRED)
find_path(GRETA_HIP_INCLUDE_DIR hip/hip_runtime.h HINTS ${_greta_rocm_hints} PATH_SUFFIXES include REQUIRED)
find_library(GRETA_HIP_LIBRARY amdhip64 HINTS ${_greta_rocm_hints} PATH_SUFFIXES lib lib64 REQUIRED)
message(STATUS "greta: HIP backend with ${GRETA_HIP_COMPILER} for ${GRETA_HIP_ARCHS} (${GRETA_HIP_LIBRARY})")

# The device flags match the CUDA build's numerics: -ffp-contract=off is nvcc's -fmad=false (no
# a*b+c ever contracted behind our back; clang's HIP default would fuse), no fast math; division
# and sqrtf stay correctly rounded (clang's HIP default, nvcc's -prec-div/-prec-sqrt) and f32
# denormals are kept (the default for gfx90a/gfx94x). C++17 like the CUDA build.
# -Wno-unused-result: HIP marks hipError_t [[nodiscard]]; the sources ignore a result where they
# mean to (clearing a non-sticky error). -Wno-pass-failed: `#pragma unroll N` over a runtime trip
# count is a hint the AMD optimizer may decline.
set(GRETA_HIP_DEVICE_FLAGS
    -x hip -std=c++17 -O3 -fPIC -ffp-contract=off -fno-fast-math
    -Wall -Wextra -Wno-unused-parameter -Wno-unused-result -Wno-pass-failed
    -DGRETA_HIP=1 -I${CMAKE_SOURCE_DIR}/src -I${CMAKE_BINARY_DIR}/generated)
# For scripts/hip_check.sh: the same flags, one per line, to compile the device code with another
# clang for architectures this hipcc does not know.
string(REPLACE ";" "\n" _greta_hip_flag_lines "${GRETA_HIP_DEVICE_FLAGS}")
file(WRITE ${CMAKE_BINARY_DIR}/greta_hip_device_flags.txt "${_greta_hip_flag_lines}\n")

set(_greta_hip_arch_flags)
foreach(_arch IN LISTS GRETA_HIP_ARCHS)
  list(APPEND _greta_hip_arch_flags --offload-arch=${_arch})
endforeach()

file(GLOB _greta_hip_cu CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/greta/cuda/*.cu)
file(GLOB _greta_hip_cpp CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/greta/cuda/*.cpp)
set(_greta_hip_objs)
foreach(_src IN LISTS _greta_hip_cu)
  get_filename_component(_name ${_src} NAME_WE)
  set(_obj ${CMAKE_BINARY_DIR}/greta_hip/${_name}.o)
  add_custom_command(
    OUTPUT ${_obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/greta_hip
    COMMAND ${GRETA_HIP_COMPILER} ${GRETA_HIP_DEVICE_FLAGS} ${_greta_hip_arch_flags} -MD -MF ${_obj}.d -c ${_src} -o ${_obj}
    DEPENDS ${_src}
    DEPFILE ${_obj}.d
    COMMENT "Building HIP object greta_hip/${_name}.o (${GRETA_HIP_ARCHS})"
    VERBATIM)
  list(APPEND _greta_hip_objs ${_obj})
endforeach()

add_library(greta_cuda STATIC ${_greta_hip_cpp} ${_greta_hip_objs})
# Host code (cuda_backend.cpp) with the project's C++ compiler against the HIP runtime headers.
target_compile_options(greta_cuda PRIVATE -Wno-unused-result)
target_compile_definitions(greta_cuda PRIVATE GRETA_HIP=1 __HIP_PLATFORM_AMD__=1)
target_include_directories(greta_cuda SYSTEM PRIVATE ${GRETA_HIP_INCLUDE_DIR})
target_include_directories(greta_cuda PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_BINARY_DIR}/generated)
target_link_libraries(greta_cuda PUBLIC greta_runtime greta_ops greta_quant ${GRETA_HIP_LIBRARY})
target_link_libraries(greta INTERFACE greta_cuda)
target_compile_definitions(greta_cuda PUBLIC GRETA_HAVE_CUDA=1)
