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
