# Scheduler benchmarks: placement throughput of Schedule() against a naive scan-all-nodes
# placement measured in the same run.
add_executable(placement_bench ${CMAKE_CURRENT_SOURCE_DIR}/placement_bench.cc)
target_link_libraries(placement_bench PRIVATE muster_sched benchmark::benchmark)
set_target_properties(placement_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)

# Batch heuristics on the Braun ETC instances and generated 2048x64 ones: the memetic search
# against Min-min in the same run.
add_executable(etc_bench ${CMAKE_CURRENT_SOURCE_DIR}/etc_bench.cc)
target_link_libraries(etc_bench PRIVATE muster_sched)
target_compile_definitions(etc_bench PRIVATE MUSTER_ETC_DIR="${MUSTER_DATA_DIR}/etc")
set_target_properties(etc_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
