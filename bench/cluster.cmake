# Cluster benchmarks: a real coordinator and agents started from the `muster` binary.
add_executable(submit_bench ${CMAKE_CURRENT_SOURCE_DIR}/submit_bench.cc)
target_link_libraries(submit_bench PRIVATE muster_client Threads::Threads)
target_compile_definitions(submit_bench PRIVATE MUSTER_BINARY="$<TARGET_FILE:muster>")
add_dependencies(submit_bench muster)
set_target_properties(submit_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)

# The store's group commit against one transaction per submission, in-process, same run.
add_executable(commit_bench ${CMAKE_CURRENT_SOURCE_DIR}/commit_bench.cc)
target_link_libraries(commit_bench PRIVATE muster_coordinator Threads::Threads)
set_target_properties(commit_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)

# Failover of two coordinators on a throwaway PostgreSQL server: kill -9 against a clean handover.
add_executable(failover_bench ${CMAKE_CURRENT_SOURCE_DIR}/failover_bench.cc)
target_link_libraries(failover_bench PRIVATE muster_client muster_store Threads::Threads)
target_compile_definitions(failover_bench PRIVATE MUSTER_BINARY="$<TARGET_FILE:muster>")
add_dependencies(failover_bench muster)
set_target_properties(failover_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)

# The latency task of submit_bench: writes its start time and exits (static: no loader work).
add_executable(stamp ${CMAKE_CURRENT_SOURCE_DIR}/stamp.cc)
target_link_options(stamp PRIVATE -static)
set_target_properties(stamp PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
add_dependencies(submit_bench stamp)
