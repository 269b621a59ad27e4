// The backyctl tests' daemon (tests/integration/ctl_test.cc, restore_test.cc): a backyd with file
// jobs on a daily and a 2-second schedule, base-dir on the XFS mount, driven through backyctl
// (tests/support/ctl_daemon.h does the driving).
#pragma once

#include <grp.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/ctl_daemon.h"
#include "support/test_env.h"

namespace backy::test {

// A system group that exists for the test's duration (e.g. the daemon's admin-group), named
// `prefix`-PID so that concurrent test processes do not collide.
class TestGroup {
 public:
  explicit TestGroup(const std::string& prefix) : name_(prefix + "-" + std::to_string(::getpid())) {
    REQUIRE(run({"groupadd", name_}).exit_code == 0);
    struct group* g = ::getgrnam(name_.c_str());
    REQUIRE(g != nullptr);
    gid_ = g->gr_gid;
  }
  ~TestGroup() { run({"groupdel", name_}); }
  TestGroup(const TestGroup&) = delete;
  TestGroup& operator=(const TestGroup&) = delete;
  const std::string& name() const { return name_; }
  unsigned gid() const { return gid_; }

 private:
  std::string name_;
  unsigned gid_ = 0;
};

struct CtlJob {
  std::string name;
  std::string source;  // file name; missing -> every run fails
  std::string schedule = "daily";
};

class CtlTestDaemon {
 public:
  explicit CtlTestDaemon(const std::vector<CtlJob>& jobs, const std::string& extra_global = "")
      : data_(xfs_mount(), "ctl"),
        d_(data_.path(), config_rest(jobs), "  worker-limit: 2\n" + extra_global) {}

  ProcessResult ctl(std::vector<std::string> args) const { return d_.ctl(std::move(args)); }
  ProcessResult ctl_as(unsigned uid, unsigned gid, const std::string& groups,
                       std::vector<std::string> args) const {
    return d_.ctl_as(uid, gid, groups, std::move(args));
  }
  ProcessResult ctl_as_nobody(std::vector<std::string> args) const {
    return d_.ctl_as_nobody(std::move(args));
  }
  nlohmann::json ctl_json(std::vector<std::string> args) const {
    return d_.ctl_json(std::move(args));
  }
  void stop() { d_.stop(); }
  void start() { d_.start(); }
  // SIGTERM, then the same daemon again on the same config.
  void restart() {
    d_.stop();
    d_.start();
  }
  void kill() { d_.kill(); }
  // Waits until `job` has `n` revisions.
  bool wait_revisions(const std::string& job, size_t n) const { return d_.wait_revisions(job, n); }
  bool wait_idle(const std::string& job) const { return d_.wait_idle(job); }

  const std::filesystem::path& dir() const { return data_.path(); }
  const std::filesystem::path& config() const { return d_.config(); }
  const std::string& socket() const { return d_.socket(); }
  std::string log() const { return d_.log(); }
  std::filesystem::path image(const std::string& job, const std::string& uuid) const {
    return d_.job_dir(job) / uuid;
  }

 private:
  static std::string config_rest(const std::vector<CtlJob>& jobs) {
    std::string yaml =
        "schedules:\n  daily:\n    daily: {interval: 1d, keep: 5}\n"
        "  fast:\n    often: {interval: 2s, keep: 5}\njobs:\n";
    for (const auto& j : jobs)
      yaml += "  " + j.name + ":\n    schedule: " + j.schedule +
              "\n    source: {type: file, filename: " + j.source + "}\n";
    return yaml;
  }

  TempDir data_;  // first: outlives the daemon
  CtlDaemon d_;
};

// A 32 MiB sparse image with 5 MiB of data from `seed`.
inline std::string source_image(const std::filesystem::path& dir, const std::string& name,
                                uint64_t seed) {
  const std::filesystem::path p = dir / name;
  make_sparse(p, 32 << 20);
  write_random(p, 0, 4 << 20, seed);
  write_random(p, 20 << 20, 1 << 20, seed + 1);
  return p.string();
}

}  // namespace backy::test
