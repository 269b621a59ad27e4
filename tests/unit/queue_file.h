// QueueFile: one scratch file open twice, as ImageWriter opens an image for a DirectWriteQueue
// (store/direct_write_queue.h): read-write, and read-write with O_DIRECT. Plus queue_copy, how a
// test hands a queue its bytes.
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>

#include "scratch_dir.h"
#include "store/direct_write_queue.h"
#include "util/fd.h"
#include "util/file_io.h"

namespace backy::test {

struct QueueFile {
  ScratchDir scratch;
  std::filesystem::path path = scratch.dir / "f";
  UniqueFd buffered = open_file(path, O_RDWR | O_CREAT, 0600);
  UniqueFd direct = open_file(path, O_RDWR | O_DIRECT);
};

// Takes a buffer of `q`, copies `data` into it and queues its write at `offset`.
// REQUIRES: data.size() <= q.buffer_size().
inline void queue_copy(DirectWriteQueue& q, std::span<const char> data, uint64_t offset) {
  char* buf = q.buffer();
  std::memcpy(buf, data.data(), data.size());
  q.submit(buf, offset, data.size());
}

}  // namespace backy::test
