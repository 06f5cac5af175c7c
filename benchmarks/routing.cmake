# Policy pick() cost for every built-in policy at 8, 64 and 512 backends, plus the full per-request
# accounting cycle (pick, dispatch, first token, complete).
if(NOT TARGET kvroute_routing)
  return()
endif()
kvroute_add_executable(routing_bench ${CMAKE_CURRENT_LIST_DIR}/routing_bench.cc)
target_link_libraries(routing_bench PRIVATE kvroute_routing benchmark::benchmark_main)
