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

# greta_server: the API (greta_server_lib) on Debian's cpp-httplib (libcpp-httplib-dev, installed by
# scripts/setup.sh); skipped with a notice where the package is missing.
pkg_check_modules(HTTPLIB IMPORTED_TARGET cpp-httplib)
if(HTTPLIB_FOUND AND EXISTS ${CMAKE_SOURCE_DIR}/tools/server/greta_server.cpp)
  # The chat page (GET /) is compiled in as a string: the binary serves it without files.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tools/server/chat.html)
  file(READ ${CMAKE_SOURCE_DIR}/tools/server/chat.html GRETA_CHAT_HTML)
  file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/generated/greta_server_chat_html.h @ONLY
       CONTENT "#pragma once\n// Generated from tools/server/chat.html by cmake/GretaTools.cmake.\ninline constexpr const char kChatHtml[] = R\"greta_html(@GRETA_CHAT_HTML@)greta_html\";\n")
  greta_tool(greta_server ${CMAKE_SOURCE_DIR}/tools/server/greta_server.cpp)
  target_link_libraries(greta_server PRIVATE greta_server_lib PkgConfig::HTTPLIB)
  target_include_directories(greta_server PRIVATE ${CMAKE_BINARY_DIR}/generated)
else()
  message(STATUS "greta_server skipped: cpp-httplib not found (apt-get install libcpp-httplib-dev)")
endif()
