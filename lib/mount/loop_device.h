// LoopDevice: a loop block device over a byte range of an open file, for mounting one partition
// of a revision's clone without kernel partition support (no /dev/loopNp1 needed).
//
// The device is configured with LO_FLAGS_AUTOCLEAR: the kernel detaches it by itself when its
// last user goes, i.e. when this object (its one open fd) is destroyed before anything mounted
// it, or, once mounted, at the unmount. So neither a failed mount nor a umount can leave a loop
// device behind, and nobody has to remember its number.
//
// Owns the device's fd; move-only. Any thread.
#pragma once

#include <cstdint>
#include <string>

#include "util/fd.h"

namespace backy {

class LoopDevice {
 public:
  // A free loop device (from /dev/loop-control) over `size` bytes of `backing` from `offset`,
  // writable unless `read_only`. Throws backy::Error naming what failed.
  static LoopDevice attach(int backing, uint64_t offset, uint64_t size, bool read_only);

  LoopDevice(LoopDevice&&) = default;
  LoopDevice& operator=(LoopDevice&&) = default;

  const std::string& path() const { return path_; }  // /dev/loopN
  int fd() const { return fd_.get(); }

 private:
  LoopDevice(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;
};

}  // namespace backy
