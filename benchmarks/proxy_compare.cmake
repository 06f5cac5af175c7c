# proxy_compare: kvroute against nginx and HAProxy on the same fake backends, and kvroute's memory
# (docs/proxy-benchmark.md). The benchmark itself is benchmarks/proxy_compare/run.sh and memory.sh;
# the only compiled piece is the idle-connection holder memory.sh uses.
kvroute_add_executable(proxy_compare_idle ${CMAKE_CURRENT_SOURCE_DIR}/proxy_compare/idle_conns.cc)
