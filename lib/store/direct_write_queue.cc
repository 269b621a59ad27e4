#include "store/direct_write_queue.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "util/error.h"
#include "util/file_io.h"
#include "util/io_priority.h"

namespace backy {

namespace {
constexpr size_t kAlign = 4096;  // O_DIRECT's memory alignment: a page
}

void DirectWriteQueue::FreeDeleter::operator()(char* p) const {
  std::free(p);
}

DirectWriteQueue::DirectWriteQueue(FileSystem& fs, int direct_fd, int buffered_fd, std::string what,
                                   size_t buffers, size_t buffer_size, size_t writers,
                                   BlockBudget* budget)
    : fs_(fs),
      direct_fd_(direct_fd),
      buffered_fd_(buffered_fd),
      what_(std::move(what)),
      buffer_size_(buffer_size),
      max_buffers_(std::max<size_t>(buffers, 1)),
      budget_(budget) {
  for (size_t i = 0; i < std::max<size_t>(writers, 1); ++i)
    threads_.emplace_back([this](std::stop_token stop) { run(stop); });
}

DirectWriteQueue::~DirectWriteQueue() {
  for (auto& t : threads_) t.request_stop();
  for (auto& t : threads_) t.join();
}

char* DirectWriteQueue::grow() {
  if (memory_.size() >= max_buffers_) return nullptr;
  BlockBudget::Share share;
  if (!memory_.empty() && budget_) {  // the first buffer is the queue's own
    share = budget_->try_take(buffer_size_);
    if (!share) return nullptr;
  }
  std::unique_ptr<char, FreeDeleter> buf(
      static_cast<char*>(std::aligned_alloc(kAlign, buffer_size_)));
  if (!buf) throw Error("out of memory for the write buffers of " + what_);
  memory_.push_back(std::move(buf));
  if (share) shares_.push_back(std::move(share));
  return memory_.back().get();
}

char* DirectWriteQueue::buffer() {
  {
    MutexLock lock(mu_);
    throw_if_failed();
    if (!free_.empty()) {
      char* buf = free_.back();
      free_.pop_back();
      return buf;
    }
  }
  if (char* buf = grow()) return buf;
  MutexLock lock(mu_);
  cv_.wait(mu_, [this]() REQUIRES(mu_) { return !free_.empty() || error_; });
  throw_if_failed();
  char* buf = free_.back();
  free_.pop_back();
  return buf;
}

void DirectWriteQueue::submit(char* buf, uint64_t offset, size_t len) {
  {
    MutexLock lock(mu_);
    queued_.push_back({buf, offset, len, submitted_++});
  }
  cv_.notify_all();
}

void DirectWriteQueue::drain() {
  MutexLock lock(mu_);
  cv_.wait(mu_, [this]() REQUIRES(mu_) { return (queued_.empty() && writing_.empty()) || error_; });
  throw_if_failed();
}

bool DirectWriteQueue::refused() const {
  MutexLock lock(mu_);
  return refused_;
}

void DirectWriteQueue::throw_if_failed() {
  if (!error_) return;
  // A write queued before the failed one may still be in progress, and fail too: it is the one to
  // report (error_ keeps the first queued), whichever writer finished first.
  cv_.wait(mu_, [this]() REQUIRES(mu_) { return writing_.empty(); });
  throw sys_error("write " + what_ + " at offset " + std::to_string(error_->offset), error_->err);
}

void DirectWriteQueue::run(std::stop_token stop) {
  // A new thread inherits its creator's I/O class, and a file source's run reads with `idle`
  // (util/io_priority.h): that class is for reading the VM's disk, not for writing the backup's.
  // Buffered writes are written back by the kernel's threads at the default class; so are these.
  try {
    set_thread_io_priority({IoPriority::Class::none, 0});
  } catch (const Error&) {
    // Best effort: the class changes the order of requests, never their outcome.
  }
  MutexLock lock(mu_);
  for (;;) {
    cv_.wait(mu_, stop, [this]() REQUIRES(mu_) {
      return !queued_.empty() && !overlaps_writing(queued_.front());
    });
    if (stop.stop_requested()) return;
    const Write w = queued_.front();
    queued_.pop_front();
    if (error_) {  // the run is failing: nothing more is written
      free_.push_back(w.buf);
      cv_.notify_all();
      continue;
    }
    writing_.push_back(w);
    lock.unlock();
    const int err = write(w);
    lock.lock();
    std::erase_if(writing_, [&](const Write& x) { return x.buf == w.buf; });
    if (err != 0 && (!error_ || w.seq < error_->seq)) error_ = Failure{err, w.offset, w.seq};
    free_.push_back(w.buf);
    cv_.notify_all();
  }
}

bool DirectWriteQueue::overlaps_writing(const Write& w) const {
  return std::any_of(writing_.begin(), writing_.end(), [&](const Write& x) {
    return w.offset < x.offset + x.len && x.offset < w.offset + w.len;
  });
}

int DirectWriteQueue::write(const Write& w) {
  size_t done = 0;
  bool direct = !refused();
  while (done < w.len) {
    const int fd = direct ? direct_fd_ : buffered_fd_;
    const ssize_t n =
        fs_.pwrite(fd, w.buf + done, w.len - done, static_cast<off_t>(w.offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && direct) {  // refused after all: buffered from now on
        MutexLock lock(mu_);
        refused_ = true;
        direct = false;
        continue;
      }
      return errno;
    }
    if (n == 0) return EIO;  // no progress: would loop for ever
    done += static_cast<size_t>(n);
    // A short direct write leaves the rest unaligned: it goes buffered.
    if (done % kAlign != 0) direct = false;
  }
  return 0;
}

}  // namespace backy
