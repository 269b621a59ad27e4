// JobScheduler: the daemon's job table. Decides when each job runs, feeds due jobs to the worker
// pool in order of due time, records outcomes, and answers the control socket's questions.
//
// Threading: every public method is called on the io_context thread (the control executor) and
// only there; job state is touched nowhere else. Backups run on the WorkerPool; their outcome is
// posted back to the io_context. Nothing here blocks on I/O.
//
// This interface is all the control socket's command handlers (commands.h) know of the daemon's
// core: they call nothing else, and tests put a fake behind it (tests/unit/fake_scheduler.h).
// Extend it; do not change what a method means.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include "config/config.h"
#include "lane.h"
#include "repo/pause_note.h"
#include "repo/revision.h"
#include "util/progress.h"
#include "util/time.h"

namespace backy {

class WorkerPool;
class SourceFactory;

enum class JobState { waiting, queued, running, failed, paused };
std::string to_string(JobState s);

struct RunOutcome {
  bool ok = false;
  std::string error;  // when !ok
  std::string uuid;   // the new revision, when ok
  TimePoint started;
  double duration = 0;  // seconds
  std::set<std::string> tags;
  // When ok: what failed after the commit (expiry, `latest`, the source's clean-up); the
  // revision is safe, the next run retries.
  std::vector<std::string> warnings;
  double throttled = 0;  // seconds of `duration` the run waited for its read limits
};

// What a job's revisions say that health reports: taken from the history the scheduler holds (read
// at startup and after every run and job work), never from a scan per call.
struct RepoFindings {
  std::vector<std::string> distrusted;       // uuids of distrusted revisions
  std::map<std::string, size_t> bad_blocks;  // uuid -> bad blocks found by the last scrub
  std::vector<std::string> problems;         // .rev files that could not be read
};

// The few fields of a job's newest complete revision the job table shows (status JOB has the
// whole Revision).
struct NewestRevision {
  std::string uuid;
  TimePoint timestamp;
  std::set<std::string> tags;
  double duration = 0;  // stats.duration: the whole run's wall time, seconds
  Trust trust = Trust::trusted;
  Consistency consistency = Consistency::crash;
};
NewestRevision newest_of(const Revision& r);

// What the job table, health and metrics show of a job's history. The scheduler keeps one per
// job, made (summarize_history) whenever it reads the history (at start, after each run and job
// work): a call of status reads it, it never walks the revisions.
struct HistorySummary {
  std::optional<NewestRevision> newest;  // of a non-empty history
  uint64_t revisions = 0;
  uint64_t bytes_written = 0;  // sum of stats.bytes_written
  RepoFindings findings;
};
// `history` oldest first (as Repository::revisions gives it); `problems` the .rev files its read
// skipped.
HistorySummary summarize_history(const std::vector<Revision>& history,
                                 std::vector<std::string> problems);

struct JobStatus {
  std::string name;
  JobState state = JobState::waiting;
  bool overdue = false;  // SLA: newest revision older than 1.5 x smallest interval
  std::optional<NewestRevision> last_backup;  // newest complete revision
  std::optional<RunOutcome> last_run;         // the most recent run of this daemon, ok or not
  // While a backup of the job runs: since when, and how far it got (util/progress.h).
  std::optional<TimePoint> running_since;
  std::optional<ProgressSample> progress;
  // The epoch when there is none: a paused job, and a running backup (the next one is planned
  // when it ends).
  TimePoint next_time;
  std::set<std::string> next_tags;
  int consecutive_failures = 0;
  uint64_t total_failures = 0;
  uint64_t revision_count = 0;
  uint64_t bytes_written_total = 0;  // sum of stats.bytes_written over revisions
  std::optional<PauseNote> pause;    // while paused
  // Limits (util/rate_limit.h, util/io_priority.h): the job's own read-limit (bytes/s, 0: none),
  // the io-priority its file source reads with (empty for other sources), the seconds the running
  // run (else the last) waited for its read limits, and that summed over this daemon's runs.
  uint64_t read_limit = 0;
  std::string io_priority;
  double throttled = 0;
  double throttled_total = 0;
  // The lane (lane.h) of its queued or running backup, else of its next one.
  Lane lane = Lane::slow;
  RepoFindings findings;
};

// One lane of the worker pool (lane.h): its slots, the tasks running in it and those waiting for
// a slot.
struct LaneLoad {
  Lane lane = Lane::slow;
  int slots = 0;
  int running = 0;
  int queued = 0;
};

struct ReloadResult {
  bool accepted = false;
  std::vector<std::string> errors;  // "file:line:col: message" when rejected
  std::vector<std::string> added, removed, changed;
};

class JobScheduler {
 public:
  virtual ~JobScheduler() = default;

  virtual const Config& config() const = 0;
  virtual std::vector<JobStatus> status() const = 0;
  // Calls `f` with each job's status, in name order, one at a time: how status, health and
  // metrics read 10,000 jobs without a copy of the table. Each JobStatus is made for the call,
  // and `f` may keep it (move from it). `f` must not change the scheduler. The default goes
  // through status().
  virtual void each_status(const std::function<void(JobStatus&&)>& f) const;
  // nullopt when no such job.
  virtual std::optional<JobStatus> status(const std::string& job) const = 0;
  // Job directories under base-dir whose job is not in the config (never deleted by the daemon).
  virtual std::vector<std::string> orphans() const = 0;
  virtual int running_count() const = 0;
  virtual int queued_count() const = 0;
  // Every lane, in the order fast, slow, work.
  virtual std::vector<LaneLoad> lane_loads() const = 0;

  // Queues a backup of `job` now with `tags` (empty: the tags due now, else all schedule tags).
  // `done` is called on the io_context thread when it ends. When a backup of the job is already
  // queued or running, no second one is queued: `done` is called when that one ends (status()
  // says which: state queued, or running_since set). Returns an error message instead when the
  // job does not exist, or when `tags` are given that the queued or running backup lacks.
  virtual std::optional<std::string> run_now(const std::string& job, std::set<std::string> tags,
                                             std::function<void(const RunOutcome&)> done) = 0;
  // Pauses `job` and records `note` in its directory, so the pause outlasts a restart.
  virtual std::optional<std::string> pause(const std::string& job, PauseNote note) = 0;
  virtual std::optional<std::string> resume(const std::string& job) = 0;
  // Re-reads the configuration file (as SIGHUP does).
  virtual ReloadResult reload() = 0;
  // The first error of the last reload when it was refused (health shows it as WARNING: the file
  // on disk is not what runs); nullopt once a reload was accepted, or before any reload.
  virtual std::optional<std::string> refused_reload() const { return std::nullopt; }

  // Runs `work` on the worker pool (for restore, scrub, forget, tags: anything doing I/O), then
  // `done` on the io_context thread with the error message (nullopt = success). `job` names the
  // job whose lock the work takes, so the scheduler does not start a backup of it meanwhile.
  // REQUIRES: status(job) has a value (a job of the configuration); for any other name, and
  // once the daemon is stopping, `work` does not run and `done` gets the reason.
  virtual void post_job_work(const std::string& job, std::function<void(std::stop_token)> work,
                             std::function<void(std::optional<std::string>)> done) = 0;

  // The source factory the workers share: restores to rbd:POOL/IMAGE go through its cluster
  // connection (SourceFactory::open_restore_target). nullptr: none (a restore into rbd: fails
  // with a clear error; files and devices are written by backyctl, never by the daemon).
  // Any thread may use the returned factory (it is what the workers use).
  virtual std::shared_ptr<SourceFactory> restore_targets() const { return nullptr; }
};

}  // namespace backy
