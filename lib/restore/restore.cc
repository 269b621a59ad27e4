#include "restore/restore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "store/block_sums.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file_io.h"

namespace backy {

namespace {

class FdTarget : public RestoreTarget {
 public:
  FdTarget(std::string name, UniqueFd fd, bool zero_filled, bool sync, bool stream)
      : name_(std::move(name)),
        fd_(std::move(fd)),
        zero_filled_(zero_filled),
        sync_(sync),
        stream_(stream) {}

  bool zero_filled() const override { return zero_filled_; }

  void write(uint64_t offset, std::span<const char> data) override {
    if (!stream_) return pwrite_full(fd_.get(), data, offset, name_);
    // A pipe has no offsets: the caller writes in order and fills holes.
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_.get(), data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw sys_error("write " + name_);
      }
      done += static_cast<size_t>(n);
    }
  }

  void finish() override {
    if (sync_ && ::fsync(fd_.get()) != 0) throw sys_error("fsync " + name_);
  }

 private:
  std::string name_;
  UniqueFd fd_;
  bool zero_filled_, sync_, stream_;
};

}  // namespace

std::unique_ptr<RestoreTarget> open_file_target(const std::string& target, uint64_t size,
                                                bool force) {
  if (target == "-")
    return std::make_unique<FdTarget>("stdout", UniqueFd(::dup(1)), false, false, true);
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0) {
    if (S_ISBLK(st.st_mode)) {
      if (!force) throw Error(target + " is a block device; restoring overwrites it: use --force");
      UniqueFd fd = open_file(target, O_WRONLY);
      uint64_t dev = file_or_device_size(fd.get(), target);
      if (dev < size)
        throw Error("block device " + target + " holds " + std::to_string(dev) +
                    " bytes, the revision " + std::to_string(size));
      return std::make_unique<FdTarget>(target, std::move(fd), false, true, false);
    }
    if (!S_ISREG(st.st_mode)) throw Error(target + " is neither a regular file nor a block device");
    if (!force) throw Error(target + " exists; use --force to overwrite it");
  }
  UniqueFd fd = open_file(target, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
    throw sys_error("set size of " + target);
  return std::make_unique<FdTarget>(target, std::move(fd), true, true, false);
}

void restore_image(const std::filesystem::path& image, uint64_t size, RestoreTarget& target,
                   const RestoreProgress& progress, std::stop_token stop) {
  UniqueFd fd = open_file(image, O_RDONLY);
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buf(kBlockSize);
  const std::vector<char> zeros(kBlockSize, 0);
  uint64_t pos = 0;
  auto copy = [&](uint64_t from, uint64_t to) {
    for (uint64_t off = from; off < to;) {
      if (stop.stop_requested()) throw Cancelled();
      size_t len = static_cast<size_t>(std::min<uint64_t>(kBlockSize, to - off));
      size_t got = pread_full(fd.get(), std::span<char>(buf.data(), len), off, image.string());
      if (got != len) throw Error(image.string() + " is shorter than its revision's size");
      // Zero pages inside data extents stay holes too, for targets that start zero-filled.
      if (!(target.zero_filled() && is_all_zero(std::span<const char>(buf.data(), len))))
        target.write(off, std::span<const char>(buf.data(), len));
      off += len;
      if (progress) progress(off, size);
    }
  };
  auto zero = [&](uint64_t from, uint64_t to) {
    if (target.zero_filled()) return;
    for (uint64_t off = from; off < to;) {
      if (stop.stop_requested()) throw Cancelled();
      size_t len = static_cast<size_t>(std::min<uint64_t>(kBlockSize, to - off));
      target.write(off, std::span<const char>(zeros.data(), len));
      off += len;
    }
  };
  while (pos < size) {
    off_t data = ::lseek(fd.get(), static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno != ENXIO) throw sys_error("seek data in " + image.string());
    uint64_t data_start = data < 0 ? size : std::min<uint64_t>(size, static_cast<uint64_t>(data));
    zero(pos, data_start);
    if (data_start >= size) break;
    off_t hole = ::lseek(fd.get(), data, SEEK_HOLE);
    if (hole < 0) throw sys_error("seek hole in " + image.string());
    uint64_t data_end = std::min<uint64_t>(size, static_cast<uint64_t>(hole));
    copy(data_start, data_end);
    pos = data_end;
  }
  if (progress) progress(size, size);
  target.finish();
}

}  // namespace backy
