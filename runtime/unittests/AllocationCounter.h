// Counts heap allocations (global operator new) made on the calling thread,
// so tests can check that the launch path allocates nothing.
#ifndef SPARSE_ATTN_RUNTIME_UNITTESTS_ALLOCATIONCOUNTER_H
#define SPARSE_ATTN_RUNTIME_UNITTESTS_ALLOCATIONCOUNTER_H

#include <cstddef>

namespace sparse_attn::runtime::testing {

// False where the allocation functions cannot be replaced (sanitizers).
bool allocationCountingAvailable();

// Allocations on this thread since counting began (see CountAllocations).
size_t countedAllocations();

// Counts this thread's allocations while it lives.
class CountAllocations {
public:
  CountAllocations();
  ~CountAllocations();
};

// Stops counting while it lives (the fake driver's own bookkeeping).
class PauseCounting {
public:
  PauseCounting();
  ~PauseCounting();

private:
  bool wasCounting_;
};

} // namespace sparse_attn::runtime::testing

#endif
