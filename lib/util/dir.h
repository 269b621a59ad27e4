// Dir: an open directory, and the file operations backyd performs inside one.
//
// A job directory is reached once (by path, from the config) and then only through its fd: every
// file is named by a single path component, resolved relative to that fd with O_NOFOLLOW. So a
// symlink planted where a revision file belongs is an error, never followed; a name with a '/'
// or "." / ".." is refused before any system call; and a directory that is renamed or replaced
// while it is open keeps being the one that was opened.
//
// Every change goes through the FileSystem given at open (file_system.h), so tests can fail any
// step. Errors are backy::Error naming the full path.
//
// Owns its fd; move-only. The methods are const (the fd is not changed); a Dir may be used from
// one thread at a time.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/fd.h"
#include "util/file_system.h"

namespace backy {

class Dir {
 public:
  // Opens the directory at `path`. Links in `path` itself are followed (it comes from the
  // configuration, which root wrote); with `create`, missing directories are made (0755).
  // Throws backy::Error when it is missing (and !create) or no directory.
  static Dir open(const std::filesystem::path& path, bool create,
                  FileSystem& fs = FileSystem::real());
  // nullopt instead of an error when `path` does not exist.
  static std::optional<Dir> open_existing(const std::filesystem::path& path,
                                          FileSystem& fs = FileSystem::real());

  Dir(Dir&&) = default;
  Dir& operator=(Dir&&) = default;

  // The subdirectory `name`, never through a link; created (mode 0750) when missing and
  // `create`; nullopt when missing and !create.
  std::optional<Dir> sub(const std::string& name, bool create) const;

  const std::filesystem::path& path() const { return path_; }
  int fd() const { return fd_.get(); }
  FileSystem& fs() const { return *fs_; }
  // The full path of `name` in this directory, for messages.
  std::string where(const std::string& name) const { return (path_ / name).string(); }

  // openat with O_NOFOLLOW | O_CLOEXEC added. Throws backy::Error (also for ENOENT).
  UniqueFd open_file(const std::string& name, int flags, mode_t mode = 0) const;
  // nullopt when `name` does not exist.
  std::optional<UniqueFd> open_if_exists(const std::string& name, int flags) const;
  // lstat of `name`; nullopt when it does not exist.
  std::optional<struct stat> stat(const std::string& name) const;
  // One name in the directory and its type as the listing gives it: a d_type (DT_REG, DT_DIR,
  // DT_LNK, ...), or DT_UNKNOWN where the file system does not say (stat() it then).
  struct Entry {
    std::string name;
    unsigned char type;
  };
  // The directory's entries, without "." and "..", unsorted. Read on this Dir's own fd (its
  // offset is rewound first): no second descriptor, which startup's 10,000 listings would pay
  // for in four system calls each.
  std::vector<Entry> entries() const;
  // The names alone.
  std::vector<std::string> list() const;
  // The whole content of regular file `name`; throws when it holds more than `limit` bytes.
  std::string read(const std::string& name, size_t limit) const;
  // The target of symlink `name`; nullopt when `name` does not exist or is no symlink.
  std::optional<std::string> read_symlink(const std::string& name) const;

  // Creates `name` (which must not exist), writes `content`, fsyncs it. Not yet durable in the
  // directory: that needs sync().
  void write_new(const std::string& name, const std::string& content, mode_t mode) const;
  // `name` replaced durably: <name>.tmp written and fsynced, renamed over `name`, directory
  // fsynced. On failure before the rename `name` is unchanged and the temp file removed (best
  // effort; a leftover <name>.tmp is harmless).
  void write_atomic(const std::string& name, const std::string& content, mode_t mode) const;
  void rename(const std::string& from, const std::string& to) const;
  // Unlinks file `name`; false (and no error) when it did not exist.
  bool remove(const std::string& name) const;
  // Points symlink `name` at `target`, atomically (a temp link renamed over it), and syncs.
  void replace_symlink(const std::string& name, const std::string& target) const;
  // fsync of the directory itself: makes creations, renames and unlinks in it durable.
  void sync() const;

 private:
  Dir(std::filesystem::path path, UniqueFd fd, FileSystem& fs)
      : path_(std::move(path)), fd_(std::move(fd)), fs_(&fs) {}

  std::filesystem::path path_;
  UniqueFd fd_;
  FileSystem* fs_;
};

// Whether `name` is one plain path component: not empty, no '/', no NUL, not "." or "..".
bool is_plain_name(const std::string& name);

// Whether the directory open on `dir` is `ancestor` or lies below it, compared by device and
// inode walking up through ".." (O_PATH: no read permission needed), so symlinks and other
// spellings of a path do not get around it. False when `ancestor` cannot be stat()ed, or where
// the walk cannot go on (no search permission: the caller could not have come that way either).
bool is_below(int dir, const std::filesystem::path& ancestor);

}  // namespace backy
