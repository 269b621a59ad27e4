// DirectWriteQueue: O_DIRECT writes of whole blocks, done by a few threads of its own, so that
// the caller goes on (hashing the next block, taking the next read from the source) while the
// disk writes the last ones.
//
// An O_DIRECT write returns only when the device has the data; done on the caller's thread it
// would stall the run for every block. Here the caller copies a block into one of a few
// page-aligned buffers (O_DIRECT needs aligned memory, and the source's buffers are not: librbd
// hands out reads at arbitrary addresses, so one copy is needed anyway) and queues it; the
// writer threads take the buffers in order. With every buffer queued, buffer() waits: the queue
// is bounded, and so is the memory. The first buffer is the queue's own; each further one (up to
// `buffers`) is made only when it is wanted and a share of the BlockBudget all runs draw from
// allows it (store/block_budget.h), so a run alone queues `buffers` blocks, and many runs at once
// hold their first buffers plus the budget between them. The buffers go when the queue does.
//
// More than one writer keeps more than one request at the device: a single stream of 4 MiB
// direct writes leaves the device idle between the end of one and the start of the next. On the
// test XFS, 1 GiB written by two dd processes took 0.66-0.93 s against 0.92-1.01 s for one, and a
// 1 GiB full backup's run from RBD took 1.13-1.37 s with two writers against 1.39-1.67 s with one
// (interleaved runs on a loaded machine).
// Writes to different ranges may therefore finish in any order. A queued write that overlaps
// one in progress waits for it, so writes to the same bytes land in the order they were queued.
//
// Where the filesystem refuses O_DIRECT after all (EINVAL), and for the rest of a short write,
// the writers write through `buffered_fd` instead; refused() tells the caller to stop queueing.
// Any other failure is kept (the write queued first, of those that failed), the writes queued
// after it are dropped, and, once the writes in progress have ended, buffer() and drain() throw
// it: the caller's run fails, and its files are removed.
//
// The writer threads write with the kernel's default I/O class, not the one of the thread that
// made the queue (a file source's run reads with `idle`: util/io_priority.h).
//
// buffer(), submit() and drain() are for one thread (the caller's). The fds must stay open while
// the queue lives. Neither copyable nor movable; hold it by pointer to move it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/block_budget.h"
#include "util/file_system.h"
#include "util/thread_annotations.h"

namespace backy {

class DirectWriteQueue {
 public:
  // Writes to `direct_fd` (O_DIRECT) through `fs`, falling back to `buffered_fd` (the same
  // file); `what` names the file in errors. At most `buffers` blocks of `buffer_size` bytes
  // each: the first unconditionally, the others while `budget` grants them (null: no budget,
  // all of them); the budget must outlive the queue. `writers` threads (at least 1) write them.
  DirectWriteQueue(FileSystem& fs, int direct_fd, int buffered_fd, std::string what, size_t buffers,
                   size_t buffer_size, size_t writers = 1, BlockBudget* budget = nullptr);
  // Stops after the writes in progress; queued writes are dropped (the run is failing, or
  // drain() ran).
  ~DirectWriteQueue();
  DirectWriteQueue(const DirectWriteQueue&) = delete;
  DirectWriteQueue& operator=(const DirectWriteQueue&) = delete;

  size_t buffer_size() const { return buffer_size_; }
  // A free, page-aligned buffer of buffer_size() bytes: a new one when none is free and the
  // budget allows, else waits until one is written. Throws the error of a failed write.
  char* buffer();
  // Buffers made so far (never more than `buffers`).
  size_t buffers() const { return memory_.size(); }
  // Queues the write of buf[0, len) at `offset`. REQUIRES: `buf` came from buffer() and was not
  // submitted since; offset and len are multiples of the page size; len <= buffer_size().
  void submit(char* buf, uint64_t offset, size_t len);
  // Waits until every queued write is done. Throws the error of a failed write.
  void drain();
  // Whether a write was refused with EINVAL (it and later ones were written buffered).
  bool refused() const;

 private:
  struct Write {
    char* buf;
    uint64_t offset;
    size_t len;
    uint64_t seq;  // the order of submit()
  };
  struct Failure {
    int err;
    uint64_t offset, seq;
  };
  struct FreeDeleter {
    void operator()(char* p) const;
  };

  void run(std::stop_token stop);
  // Whether `w` overlaps a write in progress (then it waits for that one).
  bool overlaps_writing(const Write& w) const REQUIRES(mu_);
  // Writes one block; returns errno of a failure, 0 on success.
  int write(const Write& w);
  void throw_if_failed() REQUIRES(mu_);
  // Makes one more buffer and hands it out; nullptr when the queue has all it may have or the
  // budget says no. The caller's thread only.
  char* grow();

  FileSystem& fs_;
  const int direct_fd_, buffered_fd_;
  const std::string what_;
  const size_t buffer_size_;
  const size_t max_buffers_;
  BlockBudget* const budget_;
  // Made and released on the caller's thread only (the writer sees buffers through free_ and
  // queued_): the buffers, and the budget's shares for all but the first.
  std::vector<std::unique_ptr<char, FreeDeleter>> memory_;
  std::vector<BlockBudget::Share> shares_;

  mutable Mutex mu_;
  CondVar cv_;
  std::vector<char*> free_ GUARDED_BY(mu_);
  std::deque<Write> queued_ GUARDED_BY(mu_);
  std::vector<Write> writing_ GUARDED_BY(mu_);  // taken from queued_ by a writer, in progress
  bool refused_ GUARDED_BY(mu_) = false;
  uint64_t submitted_ GUARDED_BY(mu_) = 0;
  // The failed write that was queued first. Reported once no write is in progress, so that which
  // failure the caller sees does not depend on which writer finished first.
  std::optional<Failure> error_ GUARDED_BY(mu_);
  std::vector<std::jthread> threads_;  // last: joined before the members they use go
};

}  // namespace backy
