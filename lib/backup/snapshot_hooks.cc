#include "backup/snapshot_hooks.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <set>
#include <sstream>
#include <vector>

#include "util/child_process.h"
#include "util/error.h"
#include "util/text.h"

namespace backy {

namespace {

// A record of a few short lines; anything larger is not one of ours.
constexpr size_t kMaxNoteBytes = 4096;
constexpr const char* kPath = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";

// The source description's keys, as the hooks see them.
const std::map<std::string, std::string> kSourceVariables = {{"pool", "BACKY_POOL"},
                                                             {"namespace", "BACKY_NAMESPACE"},
                                                             {"image", "BACKY_IMAGE"},
                                                             {"snapshot", "BACKY_SNAPSHOT"}};
// What a record may hold: the variables above and these; any other line is ignored.
const std::set<std::string> kRecorded = {"BACKY_JOB",   "BACKY_REVISION", "BACKY_POOL",
                                         "BACKY_IMAGE", "BACKY_SNAPSHOT", "BACKY_NAMESPACE"};

std::string to_note(const std::map<std::string, std::string>& env) {
  std::string out;
  for (const auto& [k, v] : env) out += k + "=" + v + "\n";
  return out;
}

std::map<std::string, std::string> from_note(const std::string& text) {
  std::map<std::string, std::string> env;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (kRecorded.contains(key) && value.find('\0') == std::string::npos)
      env[std::move(key)] = std::move(value);
  }
  return env;
}

// Runs one hook and logs how it went; returns a description of its failure, empty when ok.
std::string run_hook(const std::vector<std::string>& argv, const char* hook,
                     std::map<std::string, std::string> env, Seconds timeout, spdlog::logger& log,
                     std::stop_token stop) {
  env["BACKY_HOOK"] = hook;
  ChildSpec spec{.argv = argv, .env = {kPath}, .input = {}, .timeout = timeout};
  for (const auto& [k, v] : env) spec.env.push_back(k + "=" + v);
  log.info("{} {} starting", hook, argv[0]);
  const auto t0 = std::chrono::steady_clock::now();
  ChildResult r = run_child(spec, std::move(stop));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  while (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
  if (!r.output.empty()) log.info("{} output: {}", hook, r.output);
  const std::string failure = child_failure(
      r, argv[0], "hook-timeout (" + format_duration(timeout) + ")", "the run is cancelled");
  if (failure.empty())
    log.info("{} {} done in {}", hook, argv[0], human_duration(secs));
  else
    log.warn("{} failed after {}: {}", hook, human_duration(secs), failure);
  return failure;
}

}  // namespace

FreezeWindow::FreezeWindow(const SnapshotHookConfig& config, Repository& repo,
                           const Repository::Lock& lock, const std::string& job,
                           const std::string& revision,
                           const std::map<std::string, std::string>& where, spdlog::logger& log,
                           std::stop_token stop)
    : config_(config), repo_(repo), lock_(lock), log_(log) {
  env_["BACKY_JOB"] = job;
  env_["BACKY_REVISION"] = revision;
  for (const auto& [key, var] : kSourceVariables)
    if (auto it = where.find(key); it != where.end()) env_[var] = it->second;
  // Durable before the guest can be frozen: a crash from here on is thawed at the next start.
  if (!config_.post_snapshot.empty()) repo_.write_note(lock_, kHookPendingNote, to_note(env_));
  if (config_.pre_snapshot.empty()) return;
  const std::string failure =
      run_hook(config_.pre_snapshot, "pre-snapshot", env_, config_.timeout, log_, stop);
  pre_ok_ = failure.empty();
  if (pre_ok_) return;
  if (stop.stop_requested() || !config_.continue_on_pre_failure) {
    // The constructor throws: no destructor will run post-snapshot, so it runs here.
    run_post("no");
    closed_ = true;
    if (stop.stop_requested()) throw Cancelled();
    throw Error("pre-snapshot failed (pre-snapshot-failure: fail): " + failure);
  }
  warning_ = "pre-snapshot failed, the snapshot is crash-consistent: " + failure;
  log_.warn("{}", warning_);
}

FreezeWindow::~FreezeWindow() {
  if (!closed_) run_post("no");
}

Consistency FreezeWindow::close() {
  if (!closed_) run_post("yes");
  closed_ = true;
  return pre_ok_ ? Consistency::frozen : Consistency::crash;
}

void FreezeWindow::run_post(const char* taken) noexcept {
  try {
    if (config_.post_snapshot.empty()) return;
    auto env = env_;
    env["BACKY_SNAPSHOT_TAKEN"] = taken;
    // Never cancelled: it thaws the guest. hook-timeout bounds it.
    const std::string failure =
        run_hook(config_.post_snapshot, "post-snapshot", env, config_.timeout, log_, {});
    if (!failure.empty() && warning_.empty()) warning_ = "post-snapshot failed: " + failure;
    repo_.remove_note(lock_, kHookPendingNote);
  } catch (const std::exception& e) {
    log_.error("post-snapshot: {} (the next start runs it again)", e.what());
  }
}

bool run_left_over_post_snapshot(const SnapshotHookConfig& config, Repository& repo,
                                 const Repository::Lock& lock, spdlog::logger& log) {
  const auto note = repo.read_note(lock, kHookPendingNote, kMaxNoteBytes);
  if (!note) return false;
  auto env = from_note(*note);
  if (config.post_snapshot.empty()) {
    log.warn(
        "a freeze window of revision {} was left open, but no post-snapshot is configured "
        "now: the guest may still be frozen",
        env["BACKY_REVISION"]);
  } else {
    log.warn(
        "a freeze window of revision {} was left open (the daemon stopped inside it): "
        "running post-snapshot",
        env["BACKY_REVISION"]);
    env["BACKY_SNAPSHOT_TAKEN"] = "unknown";
    run_hook(config.post_snapshot, "post-snapshot", env, config.timeout, log, {});
  }
  repo.remove_note(lock, kHookPendingNote);
  return true;
}

}  // namespace backy
