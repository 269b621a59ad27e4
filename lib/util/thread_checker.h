// ThreadChecker: the proof that an object meant for one thread is used on that thread only.
//
// The daemon's job table and command handler live on the io_context thread (the control
// executor); a call from a worker or a reader thread would be a data race on their state. An
// object of such a class holds a ThreadChecker and calls check() at the top of each entry point.
// The first check() binds the owner thread, not the constructor: main() may build a part before
// the loop runs, and a test may build one on its main thread and drive it from its io thread.
//
// A call from another thread aborts the process, in every build type, after naming what was
// called on stderr. Not assert(): it is compiled out of RelWithDebInfo, which is what ships and
// what the integration tests run. Not an exception: the race is already under way, and the
// worker pool's catch-all would swallow it. The check is one atomic load and a thread id compare.
//
// Thread-safe (that is its point). Not copyable.
#pragma once

#include <atomic>
#include <thread>

namespace backy {

class ThreadChecker {
 public:
  ThreadChecker() = default;
  ThreadChecker(const ThreadChecker&) = delete;
  ThreadChecker& operator=(const ThreadChecker&) = delete;

  // Whether the calling thread is the owner; the first call binds it.
  bool on_owner_thread() const noexcept;
  // Aborts the process, naming `what` (the entry point), unless on the owner thread.
  void check(const char* what) const noexcept;

 private:
  mutable std::atomic<std::thread::id> owner_{};
};

}  // namespace backy
