#include "ceph/aio_window.h"

#include <deque>
#include <vector>

#include "util/thread_annotations.h"

namespace backy {

struct RbdAioWindow::Shared {
  struct Entry {
    size_t index = 0;
    librbd::RBD::AioCompletion* completion = nullptr;
    // Set while in flight: the operation keeps the state alive until its callback has run.
    std::shared_ptr<Shared> keep;
  };

  explicit Shared(size_t depth) : slots(depth), entries(depth) {
    for (size_t i = 0; i < depth; ++i) {
      entries[i].index = i;
      free.push_back(i);
    }
  }

  std::vector<Slot> slots;
  std::vector<Entry> entries;
  std::vector<size_t> free;  // caller's thread only
  size_t in_flight = 0;      // caller's thread only

  Mutex mu;
  CondVar cv;
  std::deque<size_t> done GUARDED_BY(mu);

  // librbd's callback thread: queue the slot, wake the caller, nothing more.
  static void on_complete(librbd::completion_t, void* arg) {
    auto* entry = static_cast<Entry*>(arg);
    std::shared_ptr<Shared> keep = std::move(entry->keep);
    {
      MutexLock lock(keep->mu);
      keep->done.push_back(entry->index);
    }
    keep->cv.notify_one();
  }
};

RbdAioWindow::RbdAioWindow(size_t depth)
    : shared_(std::make_shared<Shared>(depth == 0 ? 1 : depth)) {}

RbdAioWindow::~RbdAioWindow() {
  drain();
}

size_t RbdAioWindow::depth() const {
  return shared_->slots.size();
}
size_t RbdAioWindow::in_flight() const {
  return shared_->in_flight;
}

size_t RbdAioWindow::finished() const {
  MutexLock lock(shared_->mu);
  return shared_->done.size();
}

RbdAioWindow::Slot& RbdAioWindow::free_slot() {
  return shared_->slots[shared_->free.back()];
}

int RbdAioWindow::start(Slot& slot, const std::function<int(librbd::RBD::AioCompletion*)>& issue) {
  Shared& s = *shared_;
  const size_t index = static_cast<size_t>(&slot - s.slots.data());
  Shared::Entry& e = s.entries[index];
  e.keep = shared_;
  e.completion = new librbd::RBD::AioCompletion(&e, &Shared::on_complete);
  std::erase(s.free, index);
  ++s.in_flight;
  int r = issue(e.completion);
  if (r < 0) {
    // librbd did not take the operation: no callback will come.
    e.completion->release();
    e.completion = nullptr;
    e.keep.reset();
    s.free.push_back(index);
    --s.in_flight;
  }
  return r;
}

RbdAioWindow::Slot& RbdAioWindow::wait_one() {
  Shared& s = *shared_;
  size_t index;
  {
    MutexLock lock(s.mu);
    s.cv.wait(s.mu, [&s]() REQUIRES(s.mu) { return !s.done.empty(); });
    index = s.done.front();
    s.done.pop_front();
  }
  Shared::Entry& e = s.entries[index];
  Slot& slot = s.slots[index];
  slot.result = e.completion->get_return_value();
  e.completion->release();
  e.completion = nullptr;
  s.free.push_back(index);
  --s.in_flight;
  return slot;
}

void RbdAioWindow::drain() noexcept {
  while (shared_ && shared_->in_flight > 0) wait_one();
}

}  // namespace backy
