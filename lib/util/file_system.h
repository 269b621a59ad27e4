// FileSystem: the system calls through which backyd changes files, behind one interface.
//
// Every step that can lose or damage a revision (creating, writing, syncing, allocating,
// renaming, unlinking a file) goes through a FileSystem, so a test can make any one of them fail
// with EIO or ENOSPC and then check what is left on disk (tests/unit/fault_sweep_test.cc; the
// model is LevelDB's Env and its fault-injection test). Reads (pread, readdir, fstat) go to the
// kernel directly: a failed read cannot damage anything, and the code that reads already has to
// handle every error.
//
// Each method keeps its system call's convention: -1 with errno set on failure. The base class
// *is* the kernel (every method makes the real call), so a fault-injecting wrapper overrides the
// methods, decides, and calls the base. real() is the one everyone uses outside tests: stateless,
// thread-safe, never destroyed.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <cstddef>

namespace backy {

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual int openat(int dir, const char* name, int flags, mode_t mode);
  virtual int mkdirat(int dir, const char* name, mode_t mode);
  virtual ssize_t pwrite(int fd, const void* buf, size_t len, off_t offset);
  virtual int fsync(int fd);
  virtual int fdatasync(int fd);
  virtual int ftruncate(int fd, off_t len);
  virtual int fallocate(int fd, int mode, off_t offset, off_t len);
  virtual int fchmod(int fd, mode_t mode);
  // ioctl(dst, FICLONE, src): dst shares all of src's extents.
  virtual int clone(int dst, int src);
  virtual ssize_t copy_file_range(int in, loff_t* in_offset, int out, loff_t* out_offset,
                                  size_t len);
  virtual int renameat(int old_dir, const char* old_name, int new_dir, const char* new_name);
  virtual int unlinkat(int dir, const char* name, int flags);
  virtual int symlinkat(const char* target, int dir, const char* name);

  // The kernel.
  static FileSystem& real();
};

}  // namespace backy
