// LoopXfs: a small XFS filesystem with reflinks of the test's own, for the tests that must fill
// a filesystem (ENOSPC) without touching the shared BACKY_TEST_XFS mount.
//
// An image file in a TempDir under `base`, `mkfs.xfs -m reflink=1`, attached to a loop device
// and mounted on a directory beside it. The destructor unmounts, detaches and deletes, also when
// the test failed half-way; so does a constructor that fails. Whatever uses the mount (a daemon)
// must be gone before the destructor runs: declare the LoopXfs first.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "support/test_env.h"

namespace backy::test {

class LoopXfs {
 public:
  // REQUIRES: root; `size` >= 300 MiB (mkfs.xfs refuses smaller filesystems with reflinks).
  LoopXfs(const std::filesystem::path& base, uint64_t size);
  ~LoopXfs();
  LoopXfs(const LoopXfs&) = delete;
  LoopXfs& operator=(const LoopXfs&) = delete;

  const std::filesystem::path& mount() const { return mount_; }
  const std::string& device() const { return device_; }
  // Bytes an unprivileged writer could still allocate (statvfs f_bavail).
  uint64_t free_bytes() const;

 private:
  void release() noexcept;

  TempDir dir_;  // first member: removed after release() has unmounted
  std::filesystem::path mount_;
  std::string device_;  // /dev/loopN once attached
  bool mounted_ = false;
};

}  // namespace backy::test
