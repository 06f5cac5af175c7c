# The LLM-aware routing path: prompt features, pick() of the LLM-aware policies at 8/64/512 backends,
# features + cost pick at 64 backends, prefix index lookup, dispatch cycle and memory per block.
if(NOT TARGET kvroute_routing)
  return()
endif()
kvroute_add_executable(routing_llm_bench ${CMAKE_CURRENT_LIST_DIR}/routing_llm_bench.cc)
target_link_libraries(routing_llm_bench PRIVATE kvroute_routing benchmark::benchmark_main)
