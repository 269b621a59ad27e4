#include "restore/image_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <new>

#include "util/error.h"
#include "util/file_io.h"

namespace backy {

namespace {
constexpr size_t kPage = 4096;
}  // namespace

ImageReader::ImageReader(int fd, std::string name, uint64_t size, size_t depth)
    : fd_(fd), name_(std::move(name)), size_(size) {
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  for (size_t i = 0; i < std::max<size_t>(depth, 1); ++i) {
    // Page-aligned, for O_DIRECT.
    buffers_.emplace_back(static_cast<char*>(std::aligned_alloc(kPage, kChunkSize)));
    if (!buffers_.back()) throw std::bad_alloc();
  }
  {
    MutexLock lock(mu_);
    for (size_t i = 0; i < buffers_.size(); ++i) free_.push_back(i);
  }
  thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
}

ImageReader::~ImageReader() {
  thread_.request_stop();  // wakes a put() waiting for a free buffer
  thread_.join();
}

std::optional<ImageReader::Chunk> ImageReader::next() {
  MutexLock lock(mu_);
  if (held_) {
    free_.push_back(*held_);
    held_.reset();
    changed_.notify_all();
  }
  changed_.wait(mu_, [this]() REQUIRES(mu_) { return !queue_.empty() || ended_; });
  if (queue_.empty()) {
    if (error_) std::rethrow_exception(error_);
    return std::nullopt;
  }
  Queued q = queue_.front();
  queue_.pop_front();
  if (!q.chunk.hole) held_ = q.buffer;
  return q.chunk;
}

bool ImageReader::put(std::stop_token& stop, Chunk chunk, size_t buffer) {
  MutexLock lock(mu_);
  if (stop.stop_requested()) return false;
  queue_.push_back({chunk, buffer});
  changed_.notify_all();
  return true;
}

void ImageReader::run(std::stop_token stop) {
  auto take_buffer = [&]() -> std::optional<size_t> {
    MutexLock lock(mu_);
    if (!changed_.wait(mu_, stop, [this]() REQUIRES(mu_) { return !free_.empty(); }))
      return std::nullopt;
    size_t b = free_.back();
    free_.pop_back();
    return b;
  };
  try {
    const int flags = ::fcntl(fd_, F_GETFL);
    const bool direct = flags >= 0 && (flags & O_DIRECT) != 0;
    uint64_t pos = 0;
    while (pos < size_) {
      off_t data = ::lseek(fd_, static_cast<off_t>(pos), SEEK_DATA);
      if (data < 0 && errno != ENXIO) throw sys_error("seek data in " + name_);
      const uint64_t data_start =
          data < 0 ? size_ : std::min<uint64_t>(size_, static_cast<uint64_t>(data));
      if (data_start > pos && !put(stop, {pos, data_start - pos, true, {}}, 0)) return;
      if (data_start >= size_) break;
      off_t hole = ::lseek(fd_, static_cast<off_t>(data_start), SEEK_HOLE);
      if (hole < 0) throw sys_error("seek hole in " + name_);
      const uint64_t data_end = std::min<uint64_t>(size_, static_cast<uint64_t>(hole));
      for (uint64_t off = data_start; off < data_end;) {
        const uint64_t end = std::min(data_end, (off / kChunkSize + 1) * kChunkSize);
        const std::optional<size_t> b = take_buffer();
        if (!b) return;
        char* buf = buffers_[*b].get();
        const size_t len = static_cast<size_t>(end - off);
        // O_DIRECT reads whole pages: the last chunk's may run past the end of the file.
        const size_t want = direct ? (len + kPage - 1) / kPage * kPage : len;
        if (pread_full(fd_, std::span<char>(buf, want), off, name_) < len)
          throw Error(name_ + " is shorter than its revision's size");
        if (!put(stop, {off, len, false, std::span<const char>(buf, len)}, *b)) return;
        off = end;
      }
      pos = data_end;
    }
  } catch (...) {
    MutexLock lock(mu_);
    error_ = std::current_exception();
  }
  MutexLock lock(mu_);
  ended_ = true;
  changed_.notify_all();
}

}  // namespace backy
