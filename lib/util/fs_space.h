// How full a filesystem is (statvfs), and whether it is below a threshold: base-dir's free space
// and inodes are what every backup needs, so health, status, metrics and the start of a backup
// read them here. Pure but for the one system call; any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace backy {

struct FsSpace {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;  // what unprivileged writers may still use (f_bavail)
  uint64_t total_inodes = 0;
  uint64_t free_inodes = 0;  // 0 total: the filesystem has no fixed inode count (XFS, btrfs may)

  double free_percent() const;
  double free_inode_percent() const;  // 100 when the filesystem reports no inode count
};

// The filesystem `path` is on, or will be on once created: a missing path is asked about through
// its nearest existing ancestor (base-dir before the first backup). Throws backy::Error naming
// `path` when statvfs fails otherwise.
FsSpace fs_space(const std::filesystem::path& path);

// nullopt when both free space and free inodes are at or above `percent`; else what is short,
// for people: "3.2 GiB free of 100.0 GiB (3.2%)" or "1200 of 65536 inodes free (1.83%)".
std::optional<std::string> space_below(const FsSpace& space, double percent);

}  // namespace backy
