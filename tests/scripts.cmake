# Included by tests/CMakeLists.txt: tests that run the built tools and the ticket's scripts.

# The analyzer tests run the greta_compare binary (target greta_compare_cli).
if(TARGET test_compare AND TARGET greta_compare_cli)
  add_dependencies(test_compare greta_compare_cli)
endif()

# The ticket's scripts, run as a user would. They use this build's binaries (GRETA_BUILD_DIR), so
# they are only added when the tools they run are targets of this build.
set(_bench ${CMAKE_SOURCE_DIR}/tools/benchmarks)
set(_script_env "GRETA_BUILD_DIR=${CMAKE_BINARY_DIR}" "GRETA_OUT_DIR=${CMAKE_BINARY_DIR}/b3_67_guardrail")

if(TARGET greta_compare_cli)
  add_test(NAME b3_68_smoke_rejects_broken_dumps
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/smoke_rejects_broken_dumps.sh ${_bench}/test_b3_68_smoke.sh)
  set_tests_properties(b3_68_smoke_rejects_broken_dumps PROPERTIES ENVIRONMENT "${_script_env}" LABELS scripts TIMEOUT 120)
endif()

if(TARGET greta_infer AND TARGET greta_compare_cli AND TARGET greta_tokenize)
  # With no argument the smoke test runs greta_infer itself.
  add_test(NAME b3_68_smoke_no_args COMMAND ${_bench}/test_b3_68_smoke.sh)
  # The guardrail with no arguments: the shipped model, kv-aligned 1, prefill vs decode: exit 0.
  add_test(NAME b3_67_guardrail_no_args COMMAND ${_bench}/run_b3_67_equivalence_guardrail.sh)
  # A prompt of exactly 33 tokens (across an attention tile boundary), 3 threads, f16.
  add_test(NAME b3_67_guardrail_prompt_len_33
           COMMAND ${_bench}/run_b3_67_equivalence_guardrail.sh --prompt-len 33 --threads 3 --dtype f16
                   --max-tokens 4 --out ${CMAKE_BINARY_DIR}/b3_67_guardrail_33)
  # A bad option is exit 2 before anything runs.
  add_test(NAME b3_67_guardrail_bad_option
           COMMAND bash -c "${_bench}/run_b3_67_equivalence_guardrail.sh --kv-aligned 2; test $? -eq 2")
  set_tests_properties(b3_68_smoke_no_args b3_67_guardrail_no_args b3_67_guardrail_prompt_len_33
                       b3_67_guardrail_bad_option
                       PROPERTIES ENVIRONMENT "${_script_env}" LABELS scripts TIMEOUT 300)
  # Each script may build into GRETA_BUILD_DIR if a binary is missing: never two at once.
  set_tests_properties(b3_68_smoke_no_args b3_67_guardrail_no_args b3_67_guardrail_prompt_len_33
                       PROPERTIES RESOURCE_LOCK greta_build_dir)
endif()
