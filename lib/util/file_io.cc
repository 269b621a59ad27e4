#include "util/file_io.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace backy {

UniqueFd open_file(const std::filesystem::path& path, int flags, mode_t mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw sys_error("cannot open " + path.string());
  return UniqueFd(fd);
}

size_t pread_full(int fd, std::span<char> buf, uint64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n =
        ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw sys_error("read " + what + " at offset " + std::to_string(offset + done));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

void pwrite_full(int fd, std::span<const char> buf, uint64_t offset, const std::string& what) {
  pwrite_full(FileSystem::real(), fd, buf, offset, what);
}

void pwrite_full(FileSystem& fs, int fd, std::span<const char> buf, uint64_t offset,
                 const std::string& what) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n =
        fs.pwrite(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw sys_error("write " + what + " at offset " + std::to_string(offset + done));
    }
    done += static_cast<size_t>(n);
  }
}

void punch_hole(FileSystem& fs, int fd, uint64_t offset, uint64_t len, const std::string& what) {
  if (len == 0) return;
  if (fs.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                   static_cast<off_t>(len)) != 0)
    throw sys_error("punch hole in " + what + " at offset " + std::to_string(offset));
}

void fdatasync_or_throw(FileSystem& fs, int fd, const std::string& what) {
  if (fs.fdatasync(fd) != 0) throw sys_error("fdatasync " + what);
}

void fsync_dir(const std::filesystem::path& dir) {
  UniqueFd fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (::fsync(fd.get()) != 0) throw sys_error("fsync directory " + dir.string());
}

uint64_t file_or_device_size(int fd, const std::string& what) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw sys_error("stat " + what);
  if (S_ISBLK(st.st_mode)) {
    uint64_t size = 0;
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) throw sys_error("size of block device " + what);
    return size;
  }
  if (!S_ISREG(st.st_mode)) throw Error(what + " is neither a regular file nor a block device");
  return static_cast<uint64_t>(st.st_size);
}

void write_file_atomic(const std::filesystem::path& path, const std::string& content, mode_t mode) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    UniqueFd fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    pwrite_full(fd.get(), std::span<const char>(content.data(), content.size()), 0, tmp.string());
    if (::fsync(fd.get()) != 0) throw sys_error("fsync " + tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error("rename " + tmp.string() + " to " + path.string() + ": " + ec.message());
  fsync_dir(path.parent_path().empty() ? "." : path.parent_path());
}

std::string read_file(const std::filesystem::path& path) {
  UniqueFd fd = open_file(path, O_RDONLY);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw sys_error("read " + path.string());
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

bool is_all_zero(std::span<const char> buf) {
  // Compare word-wise; the first non-zero byte ends it early.
  const char* p = buf.data();
  size_t n = buf.size();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    if (w != 0) return false;
    p += 8;
    n -= 8;
  }
  while (n-- > 0)
    if (*p++ != 0) return false;
  return true;
}

}  // namespace backy
