# The control thread's metrics work: reading a vLLM page (kvroute-sim's, one engine and eight) per
# scrape, and rendering the admin /metrics page.
kvroute_add_executable(scrape_bench ${CMAKE_CURRENT_LIST_DIR}/scrape_bench.cc)
target_link_libraries(scrape_bench PRIVATE kvroute_upstream kvroute_admin kvroute_sim_server benchmark::benchmark_main)
