// The worker pool (daemon/worker_pool.*): lanes, slots, order, and where a finished task's work
// is destroyed.
#include <catch2/catch.hpp>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
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
        Lane::slow, Clock::now(), [probe = std::move(probe)](std::stop_token) {}, nullptr);
    auto verdict = mutex_was_free.get_future();
    REQUIRE(verdict.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(verdict.get());
  }
  for (auto& f : stragglers) f.get();
}

namespace {

// Polls `ready` for up to 10 s.
template <class F>
bool eventually(F ready) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!ready()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Work that holds its slot until the test opens the gate.
struct Gate {
  std::promise<void> open_;
  std::shared_future<void> opened = open_.get_future().share();
  void open() { open_.set_value(); }
  WorkerPool::Work hold(std::atomic<int>* finished = nullptr) {
    return [f = opened, finished](std::stop_token) {
      f.wait();
      if (finished) ++*finished;
    };
  }
};

}  // namespace

TEST_CASE("worker pool: a full slow lane holds back neither the fast lane nor the work lane",
          "[worker_pool]") {
  boost::asio::io_context io;
  Gate gate;
  std::atomic<int> slow_done{0}, fast_done{0}, work_done{0}, fast_now{0}, fast_most{0};
  {
    WorkerPool pool(io, 1);
    pool.submit(Lane::slow, Clock::now(), gate.hold(&slow_done), nullptr);
    pool.submit(Lane::slow, Clock::now(), gate.hold(&slow_done), nullptr);
    REQUIRE(eventually([&] { return pool.running(Lane::slow) == 1; }));
    CHECK(pool.queued(Lane::slow) == 1);
    // Due later than the waiting slow task: lanes do not wait for each other's order.
    for (int i = 0; i < 5; ++i)
      pool.submit(
          Lane::fast, Clock::now() + std::chrono::seconds(1),
          [&](std::stop_token) {
            const int now = ++fast_now;
            int most = fast_most;
            while (now > most && !fast_most.compare_exchange_weak(most, now)) {
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            --fast_now;
            ++fast_done;
          },
          nullptr);
    REQUIRE(eventually([&] { return fast_done == 5; }));
    CHECK(fast_most == 1);  // worker-limit 1: one fast task at a time
    pool.submit(
        Lane::work, Clock::now(), [&](std::stop_token) { ++work_done; }, nullptr);
    REQUIRE(eventually([&] { return work_done == 1; }));
    CHECK(slow_done == 0);
    CHECK(pool.running(Lane::slow) == 1);
    CHECK(pool.queued(Lane::slow) == 1);
    CHECK(pool.running() == 1);
    CHECK(pool.queued() == 1);
    gate.open();
    REQUIRE(eventually([&] { return slow_done == 2; }));
  }
}

TEST_CASE("worker pool: resize changes every lane's slots and stops no running task",
          "[worker_pool]") {
  boost::asio::io_context io;
  Gate gate;
  std::atomic<int> finished{0}, stopped{0};
  {
    WorkerPool pool(io, 1);
    auto watch = [&](std::stop_token st) {
      gate.opened.wait();
      if (st.stop_requested()) ++stopped;
      ++finished;
    };
    for (Lane lane : {Lane::fast, Lane::slow, Lane::work})
      for (int i = 0; i < 2; ++i) pool.submit(lane, Clock::now(), watch, nullptr);
    REQUIRE(eventually([&] { return pool.running() == 3; }));
    CHECK(pool.queued() == 3);
    pool.resize(2);
    CHECK(pool.limit() == 2);
    REQUIRE(eventually([&] { return pool.running() == 6; }));
    for (Lane lane : {Lane::fast, Lane::slow, Lane::work}) CHECK(pool.running(lane) == 2);
    pool.resize(1);  // fewer slots: what runs keeps running
    CHECK(pool.running() == 6);
    gate.open();
    REQUIRE(eventually([&] { return finished == 6; }));
    CHECK(stopped == 0);
  }
}

TEST_CASE("worker pool: within a lane, the earliest due task starts first", "[worker_pool]") {
  boost::asio::io_context io;
  Gate gate;
  std::mutex mu;
  std::vector<int> order;
  {
    WorkerPool pool(io, 1);
    pool.submit(Lane::fast, Clock::now(), gate.hold(), nullptr);
    REQUIRE(eventually([&] { return pool.running(Lane::fast) == 1; }));
    const TimePoint t0 = Clock::now();
    for (int due : {3, 1, 2})
      pool.submit(
          Lane::fast, t0 + std::chrono::seconds(due),
          [&, due](std::stop_token) {
            std::lock_guard lock(mu);
            order.push_back(due);
          },
          nullptr);
    gate.open();
    REQUIRE(eventually([&] {
      std::lock_guard lock(mu);
      return order.size() == 3;
    }));
    CHECK(order == std::vector<int>{1, 2, 3});
  }
}
