# sim_capacity: the capacity benchmark of the simulated fleet (docs/capacity.md). It starts
# kvroute-sim itself, so the binary's default path is compiled in.
if(NOT TARGET kvroute_net OR NOT TARGET kvroute_common)
  return()
endif()

set(_simcap ${CMAKE_CURRENT_SOURCE_DIR}/sim_capacity)

# The parts that are logic rather than I/O, shared by the tool and its unit test.
kvroute_add_library(sim_capacity_core STATIC
  ${_simcap}/event_scanner.cc
  ${_simcap}/histogram.cc
  ${_simcap}/sim_process.cc)
target_include_directories(sim_capacity_core PUBLIC ${_simcap})
target_link_libraries(sim_capacity_core PUBLIC kvroute_common fmt::fmt)

kvroute_add_executable(sim_capacity
  ${_simcap}/load.cc
  ${_simcap}/main.cc)
target_link_libraries(sim_capacity PRIVATE sim_capacity_core kvroute_net kvroute_common
  CLI11::CLI11 nlohmann_json::nlohmann_json fmt::fmt)
kvroute_use_net_pch(sim_capacity)
if(TARGET kvroute-sim)
  target_compile_definitions(sim_capacity PRIVATE KVROUTE_SIM_DEFAULT_BIN="$<TARGET_FILE:kvroute-sim>")
  add_dependencies(sim_capacity kvroute-sim)
endif()

if(KVROUTE_BUILD_TESTS)
  kvroute_add_gtest(sim_capacity_test
    SOURCES ${_simcap}/sim_capacity_test.cc
    LIBS sim_capacity_core
    LABELS unit)
  if(TARGET kvroute-sim)
    # A few seconds of light load: the whole path (spawn, ready line, streams, /sim/stats reset
    # and read, report) works and at least one stream completes inside the window.
    add_test(NAME sim_capacity_smoke
      COMMAND sim_capacity --sim-bin $<TARGET_FILE:kvroute-sim> --instances 2 --preset tiny
              --speedup 10 --streams 50 --ramp 0.5 --warmup 1 --duration 3
              --output-min-tokens 20 --output-max-tokens 60 --min-completed 1
              --json ${CMAKE_CURRENT_BINARY_DIR}/sim_capacity_smoke.json)
    set_tests_properties(sim_capacity_smoke PROPERTIES LABELS integration TIMEOUT 60)
  endif()
endif()
