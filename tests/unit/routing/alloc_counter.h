#pragma once
// Counts global operator new calls in this test binary (alloc_counter.cc replaces operator new).
// Kept in its own translation unit so the compiler never sees the malloc-based operator new inlined
// next to a delete (GCC then reports a false new/free mismatch).

namespace kvroute::routing::testing {

/// False under AddressSanitizer, which brings its own operator new: tests that count then skip.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kCountingAllocations = false;
#else
inline constexpr bool kCountingAllocations = true;
#endif

/// Number of operator new calls so far, on any thread.
long allocations_so_far();

}  // namespace kvroute::routing::testing
