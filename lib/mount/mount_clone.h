// The daemon's half of mounting a revision: a writable reflink clone of it, held by a record,
// and what backyctl needs to mount one of its partitions.
//
// A revision taken while its filesystem was mounted has a dirty journal, and the kernel refuses
// a read-only mount of such a filesystem on a read-only device ("recovery required"). So the
// revision is cloned with a reflink into <base-dir>/.mounts/<id>.img (instant on XFS and btrfs;
// it costs only the blocks a journal replay rewrites), and backyctl reaches the partition through
// a *writable* loop device over that clone (mount/revision_mount.h): ext4 and XFS replay their
// journal into the clone during a `ro` mount, and the revision stays as it was. Without a
// reflink-capable base-dir, mount is refused (a full copy would take hours).
//
// The loop device and the mount are backyctl's, made in its own mount namespace: under the
// shipped unit backyd has a private one whose mounts the host never sees. The daemon only passes
// the clone's fd; it never attaches, mounts or unmounts anything.
//
// Steps, each undone if a later one fails: record ("pending", mount_registry.h) -> clone ->
// partition table (sfdisk -J) -> filesystem type at the partition's offset (blkid -p -O -S).
//
// Blocking (system calls, helper programs): worker threads only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "mount/mount_registry.h"
#include "util/fd.h"

namespace backy {

struct MountOrder {
  std::string job, uuid;
  uint64_t size = 0;             // bytes of the revision
  int image = -1;                // the revision's image, open read-only
  std::optional<int> partition;  // --partition N; else chosen (partitions.h)
  std::string dir;               // where backyctl will mount it (for the record and messages)
  std::string daemon_run;        // this daemon run's id: marks the record as in flight
};

struct PreparedMount {
  MountRecord record;   // saved, state "pending"
  UniqueFd clone;       // the clone, open read-write: what backyctl attaches a loop device to
  uint64_t offset = 0;  // the partition's bytes within the clone
  uint64_t length = 0;
};

// Records, clones and probes; the record is saved before the clone exists, so a crash at any
// point leaves a record naming what to remove. Throws backy::Error naming what is wrong (and
// leaves nothing behind).
PreparedMount prepare_mount(const MountRegistry& registry, const MountOrder& order);

}  // namespace backy
