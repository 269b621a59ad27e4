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

#include "restore/chunk_memory.h"
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
  // Writes `data` at `offset`; `data` is valid only during the call.
  virtual void write(uint64_t offset, std::span<const char> data) = 0;
  // Memory for the revision's chunks to be read into, from a target that sends them without a
  // copy (write_chunk). Empty (the default): the reader uses its own.
  virtual ChunkAllocator chunk_allocator() { return {}; }
  // Writes `data`, which lies in `memory`: a target may keep a reference to `memory` past the
  // call instead of copying it (when chunk_allocator() made it). The default is write().
  virtual void write_chunk(uint64_t offset, std::span<const char> data,
                           const std::shared_ptr<ChunkMemory>& memory) {
    (void)memory;
    write(offset, data);
  }
  // Makes the target, at once, a copy of the first `size` bytes of the image open on `image`, if
  // it can: a reflink, for a new file on the image's own filesystem. Returns false where it
  // cannot (the default), and the caller copies with write().
  virtual bool clone_from(int image, uint64_t size) {
    (void)image, (void)size;
    return false;
  }
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

// How many data chunks restore_image reads ahead of the target, those being read included (a
// target that allocates chunk memory holds this many, plus its writes in flight, plus the one
// being written).
inline constexpr size_t kRestoreReadAhead = 8;

// Copies `size` bytes of the image open on `image` (read with pread: the fd's offset is not
// used) to `target`, then finishes the target. `name` names the image in errors.
// A reflink where the target can take one (clone_from); otherwise the image's data extents are
// read ahead on a thread of its own (image_reader.h) in chunks aligned to 4 MiB while the target
// is written; into a target that reads as zeros, holes and zero pages of the image are not
// written at all, so a restored file keeps them as holes and an RBD image stays thin.
// Throws backy::Error, or backy::Cancelled when `stop` was requested (checked every 4 MiB chunk).
void restore_image(int image, const std::string& name, uint64_t size, RestoreTarget& target,
                   const RestoreProgress& progress = {}, std::stop_token stop = {});
// The same, opening the image file at `image`.
void restore_image(const std::filesystem::path& image, uint64_t size, RestoreTarget& target,
                   const RestoreProgress& progress = {}, std::stop_token stop = {});

}  // namespace backy
