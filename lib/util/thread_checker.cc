#include "util/thread_checker.h"

#include <cstdio>
#include <cstdlib>

namespace backy {

bool ThreadChecker::on_owner_thread() const noexcept {
  const std::thread::id self = std::this_thread::get_id();
  std::thread::id owner = owner_.load(std::memory_order_acquire);
  if (owner == std::thread::id{} &&
      owner_.compare_exchange_strong(owner, self, std::memory_order_acq_rel))
    return true;
  return owner == self;
}

void ThreadChecker::check(const char* what) const noexcept {
  if (on_owner_thread()) return;
  std::fprintf(stderr, "backy: %s called off its owner thread (a data race); aborting\n", what);
  std::abort();
}

}  // namespace backy
