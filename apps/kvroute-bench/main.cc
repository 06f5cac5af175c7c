// kvroute-bench: trace replay. `sim` runs a whole fleet offline in virtual time through the real
// routing code and simulator engine (docs/benchmarks.md).
#include "bench/sim_command.h"

int main(int argc, char** argv) { return kvroute::bench::bench_main(argc, argv); }
