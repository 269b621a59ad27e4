// ChunkMemory: the memory one chunk of a revision is read into, shared between the reader and
// the restore target that writes it.
//
// Restore reads a revision in chunks of up to 4 MiB (image_reader.h) and hands each to a target
// (restore.h). A target that sends data asynchronously (RBD: librbd keeps the buffer until the
// write is on the wire) would otherwise copy every chunk into memory of its own; instead it
// allocates the memory the reader reads into (RestoreTarget::chunk_allocator), and its write
// keeps a reference to that memory rather than a copy. Whoever holds the shared_ptr keeps the
// bytes alive and unchanged; an allocator reuses memory only once nobody else holds it.
#pragma once

#include <functional>
#include <memory>

namespace backy {

class ChunkMemory {
 public:
  // ImageReader::kChunkSize bytes, page-aligned (O_DIRECT reads go straight into it).
  static constexpr size_t kSize = 4 << 20;

  virtual ~ChunkMemory() = default;
  virtual char* data() = 0;
};

// Called by the reader's threads, one call at a time, once per data chunk in offset order; never
// returns null (throws instead: that chunk fails).
using ChunkAllocator = std::function<std::shared_ptr<ChunkMemory>()>;

}  // namespace backy
