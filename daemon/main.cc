// backyd: the backup daemon. main() parses argv, loads the configuration and hands over to one
// of the modes: --check-config (the preflight, config/preflight.h), --once, or the long-running
// daemon (run_daemon below), which
// builds the parts, owns them for the process's lifetime, and tears them down in order:
//
//   DaemonLock   one daemon per base-dir
//   io_context   the one event loop (this thread): timers, signals, control socket
//   WorkerPool   worker-limit slots per lane (fast, slow backups; operator work): lane.h
//   Notifier     sd_notify: READY, RELOADING, STOPPING, STATUS, watchdog pings
//   Exports      the revisions served over NBD (qemu-nbd children), held from expiry
//   SourceCleaner  one thread: a committed run's source clean-up (the previous RBD snapshot's
//                removal), off the worker's slot (backup/source_cleaner.h)
//   Scheduler    the job table (JobScheduler); everything it does happens on the loop
//   ControlServer  the control socket backyctl talks to (socket-activated or bound here)
//
// Signals come only through an asio::signal_set: SIGHUP reloads, SIGTERM/SIGINT drain (no new
// work, running backups asked to stop, their partial revisions removed, every export ended)
// and let run() return.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>

#include "backup/job_backup.h"
#include "backup/source_cleaner.h"
#include "ceph/image_check.h"
#include "ceph/source_factory.h"
#include "config/config.h"
#include "config/preflight.h"
#include "control_server.h"
#include "daemon_lock.h"
#include "exports.h"
#include "logging.h"
#include "mount/mount_registry.h"
#include "notifier.h"
#include "once.h"
#include "scheduler.h"
#include "socket_group.h"
#include "util/error.h"
#include "util/text.h"
#include "worker_pool.h"

namespace po = boost::program_options;

namespace {

// How often a running backup logs its progress: 30 s. BACKYD_PROGRESS_LOG_SECONDS (1..3600)
// overrides it for the tests, which cannot wait half a minute per run; anything else is ignored.
std::chrono::seconds progress_log_every() {
  const char* v = std::getenv("BACKYD_PROGRESS_LOG_SECONDS");
  char* end = nullptr;
  const long n = v ? std::strtol(v, &end, 10) : 0;
  if (!v || end == v || *end != '\0' || n < 1 || n > 3600) return std::chrono::seconds(30);
  return std::chrono::seconds(n);
}

// Blocks of 256 KiB and more are mmap()ed and go back to the kernel when freed. glibc's default
// raises that threshold to the largest block freed so far (up to 32 MiB), so after the first
// backup freed its 4 MiB block buffers, every later one came from the freeing thread's malloc
// arena and stayed there: with a dozen threads (workers, readers, the loop) the daemon's RSS
// grew by 150 MiB within seconds of backups (bench/status-latency), and a status answer of
// megabytes left its pages behind the same way. Setting the threshold fixes it (and the trim
// threshold with it). The cost: one mmap per block buffer, which a run allocates once, and
// one per block librbd receives (its messenger's buffer for the reply): every page of a full
// backup's data is faulted in and zeroed once more.
//
// Only the long-running daemon pays that, for a bounded RSS. `--once` ends when its jobs are done,
// so its peak is what it holds at once either way; with glibc's default its 4 MiB buffers are
// reused from the heap: a 1 GiB full backup from RBD took 36,000-65,000 page faults and 1.2 s of
// CPU instead of 279,000 and 1.8 s (perf stat -e page-faults,task-clock).
void keep_large_blocks_out_of_the_heap() {
  ::mallopt(M_MMAP_THRESHOLD, 256 * 1024);
}

// The long-running daemon. Returns the exit code.
int run_daemon(backy::Config config, std::shared_ptr<spdlog::logger> log, bool level_fixed,
               std::chrono::seconds stop_timeout) {
  keep_large_blocks_out_of_the_heap();
  // Writes to a callback's stdin (or a client's socket) that has gone away must fail with EPIPE,
  // not kill the daemon. A disposition, not a handler: nothing runs in signal context.
  std::signal(SIGPIPE, SIG_IGN);

  std::optional<backy::DaemonLock> lock;
  try {
    lock = backy::DaemonLock::acquire(config.global.base_dir);
  } catch (const backy::Error& e) {
    log->error("{}", e.what());
    return 1;
  }
  // Not refused: a missing file source fails its job, not the daemon. Logged so that the journal
  // says what `--check-config` would.
  backy::log_preflight(config, *log);
  // A guest that a killed daemon left frozen thaws first (backup/snapshot_hooks.h); before the
  // loop runs, bounded by hook-timeout per job.
  backy::run_left_over_hooks(config, *log);
  // Mount records survive a restart: the host may still have their clones mounted (backyctl
  // mounted them in its own namespace, which this daemon cannot see). They stay, holding their
  // revisions, until `backyctl umount` or `backyctl mounts --prune` releases them.
  try {
    std::vector<std::string> problems;
    const auto records = backy::MountRegistry(config.global.base_dir).list(&problems);
    if (!records.empty())
      log->info(
          "{} mount record(s) kept from before: `backyctl mounts` lists them, "
          "`backyctl mounts --prune` releases those no longer mounted",
          records.size());
    for (const auto& p : problems) log->warn("unreadable mount record {}", p);
  } catch (const std::exception& e) {
    log->warn("cannot read the mount records: {}", e.what());
  }
  // The control server's socket when systemd activated us (-1: it binds global.socket itself).
  const int listen_fd = backy::activated_socket(*log);

  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  backy::WorkerPool pool(io, config.global.worker_limit);
  backy::Notifier notifier(io, *log);
  // The export sockets live beside the control socket, in a directory of their own.
  backy::Exports exports(io, std::filesystem::path(config.global.socket).parent_path() / "exports",
                         *log);
  backy::SourceCleaner cleaner(*log);
  log->info("backyd {} starting: {}, base-dir {}", BACKY_VERSION,
            backy::count(config.jobs.size(), "job"), config.global.base_dir.string());
  auto scheduler = std::make_shared<backy::Scheduler>(
      io, std::move(config), pool, notifier, log, backy::make_source_factory,
      backy::Scheduler::Options{
          .log_level_fixed = level_fixed,
          .held = [&exports](const std::string& job) { return exports.holds(job); },
          .progress_log_every = progress_log_every(),
          .cleaner = &cleaner});
  // The control socket opens before the first backup can start: a daemon that cannot serve it
  // (path not creatable, another daemon listening) exits before doing anything.
  backy::ControlServer control(io, *scheduler, scheduler->config(), *log, listen_fd, {}, &exports);
  try {
    control.start();
  } catch (const backy::Error& e) {
    log->error("control socket: {}", e.what());
    return 1;
  }
  // An activated socket got its group from backyd.socket (SocketGroup=).
  if (listen_fd < 0)
    backy::give_socket_to_group(scheduler->config().global.socket,
                                scheduler->config().global.admin_group, *log);
  scheduler->start();
  // Startup's garbage is gone (the configuration's yaml-cpp tree, the history readers' .rev
  // trees, freed in the arenas of the threads that read them); give its pages back now, or the
  // daemon's RSS keeps startup's peak for good (92 -> 69 MiB with 10,000 jobs).
  ::malloc_trim(0);

  int exit_code = 0;
  std::function<void()> wait_for_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
      if (ec) return;  // cancelled: shutdown is complete
      if (signo == SIGHUP) {
        if (!scheduler->stopping()) scheduler->reload();
      } else if (!scheduler->stopping()) {
        log->info("{}: stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        control.stop();
        exports.stop_all([] {});  // run() returns once every qemu-nbd is reaped
        scheduler->shutdown(stop_timeout, [&](bool all_stopped) {
          if (!all_stopped) exit_code = 1;
          notifier.stop();
          signals.cancel();  // the last pending wait: run() returns
        });
      } else {
        log->info("already stopping");
      }
      wait_for_signal();
    });
  };
  wait_for_signal();

  notifier.start_watchdog();
  notifier.ready();
  notifier.status(scheduler->summary());
  log->info("ready");

  try {
    io.run();
  } catch (const std::exception& e) {
    log->critical("event loop failed: {}", e.what());
    log->flush();
    std::_Exit(1);
  }
  if (exit_code != 0) {
    // Some backup did not stop within the bound: do not wait for it (the pool's destructor
    // would). Its partial revision is removed by the job's next run.
    log->error("exiting with backups still running after {}s", stop_timeout.count());
    log->flush();
    std::_Exit(exit_code);
  }
  log->info("stopped");
  return 0;
}

// --check-config after a successful load: the preflight, its findings on stderr, a summary on
// stdout when there are no errors. Returns the exit code.
// `config_warnings`: the loader's (upstream backy's keys), printed before the preflight's.
int check_config(const backy::Config& config,
                 const std::vector<backy::ConfigError>& config_warnings, bool online) {
  backy::PreflightReport report = backy::preflight(config);
  if (online) backy::check_images(config, backy::make_rbd_image_check(config.ceph), report);
  for (const auto& w : config_warnings) std::cerr << backy::warning_text(w) << "\n";
  for (const auto& e : report.errors) std::cerr << e.to_string() << "\n";
  for (const auto& w : report.warnings) std::cerr << backy::warning_text(w) << "\n";
  const size_t warnings = config_warnings.size() + report.warnings.size();
  auto count = [](size_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
  };
  const std::string file = config.file.string();
  if (!report.ok()) {
    std::cerr << "backyd: " << file << ": " << count(report.errors.size(), "error") << ", "
              << count(warnings, "warning") << "\n";
    return 1;
  }
  std::cout << file << ": ok, " << count(config.jobs.size(), "job") << ", "
            << count(config.schedules.size(), "schedule") << ", base-dir "
            << config.global.base_dir.string() << ", " << count(warnings, "warning")
            << (online ? ", images checked" : "") << "\n";
  return 0;
}

// --write-paths: base-dir and the metrics file's directory, one a line, for backyd-generator to
// put into a drop-in as ReadWritePaths=. A path that a unit file would read differently (spaces,
// quotes, backslashes, % specifiers, control characters) is refused with a message, not printed.
int print_write_paths(const backy::Config& config) {
  std::vector<std::filesystem::path> paths = {config.global.base_dir};
  if (!config.global.metrics_file.empty())
    paths.push_back(std::filesystem::path(config.global.metrics_file).parent_path());
  int code = 0;
  for (const auto& p : paths) {
    const std::string s = p.lexically_normal().string();
    const bool plain = p.is_absolute() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
                         return std::isalnum(c) || std::strchr("/._+-@:,=", c) != nullptr;
                       });
    if (plain) {
      std::cout << s << "\n";
    } else {
      std::cerr << "backyd: " << s << ": not usable in a unit file; allow it by hand\n";
      code = 1;
    }
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts(
      "Usage: backyd -c CONFIG [--check-config | --once JOB...]\n\nOptions");
  opts.add_options()("help,h", "show this help")("version", "show the version")(
      "config,c", po::value<std::string>()->default_value("/etc/backy.yaml"), "configuration file")(
      "check-config",
      "check the configuration and what it names (base-dir, sources, group, callback), print "
      "errors and warnings as file:line:col and a summary, and exit")(
      "online", "with --check-config: also connect to Ceph and check every RBD image")(
      "write-paths",
      "print the directories the configuration has backyd write (base-dir, the metrics file's), "
      "one a line, and exit (for backyd-generator: the service's ReadWritePaths=)")(
      "once", po::value<std::vector<std::string>>()->multitoken(),
      "back up the named jobs now, in the foreground, and exit")(
      "tags", po::value<std::string>(), "with --once: the tags of the new revisions (T1,T2)")(
      "log-level,l", po::value<std::string>(),
      "trace, debug, info, warning, error (overrides the config)")(
      "stop-timeout", po::value<int>()->default_value(60),
      "seconds to wait for running backups to stop on SIGTERM");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "backyd: " << e.what() << "\n" << opts;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "backyd " << BACKY_VERSION << "\n";
    return 0;
  }

  const std::string file = vm["config"].as<std::string>();
  backy::ConfigLoad load = backy::load_config(file);
  if (!load.ok()) {
    for (const auto& w : load.warnings) std::cerr << backy::warning_text(w) << "\n";
    for (const auto& e : load.errors) std::cerr << e.to_string() << "\n";
    std::cerr << "backyd: " << file << ": " << load.errors.size() << " error"
              << (load.errors.size() == 1 ? "" : "s") << "\n";
    return 1;
  }
  const backy::Config& config = *load.config;
  if (vm.count("check-config")) return check_config(config, load.warnings, vm.count("online") > 0);
  if (vm.count("write-paths")) return print_write_paths(config);
  if (vm.count("online")) {
    std::cerr << "backyd: --online goes with --check-config\n";
    return 2;
  }

  if (vm.count("log-level") && !backy::parse_log_level(vm["log-level"].as<std::string>())) {
    std::cerr << "backyd: unknown log level '" << vm["log-level"].as<std::string>()
              << "' (trace, debug, info, warning, error, critical, off)\n";
    return 2;
  }
  auto log = backy::make_logger(vm.count("log-level") ? vm["log-level"].as<std::string>()
                                                      : config.global.log_level);
  for (const auto& w : load.warnings) log->warn("{}", backy::warning_text(w));
  if (vm.count("once")) {
    std::optional<std::set<std::string>> tags;
    if (vm.count("tags")) tags = backy::parse_tag_list(vm["tags"].as<std::string>());
    return backy::run_once(config, vm["once"].as<std::vector<std::string>>(), tags, *log);
  }
  const int stop_timeout = vm["stop-timeout"].as<int>();
  if (stop_timeout < 1) {
    std::cerr << "backyd: --stop-timeout must be at least 1\n";
    return 2;
  }
  return run_daemon(std::move(*load.config), log, vm.count("log-level") > 0,
                    std::chrono::seconds(stop_timeout));
}
