# Request parsing with prompt block hashing (the gateway's per-request hot path), bytes/s.
kvroute_add_executable(openai_bench ${CMAKE_CURRENT_LIST_DIR}/openai_bench.cc)
target_link_libraries(openai_bench PRIVATE kvroute_openai benchmark::benchmark_main)
