# Helpers so every target gets the same warnings, include root and sanitizer flags.
function(kvroute_add_library name)
  add_library(${name} ${ARGN})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC kvroute_warnings)
endfunction()

function(kvroute_add_executable name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE kvroute_warnings)
endfunction()

# Headers that are expensive to parse (Asio, Beast) are precompiled once per target that needs them.
set(KVROUTE_NET_PCH
  <boost/asio.hpp> <boost/beast/core.hpp> <boost/beast/http.hpp>
  <string> <vector> <memory> <string_view> <chrono>)

function(kvroute_use_net_pch name)
  target_precompile_headers(${name} PRIVATE ${KVROUTE_NET_PCH})
endfunction()

# Registers a GoogleTest executable with ctest (one ctest entry per test case). Tests labelled
# `integration` or `e2e` start servers and some assert timing, so ctest runs them one at a time
# (RUN_SERIAL) even when unit tests run in parallel.
include(GoogleTest)
function(kvroute_add_gtest name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  kvroute_add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  set(serial FALSE)
  if("integration" IN_LIST ARG_LABELS OR "e2e" IN_LIST ARG_LABELS)
    set(serial TRUE)
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}" RUN_SERIAL ${serial} DISCOVERY_TIMEOUT 60)
endfunction()
