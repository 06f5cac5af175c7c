# The simulated engine in virtual time: requests per second of wall clock (offline replay budget).
kvroute_add_executable(sim_engine_bench ${CMAKE_CURRENT_LIST_DIR}/sim_engine_bench.cc)
target_link_libraries(sim_engine_bench PRIVATE kvroute_sim benchmark::benchmark_main)
