# Cluster integration tests (label "integration"): each test starts a real coordinator and agents
# with virtual GPUs from the `muster` binary on 127.0.0.1 (ephemeral ports, temporary state),
# drives them with the CLI, and kills everything in teardown. See tests/helpers/cluster_harness.h.
add_library(muster_cluster_harness STATIC ${CMAKE_CURRENT_SOURCE_DIR}/helpers/cluster_harness.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/helpers/netns.cc)
target_include_directories(muster_cluster_harness PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(muster_cluster_harness PUBLIC muster_client muster_agent GTest::gtest)
target_compile_definitions(muster_cluster_harness PUBLIC MUSTER_BINARY="$<TARGET_FILE:muster>")
add_dependencies(muster_cluster_harness muster)

foreach(name cluster_jobs_test cluster_bad_input_test cluster_failure_test cluster_balance_test
    cluster_security_test cluster_netns_test cluster_backup_test cluster_operations_test
    cluster_rest_test cluster_python_client_test cluster_browser_test cluster_postgres_test
    cluster_failover_test)
  add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/${name}.cc)
  target_link_libraries(${name} PRIVATE muster_cluster_harness GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS integration TIMEOUT 150)
endforeach()
# The balancer test reads GET /metrics, the REST test /api/v1, with cpp-httplib's client.
target_link_libraries(cluster_balance_test PRIVATE PkgConfig::HTTPLIB)
target_link_libraries(cluster_rest_test PRIVATE PkgConfig::HTTPLIB)
# The PostgreSQL test starts its own server (PostgresTestServer, in the store library).
target_link_libraries(cluster_postgres_test PRIVATE muster_store)
target_link_libraries(cluster_failover_test PRIVATE muster_store)
# The Python client's tests and example are read from the source tree.
target_compile_definitions(cluster_python_client_test PRIVATE
                           MUSTER_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_compile_definitions(cluster_balance_test PRIVATE MUSTER_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_compile_definitions(cluster_browser_test PRIVATE MUSTER_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                           MUSTER_ARTIFACT_DIR="${PROJECT_BINARY_DIR}/browser-screenshots")

# The chaos soak (tests/chaos/): 2 minutes of faults in CI; `chaos_soak_test --minutes N` by hand.
add_executable(chaos_soak_test ${CMAKE_CURRENT_SOURCE_DIR}/chaos/chaos_soak_test.cc)
target_link_libraries(chaos_soak_test PRIVATE muster_cluster_harness GTest::gtest)
gtest_discover_tests(chaos_soak_test DISCOVERY_TIMEOUT 60
  PROPERTIES LABELS "integration;chaos" TIMEOUT 600 RUN_SERIAL TRUE)
