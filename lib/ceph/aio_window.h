// RbdAioWindow: a bounded window of librbd aio operations in flight, finished on the caller's
// thread.
//
// librbd completes aio on its own threads. Those callbacks only queue the slot's index (under a
// mutex) and wake the caller; the caller, in wait_one(), takes the result and does the real work
// (hash, write, next request) on its own thread. Each in-flight operation holds a reference to
// the window's shared state, so a completion that arrives after the window is gone (it never
// should: the destructor drains) touches live memory, never a dead `this`.
//
// Slots and their bufferlists are made once and reused; only librbd's AioCompletion is new per
// operation (librbd requires it to be heap-allocated and released).
//
// One thread uses a window; it is neither copyable nor movable.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "ceph/ceph_api.h"

namespace backy {

class RbdAioWindow {
 public:
  struct Slot {
    ceph::bufferlist bl;  // what a read returned, or what a write sends
    uint64_t offset = 0;
    uint64_t length = 0;
    uint64_t tag = 0;     // the caller's (a block index)
    int64_t result = 0;   // librbd's return value, set by wait_one()
    ceph::bufferptr own;  // a buffer the caller may keep for this slot across operations
  };

  explicit RbdAioWindow(size_t depth);
  // Waits for every operation still in flight.
  ~RbdAioWindow();
  RbdAioWindow(const RbdAioWindow&) = delete;
  RbdAioWindow& operator=(const RbdAioWindow&) = delete;

  size_t depth() const;
  size_t in_flight() const;
  bool full() const { return in_flight() == depth(); }
  // How many operations have finished and wait for wait_one() (it would not block).
  size_t finished() const;

  // A free slot for the next operation. REQUIRES: !full().
  Slot& free_slot();
  // Starts an operation on `slot` (from free_slot()): `issue` calls librbd's aio_* with the
  // completion. A negative return from `issue` frees the slot and is returned.
  int start(Slot& slot, const std::function<int(librbd::RBD::AioCompletion*)>& issue);
  // Waits for one operation to finish and returns its slot with `result` set. The slot is free
  // again: its contents stay valid until the next free_slot(). REQUIRES: in_flight() > 0.
  Slot& wait_one();
  // Waits for every operation in flight, dropping results.
  void drain() noexcept;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

}  // namespace backy
