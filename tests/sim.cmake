# Simulator integration tests: the real Philly trace (skipped when ../shared/data is absent) and
# the `muster sim` command run as a process.
muster_test(muster_sim_integration_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/sim_philly_test.cc ${CMAKE_CURRENT_SOURCE_DIR}/sim_cli_test.cc
  LIBS muster_sim_io
  LABELS sim)
target_compile_definitions(muster_sim_integration_test PRIVATE MUSTER_BIN="$<TARGET_FILE:muster>"
  MUSTER_SOURCE_FALLBACK="${PROJECT_SOURCE_DIR}")
add_dependencies(muster_sim_integration_test muster)
