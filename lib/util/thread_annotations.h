// Lock discipline in the types: clang's thread-safety attributes, and the Mutex, MutexLock and
// CondVar that carry them.
//
// Built with clang and -Wthread-safety (CMake option BACKY_THREAD_SAFETY, which the test command
// turns on), the compiler checks that data marked GUARDED_BY(mu_) is only touched with mu_ held,
// that a REQUIRES(mu_) function is only called with it held and an EXCLUDES(mu_) one only
// without. libstdc++'s std::mutex carries no annotations, so the analysis sees only these
// wrappers: every mutex in backyd is a backy::Mutex. With gcc the macros expand to nothing and
// the types are plain std::mutex / std::condition_variable_any underneath.
//
// A lambda runs as a function of its own: give one that touches guarded data its own
// REQUIRES(mu_) (as a CondVar predicate does: it is called with the mutex held).
//
// The shape is LevelDB's port/thread_annotations.h and port::Mutex; the attributes are clang's
// (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <utility>

#if defined(__clang__)
#define BACKY_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define BACKY_THREAD_ANNOTATION(x)
#endif

// A type that is a lock ("mutex" is the kind the diagnostics name).
#define CAPABILITY(x) BACKY_THREAD_ANNOTATION(capability(x))
// An RAII type that holds a capability for its lifetime.
#define SCOPED_CAPABILITY BACKY_THREAD_ANNOTATION(scoped_lockable)
// The member may be read or written only with `x` held.
#define GUARDED_BY(x) BACKY_THREAD_ANNOTATION(guarded_by(x))
// What the pointer member points to may be touched only with `x` held.
#define PT_GUARDED_BY(x) BACKY_THREAD_ANNOTATION(pt_guarded_by(x))
// The caller must hold the capabilities (exclusively; REQUIRES_SHARED: at least shared).
#define REQUIRES(...) BACKY_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) BACKY_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
// The function takes / gives back the capabilities (none named: `this`).
#define ACQUIRE(...) BACKY_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) BACKY_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) BACKY_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// The caller must not hold the capabilities (the function takes them itself).
#define EXCLUDES(...) BACKY_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// The function checks (or knows) that the capability is held; from here on it is.
#define ASSERT_CAPABILITY(x) BACKY_THREAD_ANNOTATION(assert_capability(x))
// The function returns a reference to the capability `x`.
#define RETURN_CAPABILITY(x) BACKY_THREAD_ANNOTATION(lock_returned(x))
// `x` is always taken after the named capabilities / before them (lock order).
#define ACQUIRED_AFTER(...) BACKY_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define ACQUIRED_BEFORE(...) BACKY_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))

namespace backy {

// std::mutex with the annotations. lock()/unlock() make it Lockable, so std::lock_guard and
// std::condition_variable_any accept it too (spdlog's base_sink does), but code here uses
// MutexLock, which the analysis follows.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis the mutex is held where it cannot see it (std::mutex cannot check).
  void assert_held() const ASSERT_CAPABILITY(this) {}

 private:
  std::mutex mu_;
};

// Holds a Mutex from construction to destruction. unlock() / lock() release it for a stretch
// (work that must not run under the lock) and take it back; the destructor releases it only if
// held.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // REQUIRES: held.
  void unlock() RELEASE() {
    held_ = false;
    mu_.unlock();
  }
  // REQUIRES: not held.
  void lock() ACQUIRE() {
    mu_.lock();
    held_ = true;
  }

 private:
  Mutex& mu_;
  bool held_ = true;
};

// A condition variable waited on with a Mutex held. A wait releases the mutex while blocked and
// holds it again when it returns; `ready` runs with it held (annotate a lambda REQUIRES(mu)).
// The mutex is an argument, not a member, so the analysis can see that it is the one held.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Blocks until ready() is true.
  template <class Pred>
  void wait(Mutex& mu, Pred ready) REQUIRES(mu) {
    cv_.wait(mu, std::move(ready));
  }
  // Blocks until ready() is true (returns true) or `stop` is requested (returns ready()).
  template <class Pred>
  bool wait(Mutex& mu, std::stop_token stop, Pred ready) REQUIRES(mu) {
    return cv_.wait(mu, std::move(stop), std::move(ready));
  }
  // Blocks until ready() is true, `stop` is requested or `deadline` passes; returns ready().
  template <class Clock, class Duration, class Pred>
  bool wait_until(Mutex& mu, std::stop_token stop,
                  const std::chrono::time_point<Clock, Duration>& deadline, Pred ready)
      REQUIRES(mu) {
    return cv_.wait_until(mu, std::move(stop), deadline, std::move(ready));
  }
  void notify_one() { cv_.notify_one(); }
  void notify_all() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace backy
