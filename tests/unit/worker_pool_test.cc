// The worker pool (daemon/worker_pool.*): where a finished task's work is destroyed.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <vector>

#include "worker_pool.h"

using namespace backy;

namespace {

// Captured by a task's work. Its destructor asks the pool for its queue length from another
// thread: if the destructor runs while the worker holds the pool's mutex, that call cannot finish
// until the destructor has returned, and the probe records the lock as held.
struct LockProbe {
  WorkerPool* pool = nullptr;
  std::promise<bool>* mutex_was_free = nullptr;
  std::vector<std::future<int>>* stragglers = nullptr;
  ~LockProbe() {
    auto ask = std::async(std::launch::async, [p = pool] { return p->queued(); });
    mutex_was_free->set_value(ask.wait_for(std::chrono::seconds(2)) == std::future_status::ready);
    stragglers->push_back(std::move(ask));  // joined by the test, not here (it may still wait)
  }
};

}  // namespace

TEST_CASE("worker pool: a finished task's captures are destroyed outside the pool's lock",
          "[worker_pool]") {
  boost::asio::io_context io;
  std::promise<bool> mutex_was_free;
  std::vector<std::future<int>> stragglers;
  {
    WorkerPool pool(io, 1);
    auto probe = std::make_shared<LockProbe>();
    probe->pool = &pool;
    probe->mutex_was_free = &mutex_was_free;
    probe->stragglers = &stragglers;
    pool.submit(
        Clock::now(), [probe = std::move(probe)](std::stop_token) {}, nullptr);
    auto verdict = mutex_was_free.get_future();
    REQUIRE(verdict.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(verdict.get());
  }
  for (auto& f : stragglers) f.get();
}
