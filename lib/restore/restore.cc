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

void restore_image(const std::filesystem::path& image, uint64_t size, RestoreTarget& target,
                   const RestoreProgress& progress, std::stop_token stop) {
  UniqueFd fd = open_file(image, O_RDONLY);
  restore_image(fd.get(), image.string(), size, target, progress, std::move(stop));
}

void restore_image(int fd, const std::string& name, uint64_t size, RestoreTarget& target,
                   const RestoreProgress& progress, std::stop_token stop) {
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buf(kBlockSize);
  const std::vector<char> zeros(kBlockSize, 0);
  uint64_t pos = 0;
  auto copy = [&](uint64_t from, uint64_t to) {
    for (uint64_t off = from; off < to;) {
      if (stop.stop_requested()) throw Cancelled();
      size_t len = static_cast<size_t>(std::min<uint64_t>(kBlockSize, to - off));
      size_t got = pread_full(fd, std::span<char>(buf.data(), len), off, name);
      if (got != len) throw Error(name + " is shorter than its revision's size");
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
    off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno != ENXIO) throw sys_error("seek data in " + name);
    uint64_t data_start = data < 0 ? size : std::min<uint64_t>(size, static_cast<uint64_t>(data));
    zero(pos, data_start);
    if (data_start >= size) break;
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) throw sys_error("seek hole in " + name);
    uint64_t data_end = std::min<uint64_t>(size, static_cast<uint64_t>(hole));
    copy(data_start, data_end);
    pos = data_end;
  }
  if (progress) progress(size, size);
  target.finish();
}

}  // namespace backy
