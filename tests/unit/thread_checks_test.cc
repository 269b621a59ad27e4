// The threading helpers of lib/util: the annotated Mutex / MutexLock / CondVar
// (thread_annotations.h).
#include <catch2/catch.hpp>
#include <chrono>
#include <stop_token>
#include <thread>

#include "util/thread_annotations.h"

using namespace backy;

namespace {

// The shape the analysis checks: state guarded by a Mutex, a waiter with a predicate.
struct Mailbox {
  Mutex mu;
  CondVar cv;
  int value GUARDED_BY(mu) = 0;

  void put(int v) EXCLUDES(mu) {
    {
      MutexLock lock(mu);
      value = v;
    }
    cv.notify_all();
  }
  // The value once nonzero; 0 when `stop` came first.
  int take(std::stop_token stop) EXCLUDES(mu) {
    MutexLock lock(mu);
    if (!cv.wait(mu, stop, [this]() REQUIRES(mu) { return value != 0; })) return 0;
    return value;
  }
};

}  // namespace

TEST_CASE("CondVar: a waiter wakes for its condition, or for a stop request", "[threads]") {
  Mailbox box;
  std::jthread waiter([&](std::stop_token st) {
    const int got = box.take(st);
    box.put(got + 100);  // reply
  });
  box.put(7);
  waiter.join();
  {
    MutexLock lock(box.mu);
    CHECK(box.value == 107);
  }

  Mailbox idle;
  int got = -1;
  std::jthread stopped([&](std::stop_token st) { got = idle.take(st); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stopped.request_stop();
  stopped.join();
  CHECK(got == 0);
}

TEST_CASE("MutexLock: unlock() releases for a stretch, lock() takes it back", "[threads]") {
  Mutex mu;
  // Asked from another thread: try_lock by the holder itself is undefined for std::mutex.
  auto free_now = [&mu] {
    bool free = false;
    std::thread([&] {
      if (mu.try_lock()) {
        free = true;
        mu.unlock();
      }
    }).join();
    return free;
  };
  {
    MutexLock lock(mu);
    CHECK_FALSE(free_now());
    lock.unlock();
    CHECK(free_now());
    lock.lock();
    CHECK_FALSE(free_now());
  }
  CHECK(free_now());  // the destructor released it
  {
    MutexLock lock(mu);
    lock.unlock();
  }  // released early: the destructor leaves it alone
  CHECK(free_now());
}
