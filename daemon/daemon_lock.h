// DaemonLock: one backyd per base-dir.
//
// An exclusive flock on <base-dir>/.backyd.lock, held for the daemon's lifetime and released by
// the kernel however the process ends (no stale pid files). The file holds the owner's pid, so a
// second daemon can say which process is in its way. Move-only RAII.
#pragma once

#include <filesystem>

#include "util/fd.h"

namespace backy {

class DaemonLock {
 public:
  // Creates base-dir if missing. Throws backy::Error naming the base-dir (and the holder's pid)
  // when another process holds the lock, or when the file cannot be created.
  static DaemonLock acquire(const std::filesystem::path& base_dir);

  DaemonLock(DaemonLock&&) = default;
  DaemonLock& operator=(DaemonLock&&) = default;

 private:
  explicit DaemonLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace backy
