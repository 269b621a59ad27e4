#include "util/file_system.h"

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

namespace backy {

int FileSystem::openat(int dir, const char* name, int flags, mode_t mode) {
  return ::openat(dir, name, flags, mode);
}
int FileSystem::mkdirat(int dir, const char* name, mode_t mode) {
  return ::mkdirat(dir, name, mode);
}
ssize_t FileSystem::pwrite(int fd, const void* buf, size_t len, off_t offset) {
  return ::pwrite(fd, buf, len, offset);
}
int FileSystem::fsync(int fd) {
  return ::fsync(fd);
}
int FileSystem::fdatasync(int fd) {
  return ::fdatasync(fd);
}
int FileSystem::ftruncate(int fd, off_t len) {
  return ::ftruncate(fd, len);
}
int FileSystem::fallocate(int fd, int mode, off_t offset, off_t len) {
  return ::fallocate(fd, mode, offset, len);
}
int FileSystem::fchmod(int fd, mode_t mode) {
  return ::fchmod(fd, mode);
}
int FileSystem::clone(int dst, int src) {
  return ::ioctl(dst, FICLONE, src);
}
ssize_t FileSystem::copy_file_range(int in, loff_t* in_offset, int out, loff_t* out_offset,
                                    size_t len) {
  return ::copy_file_range(in, in_offset, out, out_offset, len, 0);
}
int FileSystem::renameat(int old_dir, const char* old_name, int new_dir, const char* new_name) {
  return ::renameat(old_dir, old_name, new_dir, new_name);
}
int FileSystem::unlinkat(int dir, const char* name, int flags) {
  return ::unlinkat(dir, name, flags);
}
int FileSystem::symlinkat(const char* target, int dir, const char* name) {
  return ::symlinkat(target, dir, name);
}

FileSystem& FileSystem::real() {
  static FileSystem* kernel = new FileSystem;  // never destroyed: usable during exit
  return *kernel;
}

}  // namespace backy
