// A backyd that a test operates through backyctl, as root or as `nobody` would.
//
// The daemon gets its own config (base-dir <dir>/base), its log (<dir>/backyd.log, appended to
// across restarts) and a control socket in a private directory under /tmp, mode 0755, so that
// another user reaches the socket once its group allows (tests chgrp it). The process can be
// killed with SIGKILL and started again on the same config, for the crash tests.
//
// Not thread-safe; one test thread.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "support/test_env.h"

namespace backy::test {

class CtlDaemon {
 public:
  // Writes the config into `dir` and starts the daemon (see start()). `rest` holds the
  // schedules:, jobs: (and ceph:) sections; `global_extra` more lines of global:, each indented
  // two spaces and ended by '\n'. base-dir is `base_dir`, or <dir>/base when empty.
  CtlDaemon(const std::filesystem::path& dir, const std::string& rest,
            const std::string& global_extra = "", const std::filesystem::path& base_dir = {});
  // stop() if it still runs.
  ~CtlDaemon();
  CtlDaemon(const CtlDaemon&) = delete;
  CtlDaemon& operator=(const CtlDaemon&) = delete;

  // REQUIRES: not running. Starts backyd (with `env` added to its environment: test hooks) and
  // waits (at most 20 s) until it answers `version`.
  void start(const std::map<std::string, std::string>& env = {});
  // Waits (at most `seconds`) for the daemon to end by itself (a test hook's exit); its exit
  // code, or nullopt when it still runs.
  std::optional<int> wait_exit(double seconds);
  // SIGKILL and reap: a crash at whatever moment the daemon is in.
  void kill();
  // SIGTERM; CHECKs that it exits 0 within 30 s.
  void stop();
  bool running() const { return child_ != nullptr; }

  // backyctl -s SOCKET ARGS..., as root.
  ProcessResult ctl(std::vector<std::string> args) const;
  // The same as uid:gid with exactly `groups` (comma-separated numeric ids) as supplementary
  // groups: no passwd entry needed.
  ProcessResult ctl_as(unsigned uid, unsigned gid, const std::string& groups,
                       std::vector<std::string> args) const;
  // The same as user nobody, group nogroup, no supplementary groups.
  ProcessResult ctl_as_nobody(std::vector<std::string> args) const;
  // ctl(ARGS... --json), parsed; REQUIREs exit code 0.
  nlohmann::json ctl_json(std::vector<std::string> args) const;
  // Waits (at most `seconds`) until `job` has at least `n` revisions.
  bool wait_revisions(const std::string& job, size_t n, double seconds = 30) const;
  // Waits (at most 30 s) until `job`'s run has ended: its revision is committed, and so listed,
  // before the run reports back, and until then a new `run` follows that run instead of making
  // a new revision.
  bool wait_idle(const std::string& job) const;

  const std::filesystem::path& dir() const { return dir_; }
  const std::filesystem::path& base_dir() const { return base_dir_; }
  std::filesystem::path job_dir(const std::string& job) const { return base_dir_ / job; }
  const std::filesystem::path& config() const { return config_; }
  const std::string& socket() const { return socket_; }
  std::string log() const;

 private:
  std::filesystem::path dir_;
  std::filesystem::path base_dir_;
  TempDir run_dir_;
  std::string socket_;
  std::filesystem::path config_;
  std::unique_ptr<Child> child_;
};

}  // namespace backy::test
