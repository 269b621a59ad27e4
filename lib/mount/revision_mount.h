// backyctl's half of mounting a revision: the mount point checked, a loop device over the clone
// the daemon passed (mount/mount_clone.h), the filesystem mounted read-only; and the unmount.
//
// This runs in backyctl, as root, in the admin's own mount namespace, so the mount is where the
// admin looks (under the shipped unit backyd's namespace is private). backyctl never opens a
// path under base-dir: the loop device is attached to the fd the daemon passed. The loop device
// is writable so that ext4 and XFS replay a dirty journal into the clone during the `ro` mount;
// it autoclears (loop_device.h), so it lives exactly as long as the mount, and a failure or a
// kill before the mount leaves none behind.
//
// Blocking; the calling thread. Needs CAP_SYS_ADMIN.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "util/fd.h"

namespace backy {

// `dir` (absolute, normalised) opened read-only as a directory one component at a time from "/",
// each with O_NOFOLLOW: what openat2's RESOLVE_NO_SYMLINKS does, for where openat2 fails with
// ENOSYS. A seccomp filter such as systemd's RestrictSUIDSGID=yes makes it so (it cannot see
// open_how's mode, so it refuses openat2 and expects callers to fall back), as does a kernel
// before 5.6. An empty fd with errno set on failure: ELOOP when a component is a symbolic link,
// ENOTDIR when one is no directory.
UniqueFd open_directory_nofollow(const std::string& dir);

// Opens `dir` as a mount point for a revision: an absolute, normalised path without `..`,
// reached without following any symbolic link, a directory, and empty. Throws backy::Error
// naming what is wrong.
UniqueFd open_mount_point(const std::string& dir);

// Throws backy::Error when the directory `dir_fd` (named `dir`) is `base_dir` or below it.
void refuse_inside(int dir_fd, const std::string& dir, const std::filesystem::path& base_dir);

struct CloneMount {
  int clone = -1;       // the clone, open read-write (from the daemon)
  uint64_t offset = 0;  // the partition's bytes within it
  uint64_t length = 0;
  std::string fstype;  // ext2/3/4, xfs, vfat (the daemon probed it)
  int target = -1;     // the directory, from open_mount_point()
  std::string dir;     // its path (for messages)
  std::string what;    // "partition 2 of revision U" (for messages)
};

// Attaches a loop device (autoclear) over the clone's partition and mounts it read-only
// (nosuid, nodev, noexec; XFS with nouuid: two revisions of one XFS share its UUID) at the
// target. `before_mount` runs once the loop device is attached. Returns the loop device's path
// (the mount's source). Throws backy::Error; then no loop device is left.
std::string mount_clone(const CloneMount& m, const std::function<void()>& before_mount = {});

// Unmounts `dir` if it is mounted from `loop` in this mount namespace (the loop device then
// goes by itself). Returns whether it was mounted. Throws backy::Error when the filesystem is
// busy or the unmount fails.
bool unmount_clone(const std::string& dir, const std::string& loop);

}  // namespace backy
