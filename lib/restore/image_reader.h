// ImageReader: an image file's content in offset order, read ahead on a thread of its own.
//
// Restore's input side (restore.h). The image is walked by its data extents (SEEK_DATA /
// SEEK_HOLE), so a hole is reported as one chunk and never read. Data is cut into chunks that
// never cross a kChunkSize boundary (a revision's block, an RBD image's default object), so every
// write a restore makes from them is object-aligned. A reader thread reads up to `depth` data
// chunks ahead of the consumer with large preads (POSIX_FADV_SEQUENTIAL: the kernel's readahead
// grows), into a ring of buffers made once; so reading the revision overlaps writing the target,
// and memory stays at depth * kChunkSize.
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

#include "util/thread_annotations.h"

namespace backy {

class ImageReader {
 public:
  static constexpr uint64_t kChunkSize = 4 << 20;

  struct Chunk {
    uint64_t offset = 0;
    uint64_t length = 0;
    bool hole = false;           // a hole of the image: nothing was read, data is empty
    std::span<const char> data;  // the `length` bytes at `offset`; valid until the next next()
  };

  // Reads `size` bytes of the image open on `fd` (with pread: the fd's offset is not used).
  // `name` names the image in errors. REQUIRES: depth >= 1.
  ImageReader(int fd, std::string name, uint64_t size, size_t depth = 8);
  ~ImageReader();
  ImageReader(const ImageReader&) = delete;
  ImageReader& operator=(const ImageReader&) = delete;

  // The next chunk, or nullopt after the last. Chunks come in offset order and cover [0, size)
  // without gaps. Throws backy::Error if reading failed or the image is shorter than `size`.
  std::optional<Chunk> next();

 private:
  void run(std::stop_token stop);
  // Hands a chunk (a hole, or data in buffers_[buffer]) to the consumer; false once stopped.
  bool put(std::stop_token& stop, Chunk chunk, size_t buffer);

  const int fd_;
  const std::string name_;
  const uint64_t size_;
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::vector<std::unique_ptr<char, Free>> buffers_;  // the ring; each kChunkSize, page-aligned

  Mutex mu_;
  CondVar changed_;  // a chunk was queued, a buffer came back, or the reader ended
  struct Queued {
    Chunk chunk;
    size_t buffer;  // index into buffers_ (unused for a hole)
  };
  std::deque<Queued> queue_ GUARDED_BY(mu_);  // ready chunks, oldest first
  std::vector<size_t> free_ GUARDED_BY(mu_);  // buffers the reader may fill
  std::optional<size_t> held_;                // the consumer's current buffer (consumer only)
  bool ended_ GUARDED_BY(mu_) = false;        // the reader queued its last chunk, or failed
  std::exception_ptr error_ GUARDED_BY(mu_);  // why it failed
  std::jthread thread_;                       // last: starts after everything above exists
};

}  // namespace backy
