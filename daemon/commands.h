// CommandHandler: carries out one control-socket request against the JobScheduler.
//
// The control server (control_server.h) owns the sockets; this class knows none. It receives a
// request that already passed protocol::parse_request, the peer's credentials, and a Responder
// to answer through; it checks arguments and rights, then answers at once (status, metrics, run,
// pause, ...) or later (health and `status JOB` read revision files; scrub, forget and tags write
// them; restore passes a revision's image to the client, or writes a new RBD image).
//
// The daemon never opens a path a client named: a restore to a file, a device or stdout answers
// with the image's fd (Responder::result_with_fd) and backyctl writes the target with its own
// rights; only rbd: targets are written here, in the pools restore-pools allows.
//
// Threading: handle() and every Responder call happen on the io_context thread, as the
// JobScheduler requires; the public methods check it (ThreadChecker, bound by the first call).
// File reads that need no job lock (revision listings, base-dir's space) run through
// Executors::read on the control server's reader threads, so a slow disk never stalls the event
// loop and a `status JOB` never waits behind a running backup. Anything that writes a job
// directory runs through JobScheduler::post_job_work, on the worker pool, under the job's lock.
// Results come back through Executors::loop.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "job_scheduler.h"
#include "mount/mount_registry.h"
#include "peer.h"
#include "protocol/message.h"
#include "restore/target_name.h"
#include "util/fd.h"
#include "util/thread_checker.h"

namespace spdlog {
class logger;
}

namespace backy {

// Whether `peer` may run changing commands: uid 0, or `admin_group` (a group name; empty: none)
// is its primary group or one of its supplementary groups as the socket reported them at connect
// (peer.h: what counts is the connecting process's groups, not its user's entry in /etc/group).
bool is_admin(const Peer& peer, const std::string& admin_group);

// One client's answer channel. Called on the io_context thread only. After result(),
// result_with_fd() or error() nothing more may be sent, unless await_follow_up() was called:
// then one more final answer, to the client's follow-up line.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void progress(const protocol::Json& progress) = 0;
  virtual void result(const protocol::Json& result) = 0;
  // The final response with `"fd": true` added, and `fd` passed to the client (SCM_RIGHTS) with
  // it. The Responder owns the fd from here on and closes its copy once sent (or on failure).
  virtual void result_with_fd(protocol::Json result, UniqueFd fd) = 0;
  virtual void error(const protocol::Error& error) = 0;
  // A final response already encoded (protocol::encode_result), for answers large enough that
  // encoding them belongs on a reader thread rather than on the event loop.
  virtual void encoded_result(std::string line) = 0;
  // `f` runs (once, on the io_context thread) if the client goes away before the final response
  // is sent: at once if it already has. Replaces an earlier handler.
  virtual void on_hangup(std::function<void()> f) = 0;
  // Makes the next final response a first answer: once it is written, the connection stays open
  // for one more line from the client (at most protocol::kMaxRequestBytes), and `f` runs once,
  // on the io_context thread, with that line, or with nullopt when the client goes away, the
  // server stops or kFollowUpTimeout passes first (at once if the client has gone already).
  // After f has its line, the next result() or error() is the final answer. Call before the
  // first answer. (mount: the client confirms the mount it made; docs/protocol.md.)
  virtual void await_follow_up(std::function<void(std::optional<std::string>)> f) = 0;
};

struct Executors {
  // Runs a task on a reader thread (read-only file access, no job lock).
  std::function<void(std::function<void()>)> read;
  // Runs a task on the io_context thread.
  std::function<void(std::function<void()>)> loop;
  // Runs a task on the io_context thread after a delay (run --wait's progress lines). Empty:
  // no such lines.
  std::function<void(std::chrono::milliseconds, std::function<void()>)> after;
};

class Exports;
struct MetricsFigures;

// The daemon's NBD exports as `status` lists them (an empty list for nullptr).
protocol::Json exports_json(const Exports* exports);

class CommandHandler {
 public:
  // `exports`: the daemon's NBD exports (exports.h); nullptr: `export` answers that this daemon
  // serves none.
  CommandHandler(JobScheduler& scheduler, spdlog::logger& log, Executors executors,
                 Exports* exports = nullptr);
  CommandHandler(const CommandHandler&) = delete;
  CommandHandler& operator=(const CommandHandler&) = delete;

  // Checks the request against its row of the command table (arguments, then access), then
  // calls the row's handler.
  void handle(const protocol::Request& request, const Peer& peer, std::shared_ptr<Responder> out);

  // The commands of the table without a handler here, and handlers of commands the table lacks.
  // Empty, or the constructor throws.
  static std::vector<std::string> unbound_commands();

  // Writes the `metrics` command's text to global.metrics-file (if set) atomically: the figures
  // gathered here, formatted and written on a reader thread.
  void write_metrics_file();

 private:
  using Out = std::shared_ptr<Responder>;
  // One per row of the command table (protocol/commands.h), bound by name in commands.cc.
  using Handler = void (CommandHandler::*)(const protocol::Json& args, Out out);
  struct Binding {
    std::string_view command;
    Handler handler;
  };
  static const std::vector<Binding>& bindings();

  // The job table's rows and the scheduler's figures for the metrics text (metrics_view.h).
  std::shared_ptr<const MetricsFigures> metrics_figures() const;

  void version(const protocol::Json& args, Out out);
  void status(const protocol::Json& args, Out out);
  void health(const protocol::Json& args, Out out);
  void metrics(const protocol::Json& args, Out out);
  void run(const protocol::Json& args, Out out);
  void pause(const protocol::Json& args, Out out);
  void resume(const protocol::Json& args, Out out);
  void pause_resume(bool pause, const protocol::Json& args, Out out);
  void reload(const protocol::Json& args, Out out);
  void restore(const protocol::Json& args, Out out);
  void restore_to_rbd(const std::string& job, const std::string& spec, const std::string& target,
                      const RbdImageName& name, Out out);
  void path(const protocol::Json& args, Out out);
  void scrub(const protocol::Json& args, Out out);
  void forget(const protocol::Json& args, Out out);
  void tags(const protocol::Json& args, Out out);
  // commands_adopt.cc: upstream backy's revisions taken over in place.
  void adopt(const protocol::Json& args, Out out);
  // commands_mount.cc: a revision made usable in place (clone, mount, umount, mounts).
  void clone(const protocol::Json& args, Out out);
  void mount(const protocol::Json& args, Out out);
  void umount(const protocol::Json& args, Out out);
  void mounts(const protocol::Json& args, Out out);
  // commands_export.cc: a revision served over NBD (export, export --stop).
  void export_revision(const protocol::Json& args, Out out);
  void stop_exports(const std::string& job, const std::string& spec, Out out);
  // Runs `work` under the job's lock on the worker pool; answers with its result or error.
  void job_work(
      const std::string& job,
      std::function<protocol::Json(std::stop_token, std::function<void(protocol::Json)>)> work,
      Out out);

  // mount's second half (commands_mount.cc): the client's confirmation `line`, or its absence.
  void mount_confirmed(const MountRecord& record, std::optional<std::string> line, Out out);

  ThreadChecker io_thread_;
  JobScheduler& scheduler_;
  spdlog::logger& log_;
  // Who sent the request being dispatched, for the log lines of what it changed. Set by handle()
  // on the io thread; a handler copies it into the work it posts.
  std::string requester_;
  Executors executors_;
  Exports* exports_;
  // Dies with this object: what the delayed tasks (Executors::after) check before using it.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  // Health's reflink verdict per base-dir, shared with the reader threads (hence the mutex).
  struct Cache;
  std::shared_ptr<Cache> cache_;
  // Marks the mount records this daemon run wrote: a "pending" one of them is in flight (its
  // client's connection is open), one of an earlier run is stale.
  const std::string run_id_;
};

}  // namespace backy
