# Simulator benchmark: the whole Philly trace replayed on 2,000 GPUs per policy, against FIFO
# without backfill measured in the same run (ratios printed at the end).
add_executable(sim_bench ${CMAKE_CURRENT_SOURCE_DIR}/sim_bench.cc)
target_link_libraries(sim_bench PRIVATE muster_sim_io benchmark::benchmark)
target_compile_definitions(sim_bench PRIVATE MUSTER_DATA_DIR="${MUSTER_DATA_DIR}")
set_target_properties(sim_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
