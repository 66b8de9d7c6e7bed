# Scheduler benchmarks: placement throughput of Schedule() against a naive scan-all-nodes
# placement measured in the same run.
add_executable(placement_bench ${CMAKE_CURRENT_SOURCE_DIR}/placement_bench.cc)
target_link_libraries(placement_bench PRIVATE muster_sched benchmark::benchmark)
set_target_properties(placement_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
