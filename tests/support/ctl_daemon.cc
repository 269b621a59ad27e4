#include "support/ctl_daemon.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace backy::test {

CtlDaemon::CtlDaemon(const fs::path& dir, const std::string& rest, const std::string& global_extra,
                     const fs::path& base_dir)
    : dir_(dir),
      base_dir_(base_dir.empty() ? dir / "base" : base_dir),
      run_dir_("/tmp", "backy-sock") {
  fs::permissions(run_dir_.path(), fs::perms(0755));
  socket_ = (run_dir_ / "backyd.sock").string();
  config_ = write_config(dir_, "global:\n  base-dir: " + base_dir_.string() +
                                   "\n  socket: " + socket_ + "\n" + global_extra + rest);
  start();
}

CtlDaemon::~CtlDaemon() {
  stop();
}

void CtlDaemon::start(const std::map<std::string, std::string>& env) {
  REQUIRE_FALSE(child_);
  child_ = std::make_unique<Child>(std::vector<std::string>{BACKYD_PATH, "-c", config_.string()},
                                   dir_ / "backyd.log", env);
  INFO(log());
  REQUIRE(eventually(20, [&] { return ctl({"version"}).exit_code == 0; }));
}

std::optional<int> CtlDaemon::wait_exit(double seconds) {
  if (!child_) return std::nullopt;
  const auto code = child_->wait(seconds);
  if (code) child_.reset();
  return code;
}

void CtlDaemon::kill() {
  if (!child_) return;
  child_->signal(SIGKILL);
  CHECK(child_->wait(10) == 128 + SIGKILL);
  child_.reset();
}

void CtlDaemon::stop() {
  if (!child_) return;
  child_->signal(SIGTERM);
  CHECK(child_->wait(30) == 0);
  child_.reset();
}

ProcessResult CtlDaemon::ctl(std::vector<std::string> args) const {
  args.insert(args.begin(), {BACKYCTL_PATH, "-s", socket_});
  return run(args);
}

ProcessResult CtlDaemon::ctl_as_nobody(std::vector<std::string> args) const {
  args.insert(args.begin(), {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                             BACKYCTL_PATH, "-s", socket_});
  return run(args);
}

ProcessResult CtlDaemon::ctl_as(unsigned uid, unsigned gid, const std::string& groups,
                                std::vector<std::string> args) const {
  args.insert(args.begin(),
              {"setpriv", "--reuid=" + std::to_string(uid), "--regid=" + std::to_string(gid),
               "--groups=" + groups, BACKYCTL_PATH, "-s", socket_});
  return run(args);
}

nlohmann::json CtlDaemon::ctl_json(std::vector<std::string> args) const {
  args.push_back("--json");
  ProcessResult r = ctl(args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

bool CtlDaemon::wait_revisions(const std::string& job, size_t n, double seconds) const {
  return eventually(seconds, [&] {
    ProcessResult r = ctl({"status", job, "--json"});
    return r.exit_code == 0 && nlohmann::json::parse(r.out)["revisions"].size() >= n;
  });
}

bool CtlDaemon::wait_idle(const std::string& job) const {
  return eventually(30, [&] {
    ProcessResult r = ctl({"status", job, "--json"});
    return r.exit_code == 0 && nlohmann::json::parse(r.out)["job"]["state"] == "waiting";
  });
}

std::string CtlDaemon::log() const {
  std::ifstream in(dir_ / "backyd.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace backy::test
