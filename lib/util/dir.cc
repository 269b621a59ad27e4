#include "util/dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include "util/error.h"
#include "util/file_io.h"

namespace backy {

namespace {

void check_name(const std::filesystem::path& dir, const std::string& name) {
  if (!is_plain_name(name))
    throw Error("refusing file name '" + name + "' in " + dir.string() +
                ": not a plain name in the directory");
}

}  // namespace

bool is_plain_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string("/\0", 2)) == std::string::npos;
}

Dir Dir::open(const std::filesystem::path& path, bool create, FileSystem& fs) {
  if (create) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) throw Error("cannot create directory " + path.string() + ": " + ec.message());
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw sys_error("cannot open directory " + path.string());
  return Dir(path, UniqueFd(fd), fs);
}

std::optional<Dir> Dir::open_existing(const std::filesystem::path& path, FileSystem& fs) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw sys_error("cannot open directory " + path.string());
  }
  return Dir(path, UniqueFd(fd), fs);
}

std::optional<Dir> Dir::sub(const std::string& name, bool create) const {
  check_name(path_, name);
  if (create && fs_->mkdirat(fd(), name.c_str(), 0750) != 0 && errno != EEXIST)
    throw sys_error("cannot create directory " + where(name));
  int fd = ::openat(this->fd(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT && !create) return std::nullopt;
    if (errno == ELOOP || errno == ENOTDIR)
      throw Error(where(name) + " is not a directory (a symlink or a file stands there)");
    throw sys_error("cannot open directory " + where(name));
  }
  return Dir(path_ / name, UniqueFd(fd), *fs_);
}

UniqueFd Dir::open_file(const std::string& name, int flags, mode_t mode) const {
  check_name(path_, name);
  int fd = fs_->openat(this->fd(), name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == ELOOP) throw Error("refusing to follow the symlink " + where(name));
    throw sys_error("cannot open " + where(name));
  }
  return UniqueFd(fd);
}

std::optional<UniqueFd> Dir::open_if_exists(const std::string& name, int flags) const {
  check_name(path_, name);
  int fd = fs_->openat(this->fd(), name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == ELOOP) throw Error("refusing to follow the symlink " + where(name));
    throw sys_error("cannot open " + where(name));
  }
  return UniqueFd(fd);
}

std::optional<struct stat> Dir::stat(const std::string& name) const {
  check_name(path_, name);
  struct stat st {};
  if (::fstatat(fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return std::nullopt;
    throw sys_error("cannot stat " + where(name));
  }
  return st;
}

std::vector<Dir::Entry> Dir::entries() const {
  if (::lseek(fd(), 0, SEEK_SET) != 0) throw sys_error("cannot list " + path_.string());
  std::vector<Entry> out;
  alignas(struct dirent64) char buf[16384];
  for (;;) {
    const ssize_t n = ::getdents64(fd(), buf, sizeof buf);
    if (n < 0) throw sys_error("cannot list " + path_.string());
    if (n == 0) return out;
    for (ssize_t at = 0; at < n;) {
      const auto* e = reinterpret_cast<const struct dirent64*>(buf + at);
      at += e->d_reclen;
      const std::string_view name(e->d_name);
      if (name != "." && name != "..") out.push_back({std::string(name), e->d_type});
    }
  }
}

std::vector<std::string> Dir::list() const {
  std::vector<std::string> out;
  for (Entry& e : entries()) out.push_back(std::move(e.name));
  return out;
}

std::string Dir::read(const std::string& name, size_t limit) const {
  UniqueFd fd = open_file(name, O_RDONLY);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw sys_error("cannot stat " + where(name));
  if (!S_ISREG(st.st_mode)) throw Error(where(name) + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > limit)
    throw Error(where(name) + " holds " + std::to_string(st.st_size) + " bytes, more than the " +
                std::to_string(limit) + " such a file can have");
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = pread_full(fd.get(), std::span<char>(out.data(), out.size()), 0, where(name));
  out.resize(got);
  return out;
}

std::optional<std::string> Dir::read_symlink(const std::string& name) const {
  check_name(path_, name);
  char buf[4096];
  ssize_t n = ::readlinkat(fd(), name.c_str(), buf, sizeof buf);
  if (n < 0) {
    if (errno == ENOENT || errno == EINVAL) return std::nullopt;
    throw sys_error("cannot read link " + where(name));
  }
  return std::string(buf, static_cast<size_t>(n));
}

void Dir::write_new(const std::string& name, const std::string& content, mode_t mode) const {
  UniqueFd fd = open_file(name, O_WRONLY | O_CREAT | O_EXCL, mode);
  pwrite_full(*fs_, fd.get(), std::span<const char>(content.data(), content.size()), 0,
              where(name));
  if (fs_->fsync(fd.get()) != 0) throw sys_error("fsync " + where(name));
}

void Dir::write_atomic(const std::string& name, const std::string& content, mode_t mode) const {
  const std::string tmp = name + ".tmp";
  remove(tmp);  // left by a crash; ours by name
  try {
    write_new(tmp, content, mode);
    rename(tmp, name);
  } catch (const Error&) {
    if (fs_->unlinkat(fd(), tmp.c_str(), 0) != 0) {
      // Best effort: the caller's error matters more than a leftover temp file.
    }
    throw;
  }
  sync();
}

void Dir::rename(const std::string& from, const std::string& to) const {
  check_name(path_, from);
  check_name(path_, to);
  if (fs_->renameat(fd(), from.c_str(), fd(), to.c_str()) != 0)
    throw sys_error("rename " + where(from) + " to " + to);
}

bool Dir::remove(const std::string& name) const {
  check_name(path_, name);
  if (fs_->unlinkat(fd(), name.c_str(), 0) != 0) {
    if (errno == ENOENT) return false;
    throw sys_error("cannot remove " + where(name));
  }
  return true;
}

void Dir::replace_symlink(const std::string& name, const std::string& target) const {
  const std::string tmp = name + ".tmp";
  remove(tmp);
  if (fs_->symlinkat(target.c_str(), fd(), tmp.c_str()) != 0)
    throw sys_error("cannot create symlink " + where(tmp));
  rename(tmp, name);
  sync();
}

void Dir::sync() const {
  if (fs_->fsync(fd()) != 0) throw sys_error("fsync directory " + path_.string());
}

}  // namespace backy

namespace backy {

bool is_below(int dir, const std::filesystem::path& ancestor) {
  struct stat top {};
  if (::stat(ancestor.c_str(), &top) != 0) return false;
  UniqueFd cur(::fcntl(dir, F_DUPFD_CLOEXEC, 0));
  struct stat st {};
  if (!cur || ::fstat(cur.get(), &st) != 0) throw sys_error("cannot inspect a directory");
  for (int depth = 0; depth < 4096; ++depth) {
    if (st.st_dev == top.st_dev && st.st_ino == top.st_ino) return true;
    UniqueFd parent(::openat(cur.get(), "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
    struct stat pst {};
    if (!parent || ::fstat(parent.get(), &pst) != 0) return false;
    if (pst.st_dev == st.st_dev && pst.st_ino == st.st_ino) return false;  // the root
    cur = std::move(parent);
    st = pst;
  }
  return false;
}

}  // namespace backy
