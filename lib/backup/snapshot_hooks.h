// Snapshot hooks: the operator's pre-snapshot and post-snapshot commands, run around the RBD
// snapshot of a backup run so that the guest's filesystems are frozen for it (the example hooks
// in config/hooks/ do it through libvirt and the QEMU guest agent).
//
// The freeze window is pre-snapshot -> snapshot -> post-snapshot, and post-snapshot runs as
// soon as the snapshot exists, not after the read. Once the window opened, post-snapshot runs
// exactly once whatever happens: after the snapshot, when pre-snapshot failed, when taking the
// snapshot failed, when the run is cancelled. Its environment says whether the snapshot was
// taken. A guest must never stay frozen because the daemon died inside the window, so the
// window is recorded durably in the job directory before pre-snapshot starts
// (Repository::write_note, kHookPendingNote) and forgotten once post-snapshot has run; a
// record left by a crash makes run_left_over_post_snapshot() run post-snapshot at the next
// daemon start or the next run of the job, before anything else.
//
// Hooks run through util/child_process.h: no shell, their own process group, killed with it
// after hook-timeout. Their environment is clean: PATH=/usr/sbin:/usr/bin:/sbin:/bin, and
//   BACKY_HOOK      pre-snapshot | post-snapshot
//   BACKY_JOB, BACKY_POOL, BACKY_NAMESPACE (if any), BACKY_IMAGE
//   BACKY_SNAPSHOT  the snapshot's name (backy-<uuid>)
//   BACKY_REVISION  the new revision's uuid
//   BACKY_SNAPSHOT_TAKEN (post-snapshot only)  yes | no | unknown (a left-over window)
// pre-snapshot is killed when the run is cancelled (daemon stop); post-snapshot never is: it
// is what thaws the guest, and hook-timeout bounds it.
//
// Blocking: runs on the backup's worker thread, under the job's lock.
#pragma once

#include <map>
#include <memory>
#include <stop_token>
#include <string>

#include "config/config.h"
#include "repo/repository.h"
#include "repo/revision.h"

namespace spdlog {
class logger;
}

namespace backy {

// The job directory note that records an open freeze window: the hook environment, a line each.
inline constexpr const char* kHookPendingNote = "snapshot-hook.pending";

// The freeze window of one run. Opening it records the window and runs pre-snapshot; close()
// (or the destructor, on a failure or cancellation) runs post-snapshot and forgets the record.
// Not copyable; one thread.
class FreezeWindow {
 public:
  // `where` is the source's description of the revision (Source::describe: pool, image,
  // namespace, snapshot). Throws backy::Error when pre-snapshot fails (or times out) under
  // pre-snapshot-failure: fail, and backy::Cancelled when `stop` killed it; post-snapshot has
  // run by then. Under `continue` a failing pre-snapshot is a warning (warning()) and the
  // snapshot is crash-consistent.
  // REQUIRES: `lock` is the lock of `repo`; both outlive the window.
  FreezeWindow(const SnapshotHookConfig& config, Repository& repo, const Repository::Lock& lock,
               const std::string& job, const std::string& revision,
               const std::map<std::string, std::string>& where, spdlog::logger& log,
               std::stop_token stop);
  FreezeWindow(const FreezeWindow&) = delete;
  FreezeWindow& operator=(const FreezeWindow&) = delete;
  // Runs post-snapshot (snapshot not taken) if close() was not called. Never throws.
  ~FreezeWindow();

  // The snapshot exists: runs post-snapshot. Returns the snapshot's consistency: frozen when
  // pre-snapshot succeeded. A failing post-snapshot is a warning: the snapshot is taken.
  Consistency close();
  // Why the revision is not frozen though hooks are configured; empty when nothing went wrong.
  const std::string& warning() const { return warning_; }

 private:
  void run_post(const char* taken) noexcept;

  const SnapshotHookConfig& config_;
  Repository& repo_;
  const Repository::Lock& lock_;
  spdlog::logger& log_;
  std::map<std::string, std::string> env_;
  bool pre_ok_ = false;
  bool closed_ = false;
  std::string warning_;
};

// When a freeze window was left open (the daemon died inside it): runs the configured
// post-snapshot with the recorded environment and BACKY_SNAPSHOT_TAKEN=unknown, then forgets
// the record. Returns whether there was one. Never throws for a failing hook; throws
// backy::Error when the record cannot be read or removed.
// REQUIRES: `lock` is the lock of `repo`.
bool run_left_over_post_snapshot(const SnapshotHookConfig& config, Repository& repo,
                                 const Repository::Lock& lock, spdlog::logger& log);

}  // namespace backy
