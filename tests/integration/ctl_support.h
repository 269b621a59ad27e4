// The backyctl tests' daemon (tests/integration/ctl_test.cc, restore_test.cc): a backyd with its
// own config, base-dir on the XFS mount, and its socket in a private /tmp directory (mode 0755,
// so that other users can reach it once the socket's group allows), driven through backyctl.
#pragma once

#include <signal.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_env.h"

namespace backy::test {

namespace ctl_fs = std::filesystem;

struct CtlJob {
  std::string name;
  std::string source;  // file name; missing -> every run fails
  std::string schedule = "daily";
};

// A backyd with its own config, base-dir on XFS, socket in a private /tmp directory.
class CtlDaemon {
 public:
  explicit CtlDaemon(const std::vector<CtlJob>& jobs, const std::string& extra_global = "")
      : data_(xfs_mount(), "ctl"), run_dir_("/tmp", "backy-ctl-sock") {
    ctl_fs::permissions(run_dir_.path(), ctl_fs::perms(0755));
    socket_ = (run_dir_ / "backyd.sock").string();
    std::string yaml = "global:\n  base-dir: " + (data_ / "base").string() +
                       "\n  worker-limit: 2\n  socket: " + socket_ + "\n" + extra_global +
                       "schedules:\n  daily:\n    daily: {interval: 1d, keep: 5}\n"
                       "  fast:\n    often: {interval: 2s, keep: 5}\njobs:\n";
    for (const auto& j : jobs)
      yaml += "  " + j.name + ":\n    schedule: " + j.schedule +
              "\n    source: {type: file, filename: " + j.source + "}\n";
    config_ = write_config(data_.path(), yaml);
    child_ = std::make_unique<Child>(std::vector<std::string>{BACKYD_PATH, "-c", config_.string()},
                                     data_ / "backyd.log");
    REQUIRE(eventually(20, [&] { return ctl({"version"}).exit_code == 0; }));
  }
  ~CtlDaemon() { stop(); }

  ProcessResult ctl(std::vector<std::string> args) const {
    args.insert(args.begin(), {BACKYCTL_PATH, "-s", socket_});
    return run(args);
  }
  // backyctl as uid:gid with exactly `groups` as supplementary groups (numeric ids: no passwd
  // entry needed).
  ProcessResult ctl_as(unsigned uid, unsigned gid, const std::string& groups,
                       std::vector<std::string> args) const {
    args.insert(args.begin(),
                {"setpriv", "--reuid=" + std::to_string(uid), "--regid=" + std::to_string(gid),
                 "--groups=" + groups, BACKYCTL_PATH, "-s", socket_});
    return run(args);
  }
  ProcessResult ctl_as_nobody(std::vector<std::string> args) const {
    args.insert(args.begin(), {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                               BACKYCTL_PATH, "-s", socket_});
    return run(args);
  }
  nlohmann::json ctl_json(std::vector<std::string> args) const {
    args.push_back("--json");
    ProcessResult r = ctl(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(r.out);
  }
  void stop() {
    if (!child_) return;
    child_->signal(SIGTERM);
    CHECK(child_->wait(30) == 0);
    child_.reset();
  }
  // Waits until `job` has `n` revisions.
  bool wait_revisions(const std::string& job, size_t n) const {
    return eventually(30, [&] {
      ProcessResult r = ctl({"status", job, "--json"});
      return r.exit_code == 0 && nlohmann::json::parse(r.out)["revisions"].size() >= n;
    });
  }

  const ctl_fs::path& dir() const { return data_.path(); }
  const ctl_fs::path& config() const { return config_; }
  const std::string& socket() const { return socket_; }
  ctl_fs::path image(const std::string& job, const std::string& uuid) const {
    return data_ / "base" / job / uuid;
  }

 private:
  TempDir data_;
  TempDir run_dir_;
  std::string socket_;
  ctl_fs::path config_;
  std::unique_ptr<Child> child_;
};

inline std::string source_image(const ctl_fs::path& dir, const std::string& name, uint64_t seed) {
  const ctl_fs::path p = dir / name;
  make_sparse(p, 32 << 20);
  write_random(p, 0, 4 << 20, seed);
  write_random(p, 20 << 20, 1 << 20, seed + 1);
  return p.string();
}

}  // namespace backy::test
