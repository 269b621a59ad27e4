// backyctl's half of `clone`: a writable image of a revision, made with the caller's own rights
// from what the daemon passed (the revision's image as a read-only fd, and its path).
//
// - raw (default): a new FILE sharing the revision's blocks (FICLONE), instant and costing no
//   space until written, where FILE is on base-dir's reflink-capable filesystem; elsewhere a
//   copy with holes kept and progress, after a warning. Written like a restore (restore_writer.h):
//   a temp file renamed into place, never over an existing FILE, never inside base-dir.
// - qcow2: `qemu-img create -f qcow2 -F raw -b IMAGE FILE`, an overlay whose reads fall through
//   to the revision; it needs the revision for as long as it is used.
//
// Called once, from main(), on the main thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "protocol/message.h"

namespace backy::ctl {

struct CloneOrder {
  std::string file;  // absolute
  bool qcow2 = false;
  std::string uuid, image_path, base_dir;  // from the daemon's answer
  uint64_t size = 0;
};

// Returns how the clone was made: "reflink", "copy" or "qcow2 overlay". Throws backy::Error
// (backy::Cancelled when a signal stopped a copy). `warn` gets one line for the user.
std::string write_clone(int image, const CloneOrder& order,
                        const std::function<void(const protocol::Json&)>& progress,
                        const std::function<void(const std::string&)>& warn);

}  // namespace backy::ctl
