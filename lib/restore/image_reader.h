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
// `depth` chunks wait for the consumer; memory is that plus what the consumer still holds.
//
// Why a thread: restore's writes are asynchronous into RBD (librbd aio) and into the page cache of
// a file, but a cold pread blocks; with the read on another thread the writer always has the
// next chunk ready.
//
// Threads: one consumer thread calls next(); the reader thread is internal. The destructor stops
// and joins it (a pread under way finishes first). A read error or a short image is rethrown by
// next(), at the position where it happened.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "restore/chunk_memory.h"
#include "util/thread_annotations.h"

namespace backy {

class ImageReader {
 public:
  static constexpr uint64_t kChunkSize = ChunkMemory::kSize;

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
  // reader's own). REQUIRES: depth >= 1.
  ImageReader(int fd, std::string name, uint64_t size, size_t depth = 8,
              ChunkAllocator allocate = {});
  ~ImageReader();
  ImageReader(const ImageReader&) = delete;
  ImageReader& operator=(const ImageReader&) = delete;

  // The next chunk, or nullopt after the last. Chunks come in offset order and cover [0, size)
  // without gaps. Throws backy::Error if reading failed or the image is shorter than `size`.
  std::optional<Chunk> next();

 private:
  void run(std::stop_token stop);
  // Waits until fewer than depth_ data chunks are queued; false once stopped.
  bool wait_for_room(std::stop_token& stop);
  // Hands a chunk to the consumer; false once stopped.
  bool put(std::stop_token& stop, Chunk chunk);

  const int fd_;
  const std::string name_;
  const uint64_t size_;
  const size_t depth_;
  const ChunkAllocator allocate_;  // called on the reader thread only

  Mutex mu_;
  CondVar changed_;                           // a chunk was queued or taken, or the reader ended
  std::deque<Chunk> queue_ GUARDED_BY(mu_);   // ready chunks, oldest first
  size_t queued_data_ GUARDED_BY(mu_) = 0;    // data chunks in queue_
  bool ended_ GUARDED_BY(mu_) = false;        // the reader queued its last chunk, or failed
  std::exception_ptr error_ GUARDED_BY(mu_);  // why it failed
  std::jthread thread_;                       // last: starts after everything above exists
};

}  // namespace backy
