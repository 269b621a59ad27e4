// Restore: copy a revision's image to a target, holes kept where the target allows.
//
// Targets: a new regular file (sparse: holes stay holes), a block device or stdout (holes are
// written as zeros, since a device may hold old data and a pipe has no holes), or a new RBD image
// (lib/ceph/rbd_target.h, in backy_ceph). The copy is the same as
// `dd if=<image> of=<target> conv=sparse`; this only adds safety and progress.
//
// Who writes: backyctl writes files, devices and stdout itself, with its user's rights, from the
// image the daemon hands it as a read-only file descriptor (docs/protocol.md); the daemon writes
// only RBD images, through its cluster connection.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <stop_token>
#include <string>

#include "util/fd.h"

namespace backy {

class RestoreTarget {
 public:
  // A target destroyed before finish() returned removes what it created (a temp file, a new RBD
  // image): a restore that failed or was cancelled never leaves something that looks complete.
  virtual ~RestoreTarget() = default;
  // Whether unwritten ranges read back as zeros (a new file or RBD image); if not, holes of the
  // revision are written out as zeros.
  virtual bool zero_filled() const = 0;
  virtual void write(uint64_t offset, std::span<const char> data) = 0;
  // Makes the target share all of `image`'s blocks (FICLONE) instead of copying them, where the
  // target is a new file on the image's reflink-capable filesystem; false (nothing changed)
  // where it is not. finish() is still needed.
  virtual bool try_reflink(int /*image*/) { return false; }
  // Makes the data durable and puts it in place; called once at the end (by restore_image).
  // Calling it again does nothing.
  virtual void finish() = 0;
};

struct FileTargetOptions {
  // Refuse a target whose directory is this one or lies below it (the repository: a restore must
  // never write into base-dir). Compared by device and inode walking up from the directory the
  // target is in, so symlinks and other spellings of the path do not get around it. Empty: none.
  std::filesystem::path refuse_inside;
};

// Opens a restore target named by a path, with the calling process's rights:
// - "-": stdout.
// - a name that does not exist: a new file, written under a temporary name (O_EXCL) in the same
//   directory and renamed into place by finish() (after fsync), never replacing a file that
//   appeared meanwhile; the temp file is removed if the target dies unfinished.
// - an existing regular file: needs `force` and write permission on it; written the same way and
//   renamed over it (taking over its mode).
// - a block device: needs `force`; opened O_EXCL (the kernel refuses a mounted or otherwise
//   claimed device) and at least `size` bytes; written in place, holes as zeros.
// - a symbolic link (dangling or not), or anything else: refused, also with `force`. The last
//   component is never followed; the directories leading to it are the caller's own path.
// Throws backy::Error naming the target and what is wrong.
std::unique_ptr<RestoreTarget> open_file_target(const std::string& target, uint64_t size,
                                                bool force, const FileTargetOptions& options = {});

using RestoreProgress = std::function<void(uint64_t done, uint64_t total)>;

// Copies `size` bytes of the image open on `image` (read with pread: the fd's offset is not
// used) to `target`, then finishes the target. `name` names the image in errors.
// Throws backy::Error, or backy::Cancelled when `stop` was requested (checked every block).
void restore_image(int image, const std::string& name, uint64_t size, RestoreTarget& target,
                   const RestoreProgress& progress = {}, std::stop_token stop = {});
// The same, opening the image file at `image`.
void restore_image(const std::filesystem::path& image, uint64_t size, RestoreTarget& target,
                   const RestoreProgress& progress = {}, std::stop_token stop = {});

}  // namespace backy
