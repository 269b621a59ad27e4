#include "source/file_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "store/block_sums.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file_io.h"

namespace backy {

namespace {

class FileSnapshot : public SourceSnapshot {
 public:
  FileSnapshot(std::string filename, UniqueFd fd, uint64_t size, bool regular)
      : filename_(std::move(filename)), fd_(std::move(fd)), size_(size), regular_(regular) {
    ::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  }

  uint64_t size() const override { return size_; }

  std::vector<BlockChange> changed_blocks() override {
    const uint64_t blocks = blocks_for(size_);
    std::vector<BlockChange> out;
    out.reserve(blocks);
    if (!regular_) {
      for (uint64_t b = 0; b < blocks; ++b) out.push_back({b, true});
      return out;
    }
    // Blocks that intersect a data extent may hold data; the rest lie in holes and are zero.
    std::vector<bool> has_data(blocks, false);
    off_t pos = 0;
    while (static_cast<uint64_t>(pos) < size_) {
      off_t data = ::lseek(fd_.get(), pos, SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break;
        throw sys_error("seek data in " + filename_);
      }
      off_t hole = ::lseek(fd_.get(), data, SEEK_HOLE);
      if (hole < 0) throw sys_error("seek hole in " + filename_);
      for (uint64_t b = static_cast<uint64_t>(data) / kBlockSize;
           b < blocks && b * kBlockSize < static_cast<uint64_t>(hole); ++b)
        has_data[b] = true;
      pos = hole;
    }
    for (uint64_t b = 0; b < blocks; ++b) out.push_back({b, has_data[b]});
    return out;
  }

  void read_blocks(std::span<const uint64_t> blocks, const BlockSink& sink,
                   std::stop_token stop) override {
    // Not zeroed: only what a read fills is touched, so an image smaller than a block costs its
    // size, not a block.
    if (!buffer_) buffer_ = std::make_unique_for_overwrite<char[]>(std::min(kBlockSize, size_));
    for (uint64_t b : blocks) {
      if (stop.stop_requested()) throw Cancelled();
      const uint64_t off = b * kBlockSize;
      const size_t len = static_cast<size_t>(std::min(kBlockSize, size_ - off));
      throttle(len, stop);
      size_t got = pread_full(fd_.get(), std::span<char>(buffer_.get(), len), off, filename_);
      if (got != len)
        throw Error(filename_ + " shrank while it was read (short read at offset " +
                    std::to_string(off + got) + ")");
      bytes_read_ += got;
      sink(b, std::span<const char>(buffer_.get(), len));
    }
  }

  bool stable() const override { return false; }
  uint64_t bytes_read() const override { return bytes_read_; }

 private:
  std::string filename_;
  UniqueFd fd_;
  uint64_t size_;
  bool regular_;
  uint64_t bytes_read_ = 0;
  std::unique_ptr<char[]> buffer_;  // one block (or the whole image, if smaller), reused
};

}  // namespace

std::map<std::string, std::string> FileSource::describe(const std::string&) const {
  return {{"type", "file"}, {"filename", filename_}};
}

std::unique_ptr<SourceSnapshot> FileSource::open(const std::string&,
                                                 const std::optional<std::string>&) {
  UniqueFd fd = open_file(filename_, O_RDONLY);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw sys_error("stat " + filename_);
  uint64_t size = file_or_device_size(fd.get(), filename_);
  return std::make_unique<FileSnapshot>(filename_, std::move(fd), size, S_ISREG(st.st_mode));
}

}  // namespace backy
