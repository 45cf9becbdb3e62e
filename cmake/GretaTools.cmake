# Command-line tools. Each is a thin main() over libgreta; every binary lands in the build dir.
# A tool whose name equals a library target's (greta_gguf, greta_compare) gets the target name
# <name>_cli; its binary is still called <name>.
function(greta_tool name)
  set(_target ${name})
  if(TARGET ${name})
    set(_target ${name}_cli)
  endif()
  add_executable(${_target} ${ARGN})
  set_target_properties(${_target} PROPERTIES OUTPUT_NAME ${name})
  target_link_libraries(${_target} PRIVATE greta greta_app CLI11::CLI11 nlohmann_json::nlohmann_json)
endfunction()

macro(greta_tool_if_present name src)
  if(EXISTS ${CMAKE_SOURCE_DIR}/${src})
    greta_tool(${name} ${CMAKE_SOURCE_DIR}/${src})
  endif()
endmacro()

greta_tool_if_present(greta_infer    tools/inference/src/greta_infer.cpp)
greta_tool_if_present(greta_gguf     tools/gguf/greta_gguf.cpp)
greta_tool_if_present(greta_tokenize tools/tokenize/greta_tokenize.cpp)
greta_tool_if_present(greta_compare  tools/compare/greta_compare.cpp)
greta_tool_if_present(greta_bench    tools/bench/greta_bench.cpp)
greta_tool_if_present(greta_bench_dump tools/benchmarks/greta_bench_dump.cpp)
greta_tool_if_present(greta_bench_tokenizer tools/bench/bench_tokenizer.cpp)
greta_tool_if_present(greta_batched  tools/batched/greta_batched.cpp)
