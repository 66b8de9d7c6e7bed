# train_bench: samples/s of one process vs two data-parallel gloo ranks, plus all-reduce time
# (a plain harness: the phases run in forked processes, which Google Benchmark does not model).
find_package(Torch REQUIRED)  # imported targets are directory-scoped
find_package(ZLIB REQUIRED)
find_package(nlohmann_json REQUIRED)
add_executable(train_bench ${CMAKE_CURRENT_SOURCE_DIR}/train_bench.cc)
target_link_libraries(train_bench PRIVATE muster_train)
