#pragma once
// Helpers shared by the engine tests: drive an engine in virtual time and build workloads.

#include <cstdint>
#include <functional>
#include <vector>

#include "common/hash.h"
#include "common/random.h"
#include "sim/engine.h"
#include "sim/preset.h"

namespace kvroute::sim::testing {

inline const Preset& tiny() { return *find_preset("tiny"); }

/// A chain of n block identities derived from a document id (equal docs share prefixes).
inline std::vector<std::uint64_t> chain(std::uint64_t doc, std::uint32_t n) {
  std::vector<std::uint64_t> out;
  std::uint64_t h = hash_combine(0x5eed, doc);
  for (std::uint32_t i = 0; i < n; ++i) out.push_back(h = hash_combine(h, i));
  return out;
}

struct TimedEvent {
  Nanos at;
  EngineEvent event;
  bool operator==(const TimedEvent& o) const {
    return at == o.at && event.id == o.event.id && event.kind == o.event.kind &&
           event.output_index == o.event.output_index && event.finished == o.event.finished;
  }
};

struct Arrival {
  Nanos at;
  EngineRequest request;
};

/// Feeds arrivals at their times and steps the engine until everything has finished. Calls
/// after_step(engine, end) after every step. Returns all events with their times.
inline std::vector<TimedEvent> run(Engine& engine, std::vector<Arrival> arrivals, Nanos now = 0,
                                   const std::function<void(Engine&, Nanos)>& after_step = {}) {
  std::vector<TimedEvent> out;
  std::size_t next = 0;
  while (next < arrivals.size() || !engine.idle()) {
    while (next < arrivals.size() && arrivals[next].at <= now) engine.add_request(std::move(arrivals[next++].request));
    const auto end = engine.step(now);
    if (!end) {
      now = arrivals[next].at;
      continue;
    }
    now = *end;
    for (const EngineEvent& e : engine.events()) out.push_back(TimedEvent{now, e});
    if (after_step) after_step(engine, now);
  }
  return out;
}

/// A seeded random workload: prompts that share prefixes of a few documents, random outputs,
/// Poisson-ish arrivals. Sized for the tiny preset.
inline std::vector<Arrival> random_workload(std::uint64_t seed, std::uint32_t n, std::uint32_t max_prompt = 1200,
                                            std::uint32_t max_output = 150) {
  SeededRandom rng(seed);
  std::vector<Arrival> out;
  Nanos t = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    t += static_cast<Nanos>(rng.uniform(3 * kNanosPerMilli));
    EngineRequest r;
    r.id = 1000 + i;
    r.prompt_tokens = 1 + static_cast<std::uint32_t>(rng.uniform(max_prompt));
    r.output_tokens = 1 + static_cast<std::uint32_t>(rng.uniform(max_output));
    const std::uint32_t full_blocks = r.prompt_tokens / 16;
    // Half the requests hash their prompt from one of 3 shared documents, and only partly.
    if (rng.uniform(2) == 0)
      r.block_hashes = chain(rng.uniform(3), static_cast<std::uint32_t>(rng.uniform(full_blocks + 1)));
    out.push_back(Arrival{t, std::move(r)});
  }
  return out;
}

}  // namespace kvroute::sim::testing
