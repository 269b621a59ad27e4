// Mounting a revision: its filesystem, read-only, at a directory root named, in seconds whatever
// the image's size, without ever writing into the revision.
//
// A revision taken while its filesystem was mounted has a dirty journal, and the kernel refuses
// a read-only mount of such a filesystem on a read-only device ("recovery required"). So the
// revision is first cloned with a reflink into <base-dir>/.mounts/<id>.img (instant on XFS and
// btrfs; it costs only the blocks the journal replay rewrites), and the partition is reached
// through a *writable* loop device over that clone at the partition's offset: ext4 and XFS
// replay their journal into the clone during a `ro` mount, and the revision stays as it was.
// Without a reflink-capable base-dir, mount is refused (a full copy would take hours).
//
// Steps, each undone if a later one fails: record (mount_registry.h) -> clone -> partition table
// (sfdisk -J) -> loop device (autoclear) -> filesystem type (blkid -p) -> mount(2) onto the
// directory's fd (/proc/self/fd/N) -> record "mounted". unmount_revision() undoes them in
// reverse; the loop device goes away with the unmount by itself.
//
// Blocking (system calls, helper programs): worker threads only. Needs CAP_SYS_ADMIN.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mount/mount_registry.h"
#include "util/fd.h"

namespace backy {

struct MountOrder {
  std::string job, uuid;
  uint64_t size = 0;             // bytes of the revision
  int image = -1;                // the revision's image, open read-only
  std::optional<int> partition;  // --partition N; else chosen (partitions.h)
  int target = -1;               // the directory, from open_mount_point()
  std::string dir;               // its path (for the record and messages)
};

// `dir` (absolute, normalised) opened read-only as a directory one component at a time from "/",
// each with O_NOFOLLOW: what openat2's RESOLVE_NO_SYMLINKS does, for where openat2 fails with
// ENOSYS. The shipped unit's RestrictSUIDSGID=yes makes it so (its seccomp filter cannot see
// open_how's mode, so it refuses openat2 and expects callers to fall back), as does a kernel
// before 5.6. An empty fd with errno set on failure: ELOOP when a component is a symbolic link,
// ENOTDIR when one is no directory.
UniqueFd open_directory_nofollow(const std::string& dir);

// Opens `dir` as a mount point for a revision: an absolute, normalised path without `..`,
// reached without following any symbolic link, a directory, empty, and not base-dir or below it.
// Throws backy::Error naming what is wrong.
UniqueFd open_mount_point(const std::string& dir, const std::filesystem::path& base_dir);

// Mounts and records; returns the record. Throws backy::Error (and leaves nothing behind).
MountRecord mount_revision(const MountRegistry& registry, const MountOrder& order);

// Unmounts `r` (if its directory is still mounted from its loop device), then removes its
// clone and record. Throws backy::Error when the filesystem is busy (the record stays).
void unmount_revision(const MountRegistry& registry, const MountRecord& r);

// Records whose mount is gone (a reboot, a manual umount, a crash while mounting): their clones
// and records are removed. Returns one line for each, for the log. Run at daemon start.
std::vector<std::string> clean_stale_mounts(const MountRegistry& registry);

}  // namespace backy
