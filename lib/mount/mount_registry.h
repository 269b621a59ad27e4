// MountRegistry: the revisions mounted (or being mounted) through backyd, one record per mount,
// kept on disk in <base-dir>/.mounts/ so that it survives a daemon restart and holds its
// revision meanwhile. backyctl makes the mount itself (mount/revision_mount.h); the record holds
// the revision and owns the clone the mount reads.
//
//   <base-dir>/.mounts/            0700, root's (no job name starts with '.', so no clash)
//     <id>.mount                   the record (JSON), written atomically and durably
//     <id>.img                     the revision's writable reflink clone the mount reads
//
// A record is written before the clone is made and removed only after the clone's removal, so a
// crash at any point leaves a record naming what to clean up, and the revision stays held until
// then: expiry skips it and forget refuses it (holds()). A record is "pending" from the daemon's
// answer until backyctl confirms its mount, then "mounted". Records outlive a daemon restart
// (the host may still have their clones mounted); `backyctl umount` and `mounts --prune`
// release them.
//
// Records come from a directory only root can write, yet are parsed as untrusted input (bounded
// size, every field checked). Methods are safe from any thread; records are independent files,
// so different mounts never race each other.
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "util/dir.h"

namespace backy {

struct MountRecord {
  std::string id;          // a uuid: names the record and the clone
  std::string job, uuid;   // the revision
  std::string dir;         // where it is (to be) mounted: absolute, normalised
  int partition = 0;       // 0: the whole image
  std::string loop;        // /dev/loopN, as backyctl confirmed it
  std::string fstype;      // once detected
  std::string state;       // "pending" until backyctl confirms its mount, then "mounted"
  std::string daemon_run;  // the id of the daemon run that wrote it: whose connection owns it
  int64_t since = 0;       // unix seconds
};

class MountRegistry {
 public:
  explicit MountRegistry(std::filesystem::path base_dir) : base_(std::move(base_dir)) {}

  // <base-dir>/.mounts, created (0700) on first use.
  Dir dir() const;
  std::string clone_name(const MountRecord& r) const { return r.id + ".img"; }
  std::filesystem::path clone_path(const MountRecord& r) const {
    return base_ / ".mounts" / clone_name(r);
  }

  // Every readable record; unreadable ones are named in `problems` (if given).
  std::vector<MountRecord> list(std::vector<std::string>* problems = nullptr) const;
  std::optional<MountRecord> find_by_dir(const std::string& dir) const;
  // The uuids of `job`'s revisions held by a record.
  std::set<std::string> holds(const std::string& job) const;

  // Writes (or replaces) the record durably.
  void save(const MountRecord& r) const;
  // Removes the record and its clone (if still there); durable.
  void remove(const MountRecord& r) const;

 private:
  std::filesystem::path base_;
};

}  // namespace backy
