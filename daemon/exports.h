// Exports: the revisions backyd serves over NBD (`backyctl export`), one qemu-nbd child each.
//
// One export's life:
//   reserve()  under the job's lock, on a worker: a slot (at most ExportLimits::max_exports), and
//              the hold that keeps expiry and forget off the revision from here on (holds())
//   start()    on the loop: qemu-nbd serves the image fd the daemon opened (export/nbd_server.h)
//              on a Unix socket the daemon names, <dir>/<JOB>.<REV8>.sock (mode 0600 in a
//              directory 0700), or on --listen's TCP address; ready once its pid file appears
//   stop()     SIGTERM (SIGKILL after ExportLimits::kill_after); once reaped, its socket and pid
//              file are removed and the hold released
// A child that exits on its own is reaped (its pidfd wakes the loop), logged and cleaned up the
// same way; its stderr lines go to the daemon's log as they come. Exports live in memory only:
// stop_all() ends every one at daemon stop, the children die with a killed daemon
// (PR_SET_PDEATHSIG), and none survives a restart; stale sockets and pid files in <dir> are
// removed when the daemon first uses it.
//
// Threading: reserve(), release(), holds() and list() are safe from any thread (a mutex guards
// the table); everything else runs on the io_context thread only. Must outlive io_context::run()
// (its handlers capture it).
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "export/nbd_server.h"
#include "util/dir.h"
#include "util/fd.h"
#include "util/thread_annotations.h"
#include "util/thread_checker.h"
#include "util/time.h"

namespace spdlog {
class logger;
}

namespace backy {

struct ExportLimits {
  size_t max_exports = 16;  // at once, over all jobs
  int max_clients = 8;      // per export (qemu-nbd --shared)
  std::chrono::milliseconds ready_timeout{10000};
  std::chrono::milliseconds kill_after{5000};  // SIGTERM -> SIGKILL
  std::string program = "qemu-nbd";
};

struct ExportInfo {
  std::string id;  // <JOB>.<first 8 characters of the uuid>
  std::string job, uuid;
  std::string state;  // "starting", "serving", "stopping"
  std::string address, uri;
  bool tcp = false;
  TimePoint since;
  int pid = 0;
};

class Exports {
 public:
  // `dir`: where the Unix sockets go (created 0700 on first use, never through a link).
  Exports(boost::asio::io_context& io, std::filesystem::path dir, spdlog::logger& log,
          ExportLimits limits = {});
  ~Exports();
  Exports(const Exports&) = delete;
  Exports& operator=(const Exports&) = delete;

  // Any thread; call under `job`'s lock. Reserves a slot for revision `uuid`, held from now on;
  // returns the export's id. Throws backy::Error when every slot is taken, the revision is
  // already exported, or the daemon is stopping.
  std::string reserve(const std::string& job, const std::string& uuid) EXCLUDES(mu_);
  // Any thread: gives back a reservation that was never start()ed.
  void release(const std::string& id) EXCLUDES(mu_);
  // Any thread: the uuids of `job`'s revisions held by an export (reserved, serving, stopping).
  std::set<std::string> holds(const std::string& job) const EXCLUDES(mu_);
  // Any thread: every export, by id.
  std::vector<ExportInfo> list() const EXCLUDES(mu_);

  using Started = std::function<void(std::optional<std::string> error, const ExportInfo& info)>;
  // Serves reservation `id` from `image` at `tcp` (nullopt: the Unix socket). `done` runs on the
  // loop once it listens, or with the reason it does not (the reservation is then gone).
  void start(const std::string& id, UniqueFd image, std::optional<NbdListen> tcp, Started done);
  // Ends export `id`; `done` runs once its child is reaped and its files are removed (at once
  // when there is no such export).
  void stop(const std::string& id, std::function<void()> done);
  // Ends every export and refuses new ones; `done` once all are gone.
  void stop_all(std::function<void()> done);

 private:
  struct Live;
  Dir& dir();
  void watch_exit(const std::shared_ptr<Live>& live);
  void read_stderr(const std::shared_ptr<Live>& live);
  void poll_ready(const std::shared_ptr<Live>& live);
  bool exists(const std::string& name);
  void finish(const std::shared_ptr<Live>& live, int exit_code);
  void set_state(const std::string& id, const std::string& state) EXCLUDES(mu_);

  boost::asio::io_context& io_;
  const std::filesystem::path dir_path_;
  spdlog::logger& log_;
  const ExportLimits limits_;
  ThreadChecker io_thread_;
  std::optional<Dir> dir_;                             // opened on first use (io thread)
  std::map<std::string, std::shared_ptr<Live>> live_;  // started ones (io thread)

  mutable Mutex mu_;
  std::map<std::string, ExportInfo> table_ GUARDED_BY(mu_);  // reserved and started, by id
  bool stopping_ GUARDED_BY(mu_) = false;
};

}  // namespace backy
