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

// The reader's own chunk memory: page-aligned buffers, each back in the pool when the last
// holder of its chunk lets go (the pool outlives the reader while a consumer holds a chunk).
class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  std::shared_ptr<ChunkMemory> take() {
    std::unique_ptr<char, Free> buffer;
    {
      MutexLock lock(mu_);
      if (!free_.empty()) {
        buffer = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!buffer) {
      buffer.reset(static_cast<char*>(std::aligned_alloc(kPage, ChunkMemory::kSize)));
      if (!buffer) throw std::bad_alloc();
    }
    return std::make_shared<Pooled>(shared_from_this(), std::move(buffer));
  }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  class Pooled : public ChunkMemory {
   public:
    Pooled(std::shared_ptr<BufferPool> pool, std::unique_ptr<char, Free> buffer)
        : pool_(std::move(pool)), buffer_(std::move(buffer)) {}
    ~Pooled() override {
      MutexLock lock(pool_->mu_);
      pool_->free_.push_back(std::move(buffer_));
    }
    char* data() override { return buffer_.get(); }

   private:
    std::shared_ptr<BufferPool> pool_;
    std::unique_ptr<char, Free> buffer_;
  };

  Mutex mu_;
  std::vector<std::unique_ptr<char, Free>> free_ GUARDED_BY(mu_);
};

ChunkAllocator own_buffers() {
  return [pool = std::make_shared<BufferPool>()] { return pool->take(); };
}

}  // namespace

ImageReader::ImageReader(int fd, std::string name, uint64_t size, size_t depth,
                         ChunkAllocator allocate)
    : fd_(fd),
      name_(std::move(name)),
      size_(size),
      depth_(std::max<size_t>(depth, 1)),
      allocate_(allocate ? std::move(allocate) : own_buffers()) {
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
}

ImageReader::~ImageReader() {
  thread_.request_stop();  // wakes a reader waiting for room
  thread_.join();
}

std::optional<ImageReader::Chunk> ImageReader::next() {
  MutexLock lock(mu_);
  changed_.wait(mu_, [this]() REQUIRES(mu_) { return !queue_.empty() || ended_; });
  if (queue_.empty()) {
    if (error_) std::rethrow_exception(error_);
    return std::nullopt;
  }
  Chunk c = std::move(queue_.front());
  queue_.pop_front();
  if (!c.hole) {
    --queued_data_;
    changed_.notify_all();
  }
  return c;
}

bool ImageReader::wait_for_room(std::stop_token& stop) {
  MutexLock lock(mu_);
  return changed_.wait(mu_, stop, [this]() REQUIRES(mu_) { return queued_data_ < depth_; });
}

bool ImageReader::put(std::stop_token& stop, Chunk chunk) {
  MutexLock lock(mu_);
  if (stop.stop_requested()) return false;
  if (!chunk.hole) ++queued_data_;
  queue_.push_back(std::move(chunk));
  changed_.notify_all();
  return true;
}

void ImageReader::run(std::stop_token stop) {
  try {
    const int flags = ::fcntl(fd_, F_GETFL);
    const bool direct = flags >= 0 && (flags & O_DIRECT) != 0;
    uint64_t pos = 0;
    while (pos < size_) {
      off_t data = ::lseek(fd_, static_cast<off_t>(pos), SEEK_DATA);
      if (data < 0 && errno != ENXIO) throw sys_error("seek data in " + name_);
      const uint64_t data_start =
          data < 0 ? size_ : std::min<uint64_t>(size_, static_cast<uint64_t>(data));
      if (data_start > pos && !put(stop, {pos, data_start - pos, true, {}, nullptr})) return;
      if (data_start >= size_) break;
      off_t hole = ::lseek(fd_, static_cast<off_t>(data_start), SEEK_HOLE);
      if (hole < 0) throw sys_error("seek hole in " + name_);
      const uint64_t data_end = std::min<uint64_t>(size_, static_cast<uint64_t>(hole));
      for (uint64_t off = data_start; off < data_end;) {
        const uint64_t end = std::min(data_end, (off / kChunkSize + 1) * kChunkSize);
        if (!wait_for_room(stop)) return;
        std::shared_ptr<ChunkMemory> memory = allocate_();
        char* buf = memory->data();
        const size_t len = static_cast<size_t>(end - off);
        // O_DIRECT reads whole pages: the last chunk's may run past the end of the file.
        const size_t want = direct ? (len + kPage - 1) / kPage * kPage : len;
        if (pread_full(fd_, std::span<char>(buf, want), off, name_) < len)
          throw Error(name_ + " is shorter than its revision's size");
        if (!put(stop, {off, len, false, std::span<const char>(buf, len), std::move(memory)}))
          return;
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
