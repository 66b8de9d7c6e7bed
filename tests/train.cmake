# Trainer integration tests (libtorch; only when MUSTER_BUILD_TRAIN).
#   train_ddp_equivalence_test  two gloo ranks (threads) == one process with double batch
#   train_resume_test           SIGTERM a 2-process run, restart, resume from the checkpoint
#   train_python_ddp            examples/ddp_fashion_mnist.py under 2 processes (plain PyTorch DDP)
find_package(Torch REQUIRED)  # imported targets are directory-scoped
find_package(ZLIB REQUIRED)
find_package(nlohmann_json REQUIRED)
muster_test(train_ddp_equivalence_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/train_ddp_equivalence_test.cc
  LIBS muster_train LABELS train)
muster_test(train_resume_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/train_resume_test.cc
  LIBS muster_core nlohmann_json::nlohmann_json LABELS train)
target_include_directories(train_resume_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_definitions(train_resume_test PRIVATE MUSTER_TRAIN_BIN="$<TARGET_FILE:muster-train>")
add_dependencies(train_resume_test muster-train)

add_test(NAME train_python_ddp
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_python_ddp_test.sh
          ${PROJECT_SOURCE_DIR}/examples/ddp_fashion_mnist.py)
set_tests_properties(train_python_ddp PROPERTIES LABELS train SKIP_RETURN_CODE 77 TIMEOUT 300)

# Training through the cluster (a real coordinator and 2 agents on loopback, from
# tests/helpers/cluster_harness.h; one gtest each, registered directly so that both labels apply):
#   cluster_train_ddp     examples/ddp_fashion_mnist.py, unmodified, as a 2-rank gang (submit --wait)
#   cluster_train_resume  a checkpointable muster-train gang: cancel → checkpoint → resubmit → resume,
#                         compared with an uninterrupted run of the same command
foreach(name ddp resume)
  set(target cluster_train_${name}_test)
  add_executable(${target} ${CMAKE_CURRENT_SOURCE_DIR}/${target}.cc)
  target_link_libraries(${target} PRIVATE muster_cluster_harness nlohmann_json::nlohmann_json
                                          GTest::gtest_main)
  target_compile_definitions(${target} PRIVATE MUSTER_TRAIN_BIN="$<TARGET_FILE:muster-train>"
                                               MUSTER_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_dependencies(${target} muster-train)
  add_test(NAME cluster_train_${name} COMMAND ${target})
  # Heavy on CPU, and the resume test must cancel before training ends: not beside other tests.
  set_tests_properties(cluster_train_${name} PROPERTIES
    LABELS "integration;train" TIMEOUT 400 RUN_SERIAL TRUE
    SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
endforeach()
