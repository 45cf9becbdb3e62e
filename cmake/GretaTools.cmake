# Command-line tools. Each is a thin main() over libgreta; every binary lands in the build dir.
function(greta_tool name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE greta CLI11::CLI11 nlohmann_json::nlohmann_json)
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
