// The threading helpers of lib/util: ThreadChecker (an io-thread-only object's proof of its
// thread) and the annotated Mutex / MutexLock / CondVar (thread_annotations.h).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <stop_token>
#include <thread>

#include "util/thread_annotations.h"
#include "util/thread_checker.h"

using namespace backy;

TEST_CASE("a ThreadChecker binds to its first caller, not to the thread that built it",
          "[threads]") {
  ThreadChecker checker;
  bool first = false, again = false;
  std::thread([&] {
    first = checker.on_owner_thread();
    again = checker.on_owner_thread();
  }).join();
  CHECK(first);
  CHECK(again);
  // The builder's thread is now a stranger.
  CHECK_FALSE(checker.on_owner_thread());
}

TEST_CASE("a ThreadChecker's check() aborts the process on another thread", "[threads]") {
  // In a child process: the abort is the behaviour under test.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ThreadChecker checker;
    checker.check("owner");  // binds this thread
    std::thread([&] { checker.check("Test::entry"); }).join();
    ::_exit(0);  // not reached when check() works
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}

TEST_CASE("a ThreadChecker's check() on the owner thread passes, every time", "[threads]") {
  ThreadChecker checker;
  for (int i = 0; i < 3; ++i) checker.check("Test::entry");
  CHECK(checker.on_owner_thread());
}

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
