// backyctl's half of `restore` to a file, a block device or stdout: the daemon checked the
// request and handed over the revision's image as a read-only file descriptor; this writes the
// target with the caller's own rights (lib/restore: open_file_target, restore_image).
//
// The target is refused when it lies inside the daemon's base-dir (by inode: the repository is
// never written), when it is a symlink, or when it exists without --force. SIGINT, SIGTERM and
// SIGHUP during the copy stop it between blocks: the temporary file is removed and
// write_restore() throws backy::Cancelled; the signal stays blocked (the caller exits).
// Progress goes to `progress` about once a second, in the daemon's progress format.
//
// Called once, from main(), on the main thread (it blocks signals for the copy's duration).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "protocol/message.h"

namespace backy::ctl {

struct RestoreOrder {
  std::string target;  // "-", or a path (as the caller gave it, made absolute)
  bool force = false;
  std::string uuid;      // from the daemon's answer
  uint64_t size = 0;     // bytes of the revision
  std::string base_dir;  // the daemon's base-dir: refused as a target's directory
  bool reflink = false;  // a new file: share the image's blocks (FICLONE) where possible
};

// REQUIRES: `image` is the descriptor the daemon passed (readable, `order.size` bytes).
// Returns true when the target was made by a reflink (order.reflink), false when copied.
bool write_restore(int image, const RestoreOrder& order,
                   const std::function<void(const protocol::Json&)>& progress);

// The signal that cancelled the last write_restore() (0: none).
int restore_stop_signal();

}  // namespace backy::ctl
