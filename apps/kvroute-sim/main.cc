// kvroute-sim: simulated OpenAI-compatible inference servers (docs/simulator.md).
#include "sim_server/server.h"

int main(int argc, char** argv) { return kvroute::sim_server::sim_main(argc, argv); }
