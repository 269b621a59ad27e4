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
  const int flags = ::fcntl(fd_, F_GETFL);
  direct_ = flags >= 0 && (flags & O_DIRECT) != 0;
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  const size_t readers = direct_ ? std::min(kDirectReads, depth_) : 1;
  {
    MutexLock lock(mu_);
    running_ = readers;
  }
  try {
    for (size_t i = 0; i < readers; ++i)
      threads_.emplace_back([this, stop = stop_.get_token()] { run(stop); });
  } catch (...) {
    stop_.request_stop();
    for (std::thread& t : threads_) t.join();
    throw;
  }
}

ImageReader::~ImageReader() {
  stop_.request_stop();  // wakes readers waiting for room
  for (std::thread& t : threads_) t.join();
}

std::optional<ImageReader::Chunk> ImageReader::next() {
  MutexLock lock(mu_);
  changed_.wait(mu_, [this]() REQUIRES(mu_) {
    return error_ || (!queue_.empty() && queue_.front().ready) || (queue_.empty() && running_ == 0);
  });
  if (error_) std::rethrow_exception(error_);
  if (queue_.empty()) return std::nullopt;
  Slot slot = std::move(queue_.front());
  queue_.pop_front();
  if (slot.counted) {
    --queued_data_;
    changed_.notify_all();
  }
  if (slot.error) {
    error_ = slot.error;
    std::rethrow_exception(error_);
  }
  return std::move(slot.chunk);
}

bool ImageReader::put(std::stop_token& stop, Slot slot) {
  MutexLock lock(mu_);
  if (stop.stop_requested()) return false;
  queue_.push_back(std::move(slot));
  changed_.notify_all();
  return true;
}

ImageReader::Slot* ImageReader::plan(std::stop_token& stop) {
  if (planned_) return nullptr;
  try {
    while (walked_ < size_) {
      if (walked_ < data_end_) {
        // The next chunk of the data extent, up to the next kChunkSize boundary.
        const uint64_t end = std::min(data_end_, (walked_ / kChunkSize + 1) * kChunkSize);
        {
          // Only the planning thread adds data chunks: the room stays while mu_ is let go.
          MutexLock lock(mu_);
          if (!changed_.wait(mu_, stop, [this]() REQUIRES(mu_) { return queued_data_ < depth_; }))
            return nullptr;
        }
        Slot slot{{walked_, end - walked_, false, {}, nullptr}, false, nullptr, true};
        try {
          slot.chunk.memory = allocate_();  // here, so that the allocator is called in order
        } catch (...) {
          slot.error = std::current_exception();
          slot.ready = true;
        }
        walked_ = end;
        MutexLock lock(mu_);
        ++queued_data_;
        Slot& queued = queue_.emplace_back(std::move(slot));
        if (!queued.ready) return &queued;
        planned_ = true;  // no memory: this chunk fails, and nothing after it is read
        changed_.notify_all();
        return nullptr;
      }
      const off_t data = ::lseek(fd_, static_cast<off_t>(walked_), SEEK_DATA);
      if (data < 0 && errno != ENXIO) throw sys_error("seek data in " + name_);
      const uint64_t data_start =
          data < 0 ? size_ : std::min<uint64_t>(size_, static_cast<uint64_t>(data));
      if (data_start > walked_ &&
          !put(stop,
               Slot{{walked_, data_start - walked_, true, {}, nullptr}, true, nullptr, false}))
        return nullptr;
      walked_ = data_start;
      if (walked_ >= size_) break;
      const off_t hole = ::lseek(fd_, static_cast<off_t>(data_start), SEEK_HOLE);
      if (hole < 0) throw sys_error("seek hole in " + name_);
      data_end_ = std::min<uint64_t>(size_, static_cast<uint64_t>(hole));
    }
  } catch (...) {
    put(stop, Slot{{walked_, 0, false, {}, nullptr}, true, std::current_exception(), false});
  }
  planned_ = true;
  return nullptr;
}

void ImageReader::read(Slot& slot) {
  Chunk chunk = slot.chunk;
  std::exception_ptr error;
  try {
    char* buf = chunk.memory->data();
    const size_t len = static_cast<size_t>(chunk.length);
    // O_DIRECT reads whole pages: the last chunk's may run past the end of the file.
    const size_t want = direct_ ? (len + kPage - 1) / kPage * kPage : len;
    if (pread_full(fd_, std::span<char>(buf, want), chunk.offset, name_) < len)
      throw Error(name_ + " is shorter than its revision's size");
    chunk.data = std::span<const char>(buf, len);
  } catch (...) {
    error = std::current_exception();
    chunk.memory.reset();
  }
  MutexLock lock(mu_);
  slot.chunk = std::move(chunk);
  slot.error = std::move(error);
  slot.ready = true;
  changed_.notify_all();
}

void ImageReader::run(std::stop_token stop) {
  for (;;) {
    Slot* slot = nullptr;
    {
      MutexLock lock(plan_mu_);
      slot = plan(stop);
    }
    if (!slot) break;
    read(*slot);
  }
  MutexLock lock(mu_);
  --running_;
  changed_.notify_all();
}

}  // namespace backy
