#include "AllocationCounter.h"

#include <cstdlib>
#include <new>

namespace {
thread_local bool counting = false;
thread_local size_t allocations = 0;
} // namespace

// The replacement global allocation functions; the array and aligned forms
// forward to these by default. AddressSanitizer brings its own, so counting
// is off under it.
#ifndef __SANITIZE_ADDRESS__
void *operator new(std::size_t size) {
  if (counting)
    ++allocations;
  if (void *pointer = std::malloc(size ? size : 1))
    return pointer;
  throw std::bad_alloc();
}

void operator delete(void *pointer) noexcept { std::free(pointer); }

void operator delete(void *pointer, std::size_t) noexcept { std::free(pointer); }
#endif

namespace sparse_attn::runtime::testing {

bool allocationCountingAvailable() {
#ifdef __SANITIZE_ADDRESS__
  return false;
#else
  return true;
#endif
}

size_t countedAllocations() { return allocations; }

CountAllocations::CountAllocations() {
  allocations = 0;
  counting = true;
}

CountAllocations::~CountAllocations() { counting = false; }

PauseCounting::PauseCounting() : wasCounting_(counting) { counting = false; }

PauseCounting::~PauseCounting() { counting = wasCounting_; }

} // namespace sparse_attn::runtime::testing
