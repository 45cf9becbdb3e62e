# Included by tests/CMakeLists.txt: tests that run the built tools and the ticket's scripts.

# The analyzer tests run the greta_compare binary (target greta_compare_cli).
if(TARGET test_compare AND TARGET greta_compare_cli)
  add_dependencies(test_compare greta_compare_cli)
endif()
