#include "worker_pool.h"

#include <boost/asio/post.hpp>

namespace backy {

WorkerPool::WorkerPool(boost::asio::io_context& io, int limit) : io_(io), limit_(limit) {
  MutexLock lock(mu_);
  grow_locked();
}

WorkerPool::~WorkerPool() {
  shutdown();
  std::vector<std::jthread> threads;
  {
    MutexLock lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.request_stop();
  cv_.notify_all();
  threads.clear();  // joins
}

WorkerPool::TaskId WorkerPool::submit(Lane lane, TimePoint due, Work work, Done done) {
  MutexLock lock(mu_);
  const TaskId id = next_id_++;
  if (shut_down_) {
    lock.unlock();
    post_done(std::move(done), false);
    return id;
  }
  Key key{due, id};
  queues_[index(lane)].emplace(key, Task{id, lane, std::move(work), std::move(done), {}});
  queued_keys_.emplace(id, std::make_pair(lane, key));
  lock.unlock();
  // Not notify_one: the woken worker might find this lane full and sleep again while another
  // lane's task could start.
  cv_.notify_all();
  return id;
}

void WorkerPool::stop(TaskId id) {
  MutexLock lock(mu_);
  if (auto q = queued_keys_.find(id); q != queued_keys_.end()) {
    auto node = queues_[index(q->second.first)].extract(q->second.second);
    queued_keys_.erase(q);
    lock.unlock();
    post_done(std::move(node.mapped().done), false);
    return;
  }
  if (auto r = running_.find(id); r != running_.end()) r->second.request_stop();
}

void WorkerPool::resize(int limit) {
  {
    MutexLock lock(mu_);
    limit_ = limit;
    grow_locked();
  }
  cv_.notify_all();
}

void WorkerPool::shutdown() {
  std::array<Queue, kLaneCount> cancelled;
  {
    MutexLock lock(mu_);
    shut_down_ = true;
    cancelled.swap(queues_);
    queued_keys_.clear();
    for (auto& [id, stop] : running_) stop.request_stop();
  }
  for (auto& queue : cancelled)
    for (auto& [key, task] : queue) post_done(std::move(task.done), false);
}

int WorkerPool::limit() const {
  MutexLock lock(mu_);
  return limit_;
}

int WorkerPool::running() const {
  MutexLock lock(mu_);
  return static_cast<int>(running_.size());
}

int WorkerPool::queued() const {
  MutexLock lock(mu_);
  return static_cast<int>(queued_keys_.size());
}

int WorkerPool::running(Lane lane) const {
  MutexLock lock(mu_);
  return running_in_[index(lane)];
}

int WorkerPool::queued(Lane lane) const {
  MutexLock lock(mu_);
  return static_cast<int>(queues_[index(lane)].size());
}

WorkerPool::Queue* WorkerPool::next_queue_locked() {
  if (shut_down_) return nullptr;
  Queue* best = nullptr;
  for (size_t l = 0; l < queues_.size(); ++l) {
    Queue& q = queues_[l];
    if (q.empty() || running_in_[l] >= limit_) continue;
    if (!best || q.begin()->first < best->begin()->first) best = &q;
  }
  return best;
}

void WorkerPool::grow_locked() {
  // Enough threads for every lane's slots at once.
  while (static_cast<int>(threads_.size()) < limit_ * kLaneCount)
    threads_.emplace_back([this](std::stop_token st) { worker_loop(st); });
}

void WorkerPool::worker_loop(std::stop_token pool_stop) {
  MutexLock lock(mu_);
  for (;;) {
    Queue* queue = nullptr;
    const bool go = cv_.wait(mu_, pool_stop, [this, &queue]() REQUIRES(mu_) {
      queue = next_queue_locked();
      return queue != nullptr;
    });
    if (!go) return;  // pool_stop: the destructor is joining
    auto node = queue->extract(queue->begin());
    Task task = std::move(node.mapped());
    queued_keys_.erase(task.id);
    running_.emplace(task.id, task.stop);
    ++running_in_[index(task.lane)];
    lock.unlock();
    try {
      task.work(task.stop.get_token());
    } catch (...) {
      // Work reports its own failures; nothing may take a worker thread down.
    }
    lock.lock();
    running_.erase(task.id);
    --running_in_[index(task.lane)];
    lock.unlock();
    // A slot is free: a waiting worker may now start a queued task.
    cv_.notify_all();
    post_done(std::move(task.done), true);
    // The work's captures die here, outside the lock: the last reference to a job's state may
    // close a Ceph connection or remove a half-written image, which must not stall the pool.
    task = Task{};
    lock.lock();
  }
}

void WorkerPool::post_done(Done done, bool ran) {
  if (done) boost::asio::post(io_, [done = std::move(done), ran] { done(ran); });
}

}  // namespace backy
