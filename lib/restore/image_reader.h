// ImageReader: an image file's content in offset order, read ahead on a thread of its own.
//
// Restore's input side (restore.h). The image is walked by its data extents (SEEK_DATA /
// SEEK_HOLE), so a hole is reported as one chunk and never read. Data is cut into chunks that
// never cross a kChunkSize boundary (a revision's block, an RBD image's default object), so every
// write a restore makes from them is object-aligned. A reader thread reads up to `depth` data
// chunks ahead of the consumer with large preads (POSIX_FADV_SEQUENTIAL: the kernel's readahead
// grows), so reading the revision overlaps writing the target. Each data chunk is read into memory
// from an allocator (chunk_memory.h): by default buffers of the reader's own, reused once the
// consumer has let go of them; or the target's, which it then sends without a copy. At most
// `depth` data chunks are being read or wait for the consumer; memory is that plus what the
// consumer still holds.
//
// Why a thread: restore's writes are asynchronous into RBD (librbd aio) and into the page cache of
// a file, but a cold pread blocks; with the read on another thread the writer always has the
// next chunk ready.
//
// Why several with O_DIRECT: a buffered read has the kernel's readahead in flight behind it, a
// direct one has nothing; one 4 MiB pread at a time leaves the device idle between reads (a
// cold 1 GiB revision on the test XFS, read whole by this class, medians of 6: 1.22 s with one
// read in flight, 1.03 s with two, 0.94 s with four, 1.10 s with eight). So an fd opened with
// O_DIRECT gets kDirectReads reader threads, each reading the next chunk not yet taken; chunks
// still reach the consumer in offset order. A buffered fd gets one. Two, not four: a restore to
// a file on the same disk shares the disk between the reads and its writes, and the reads need
// not get ahead of the writes by more than one request.
//
// Threads: one consumer thread calls next(); the reader threads are internal. The destructor
// stops and joins them (preads under way finish first). A read error or a short image is rethrown
// by next(), at the position where it happened: chunks before it are handed over first.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "restore/chunk_memory.h"
#include "util/thread_annotations.h"

namespace backy {

class ImageReader {
 public:
  static constexpr uint64_t kChunkSize = ChunkMemory::kSize;
  // Reads in flight on an fd opened with O_DIRECT (never more than `depth`).
  static constexpr size_t kDirectReads = 2;

  struct Chunk {
    uint64_t offset = 0;
    uint64_t length = 0;
    bool hole = false;           // a hole of the image: nothing was read, data is empty
    std::span<const char> data;  // the `length` bytes at `offset`, in `memory`
    // Holds `data` (null for a hole): valid and unchanged while a copy of this lives.
    std::shared_ptr<ChunkMemory> memory;
  };

  // Reads `size` bytes of the image open on `fd` (with pread: the fd's offset is not used).
  // `name` names the image in errors. `allocate` gives the memory of each data chunk (empty: the
  // reader's own); it is called by one reader thread at a time, in offset order. REQUIRES:
  // depth >= 1.
  ImageReader(int fd, std::string name, uint64_t size, size_t depth = 8,
              ChunkAllocator allocate = {});
  ~ImageReader();
  ImageReader(const ImageReader&) = delete;
  ImageReader& operator=(const ImageReader&) = delete;

  // The next chunk, or nullopt after the last. Chunks come in offset order and cover [0, size)
  // without gaps. Throws backy::Error if reading failed or the image is shorter than `size`.
  std::optional<Chunk> next();

 private:
  // A chunk in the queue: a hole or a failure is ready when queued; a data chunk once its read
  // ended (with `error` set if it failed).
  struct Slot {
    Chunk chunk;  // a data chunk's memory is there from the start
    bool ready = false;
    std::exception_ptr error;  // set: next() throws this here instead of handing the chunk over
    bool counted = false;      // a data chunk: counts against depth_
  };

  void run(std::stop_token stop);
  // Under plan_mu_: queues the holes before the next data chunk, then that chunk with its memory,
  // unread; returns it, or null at the image's end, after queueing a failure of the walk, or once
  // stopped.
  Slot* plan(std::stop_token& stop) REQUIRES(plan_mu_);
  // Reads `slot`'s chunk (planned by this thread; nobody else touches it until it is ready) and
  // marks it ready.
  void read(Slot& slot);
  // Queues a ready slot; false once stopped.
  bool put(std::stop_token& stop, Slot slot);

  const int fd_;
  const std::string name_;
  const uint64_t size_;
  const size_t depth_;
  const ChunkAllocator allocate_;
  bool direct_ = false;  // fd_ has O_DIRECT: reads are of whole pages

  // The walk of the image's extents, by one reader thread at a time. Lock order: plan_mu_, mu_.
  Mutex plan_mu_;
  uint64_t walked_ GUARDED_BY(plan_mu_) = 0;    // queued up to here
  uint64_t data_end_ GUARDED_BY(plan_mu_) = 0;  // end of the data extent being cut into chunks
  bool planned_ GUARDED_BY(plan_mu_) = false;   // the last chunk or a failure is queued

  Mutex mu_;
  CondVar changed_;  // a chunk was queued, read or taken, or a reader thread ended
  // Chunks in offset order, oldest first. A reader thread keeps a pointer to the slot it queued
  // until its read ends (a deque's elements stay where they are while others are added and
  // taken, and next() never takes a slot that is not ready).
  std::deque<Slot> queue_ GUARDED_BY(mu_);
  size_t queued_data_ GUARDED_BY(mu_) = 0;    // counted slots in queue_, read or being read
  size_t running_ GUARDED_BY(mu_) = 0;        // reader threads not yet ended
  std::exception_ptr error_ GUARDED_BY(mu_);  // the failure next() threw, thrown again
  std::stop_source stop_;
  std::vector<std::thread> threads_;  // last: start after everything above exists
};

}  // namespace backy
