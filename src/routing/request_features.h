#pragma once
// What the router knows about a request when it picks a backend. Built once per request by the
// request path (gateway: from the parsed body and headers; offline evaluator: from the trace record)
// and passed by const reference: every member is a value or a non-owning view, so it is cheap to
// build and to pass, and a policy never copies a prompt.

#include <cstdint>
#include <span>
#include <string_view>

#include "common/time_source.h"

namespace kvroute::routing {

/// The key consistent-hashing policies route by: a 64-bit hash of a header value, the request's
/// `user` field or a session id, whichever the pool's config names. `present == false` means the
/// request carried no key (policies then fall back to a keyless choice).
struct RoutingKey {
  std::uint64_t hash = 0;
  bool present = false;

  static constexpr RoutingKey of(std::uint64_t h) { return RoutingKey{h, true}; }
};

/// Request features. The views (model, block_hashes) point into memory owned by the request (parsed
/// body, hasher output) and are valid only during the call they are passed to: a policy that wants
/// to remember anything copies it.
struct RequestFeatures {
  std::string_view model;           ///< the `model` field as the client sent it
  bool stream = false;              ///< SSE response requested
  std::uint32_t max_tokens = 0;     ///< max_tokens / max_completion_tokens; 0 = unknown
  std::uint32_t prompt_tokens = 0;  ///< estimated prompt length in tokens; 0 = unknown
  /// Chained hashes of the canonical prompt's 64-byte blocks, in order
  /// (h_i = xxh3(block_i, seed = h_{i-1}), seeded by the model name; common/hash.h ChainedBlockHasher).
  /// Equal prefixes give equal leading hashes, so a common prefix is a common leading run.
  std::span<const std::uint64_t> block_hashes;
  RoutingKey routing_key;     ///< for consistent hashing
  std::int32_t priority = 0;  ///< larger is more important; 0 = default
  Nanos arrival = 0;          ///< when the gateway received the request (TimeSource time)
  Nanos deadline = 0;         ///< latest useful first-token time; 0 = none
};

}  // namespace kvroute::routing
