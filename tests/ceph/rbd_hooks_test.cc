// Snapshot hooks on the real cluster (backup/snapshot_hooks.h): a hook script records each call
// (hook, times, environment, and whether the run's snapshot existed when it ran, asked with
// `rbd snap ls`) to a file; the tests check the freeze window's order pre < snapshot < post <
// first block read, that post-snapshot runs on every way out (failure, cancellation, SIGTERM,
// SIGKILL and the next start), the fail/continue policies, the timeout, and the revision's
// consistency.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "backup/snapshot_hooks.h"
#include "ceph/fault_source.h"
#include "ceph/rbd_source.h"
#include "integration/daemon_support.h"
#include "rbd_support.h"
#include "repo/repository.h"
#include "support/test_env.h"
#include "util/error.h"

namespace backy::test {

namespace {

constexpr uint64_t MiB = 1024 * 1024;

// The hook: `hook.sh RECORD CEPH_CONF MODE_FILE`. Appends one line of key=value fields to
// RECORD when it starts (its end time is appended when it ends), then behaves as MODE_FILE says:
// ok, fail (exit 3), or hang (sleep, with a child of its own in the background, whose pid it
// records as child=).
constexpr const char* kHook = R"sh(#!/bin/sh
start=$(date +%s.%N)
if rbd -c "$2" snap ls "$BACKY_POOL/$BACKY_IMAGE" 2>/dev/null | grep -qw -- "$BACKY_SNAPSHOT"; then
  snap=exists
else
  snap=absent
fi
mode=$(cat "$3")
if [ "$BACKY_HOOK" = post-snapshot ]; then mode=ok; fi
printf 'hook=%s start=%s snap=%s taken=%s job=%s pool=%s image=%s snapshot=%s revision=%s path=%s ceph_conf=%s pid=%s' \
  "$BACKY_HOOK" "$start" "$snap" "${BACKY_SNAPSHOT_TAKEN:-none}" "$BACKY_JOB" "$BACKY_POOL" \
  "$BACKY_IMAGE" "$BACKY_SNAPSHOT" "$BACKY_REVISION" "$PATH" "${CEPH_CONF:-unset}" "$$" >>"$1"
case $mode in
  fail) echo " end=$(date +%s.%N)" >>"$1"; exit 3 ;;
  hang) sleep 600 & printf ' child=%s' "$!" >>"$1"; echo >>"$1"; sleep 600 ;;
esac
echo " end=$(date +%s.%N)" >>"$1"
)sh";

using Call = std::map<std::string, std::string>;

// The calls recorded so far, in order.
std::vector<Call> read_calls(const std::filesystem::path& record) {
  std::vector<Call> calls;
  std::istringstream in(read_text(record));
  for (std::string line; std::getline(in, line);) {
    Call c;
    std::istringstream fields(line);
    for (std::string f; fields >> f;)
      if (auto eq = f.find('='); eq != std::string::npos) c[f.substr(0, eq)] = f.substr(eq + 1);
    calls.push_back(std::move(c));
  }
  return calls;
}

double seconds_of(const Call& c, const std::string& key) {
  return c.count(key) ? std::stod(c.at(key)) : -1;
}

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool alive(const std::string& pid) {
  return !pid.empty() && ::kill(std::stoi(pid), 0) == 0;
}

// The hook script, its record and its mode file in `dir`.
struct HookFiles {
  explicit HookFiles(const TempDir& dir)
      : script(dir / "hook.sh"), record(dir / "calls"), mode(dir / "mode") {
    std::ofstream(script) << kHook;
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);
    set_mode("ok");
  }
  void set_mode(const std::string& m) const { std::ofstream(mode) << m << "\n"; }
  std::vector<std::string> argv(const std::string& conf) const {
    return {script.string(), record.string(), conf, mode.string()};
  }
  std::vector<Call> calls() const { return read_calls(record); }
  std::filesystem::path script, record, mode;
};

void set_hooks(RbdJob& vm, const HookFiles& h, bool pre = true) {
  SnapshotHookConfig& hooks = vm.config.jobs.at("vm").hooks;
  if (pre) hooks.pre_snapshot = h.argv(vm.cluster.conf());
  hooks.post_snapshot = h.argv(vm.cluster.conf());
}

std::filesystem::path pending_note(RbdJob& vm) {
  return vm.config.global.base_dir / "vm" / kHookPendingNote;
}

// A backyd with job "vm" on `image` whose both hooks are `h`, with `extra` in the job.
std::filesystem::path hook_daemon_config(const TempDir& dir, const std::string& conf,
                                         const std::string& image, const HookFiles& h,
                                         const std::string& extra = "") {
  std::string argv;
  for (const auto& a : h.argv(conf)) argv += (argv.empty() ? "" : ", ") + a;
  return write_config(dir.path(),
                      "global: {base-dir: " + (dir / "base").string() +
                          ", socket: " + (dir / "ctl.sock").string() + "}\nceph: {conf: " + conf +
                          "}\nschedules: {s: {daily: {interval: 1d, keep: 3}}}\n"
                          "jobs: {vm: {schedule: s, source: {type: ceph-rbd, pool: rbd, image: " +
                          image + "}, pre-snapshot: [" + argv + "], post-snapshot: [" + argv + "]" +
                          extra + "}}\n");
}

}  // namespace

TEST_CASE(
    "rbd hooks: pre runs before the snapshot exists, post as soon as it does, before the "
    "read, and the revision is frozen") {
  RbdJob vm(16 * MiB, "hooks");
  vm.img.write(0, 8 * MiB, 1);
  HookFiles h(vm.dir);
  set_hooks(vm, h);
  FaultFactory faults(*vm.factory);
  double first_block = 0;
  faults.before_first_block = [&] { first_block = wall_now(); };
  const double run_start = wall_now();
  BackupResult r = backup_job(vm.config, vm.config.jobs.at("vm"), faults, {"daily"}, *vm.log);
  const double run_end = wall_now();

  const auto calls = h.calls();
  INFO(read_text(h.record) << vm.log.text());
  REQUIRE(calls.size() == 2);
  const Call &pre = calls[0], &post = calls[1];
  const std::string snap = rbd_snapshot_name(r.revision.uuid);
  CHECK(pre.at("hook") == "pre-snapshot");
  CHECK(pre.at("snap") == "absent");  // not yet taken
  CHECK(pre.at("taken") == "none");
  CHECK(post.at("hook") == "post-snapshot");
  CHECK(post.at("snap") == "exists");  // taken between the two
  CHECK(post.at("taken") == "yes");
  for (const Call& c : calls) {
    CHECK(c.at("job") == "vm");
    CHECK(c.at("pool") == "rbd");
    CHECK(c.at("image") == vm.img.name());
    CHECK(c.at("snapshot") == snap);
    CHECK(c.at("revision") == r.revision.uuid);
    CHECK(c.at("path") == "/usr/sbin:/usr/bin:/sbin:/bin");
    CHECK(c.at("ceph_conf") == "unset");  // a clean environment, not the daemon's
  }
  // The guest thawed before the first block was read, not after the whole read.
  CHECK(seconds_of(pre, "end") <= seconds_of(post, "start"));
  CHECK(seconds_of(post, "end") < first_block);
  CHECK(first_block < run_end);
  std::fprintf(stderr,
               "hook timeline (s from run start): pre %.3f-%.3f, post %.3f-%.3f (snapshot "
               "between), first block %.3f, run end %.3f\n",
               seconds_of(pre, "start") - run_start, seconds_of(pre, "end") - run_start,
               seconds_of(post, "start") - run_start, seconds_of(post, "end") - run_start,
               first_block - run_start, run_end - run_start);

  CHECK(r.revision.consistency == Consistency::frozen);
  Repository repo(vm.config.global.base_dir / "vm");
  CHECK(repo.find(r.revision.uuid).consistency == Consistency::frozen);
  CHECK(read_text(repo.rev_path(r.revision.uuid)).find("consistency: frozen") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(pending_note(vm)));
  CHECK(r.warnings.empty());

  // Without hooks the next revision is crash-consistent.
  vm.config.jobs.at("vm").hooks = {};
  CHECK(vm.backup().revision.consistency == Consistency::crash);
  CHECK(h.calls().size() == 2);
}

TEST_CASE("rbd hooks: post runs when the read fails and when the snapshot cannot be taken") {
  RbdJob vm(8 * MiB, "hookfail");
  vm.img.write(0, 4 * MiB, 2);
  HookFiles h(vm.dir);
  set_hooks(vm, h);
  FaultFactory faults(*vm.factory);
  faults.before_first_block = [] { throw Error("injected read error"); };
  CHECK_THROWS_WITH(backup_job(vm.config, vm.config.jobs.at("vm"), faults, {"daily"}, *vm.log),
                    Catch::Contains("injected read error"));
  auto calls = h.calls();
  INFO(read_text(h.record) << vm.log.text());
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].at("hook") == "post-snapshot");
  CHECK(calls[1].at("taken") == "yes");
  CHECK(seconds_of(calls[1], "end") > 0);
  CHECK_FALSE(std::filesystem::exists(pending_note(vm)));

  // The snapshot fails (the image is not there): post-snapshot still runs, told so.
  vm.config.jobs.at("vm").source.image = vm.img.name() + "-missing";
  CHECK_THROWS_WITH(vm.backup(), Catch::Contains("does not exist"));
  calls = h.calls();
  REQUIRE(calls.size() == 4);
  CHECK(calls[2].at("hook") == "pre-snapshot");
  CHECK(calls[3].at("hook") == "post-snapshot");
  CHECK(calls[3].at("taken") == "no");
  CHECK(Repository(vm.config.global.base_dir / "vm").revisions().empty());
}

TEST_CASE(
    "rbd hooks: a failing pre-snapshot fails the run under fail and continues "
    "crash-consistent under continue, post-snapshot running each time") {
  RbdJob vm(8 * MiB, "hookpolicy");
  vm.img.write(0, 4 * MiB, 3);
  HookFiles h(vm.dir);
  set_hooks(vm, h);
  h.set_mode("fail");
  CHECK_THROWS_WITH(vm.backup(),
                    Catch::Contains("pre-snapshot failed") && Catch::Contains("exited with 3"));
  auto calls = h.calls();
  INFO(read_text(h.record) << vm.log.text());
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].at("hook") == "post-snapshot");
  CHECK(calls[1].at("taken") == "no");
  CHECK(vm.img.backy_snapshots().empty());  // no snapshot was taken
  CHECK_FALSE(std::filesystem::exists(pending_note(vm)));

  vm.config.jobs.at("vm").hooks.continue_on_pre_failure = true;
  BackupResult r = vm.backup();
  CHECK(r.revision.consistency == Consistency::crash);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].find("pre-snapshot failed, the snapshot is crash-consistent") !=
        std::string::npos);
  calls = h.calls();
  REQUIRE(calls.size() == 4);
  CHECK(calls[3].at("hook") == "post-snapshot");
  CHECK(calls[3].at("taken") == "yes");
  CHECK(calls[3].at("snap") == "exists");
  CHECK(read_text(Repository(vm.config.global.base_dir / "vm").rev_path(r.revision.uuid))
            .find("consistency: crash") != std::string::npos);
}

TEST_CASE(
    "rbd hooks: a hanging pre-snapshot is killed with its process group after "
    "hook-timeout") {
  RbdJob vm(8 * MiB, "hooktimeout");
  vm.img.write(0, 4 * MiB, 4);
  HookFiles h(vm.dir);
  set_hooks(vm, h);
  vm.config.jobs.at("vm").hooks.timeout = Seconds(3);
  h.set_mode("hang");
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(vm.backup(), Catch::Contains("killed after hook-timeout (3s)"));
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(took < 20);  // 3 s, the post-snapshot's rbd call, the run's setup
  auto calls = h.calls();
  INFO(read_text(h.record) << vm.log.text());
  REQUIRE(calls.size() == 2);
  CHECK(eventually(5, [&] { return !alive(calls[0].at("pid")) && !alive(calls[0].at("child")); }));
  CHECK(calls[1].at("hook") == "post-snapshot");
  CHECK(calls[1].at("taken") == "no");
}

TEST_CASE("rbd hooks: SIGTERM inside the freeze window runs post-snapshot before backyd exits") {
  RbdJob vm(8 * MiB, "hookterm");
  vm.img.write(0, 4 * MiB, 5);
  HookFiles h(vm.dir);
  h.set_mode("hang");
  Daemon daemon(hook_daemon_config(vm.dir, vm.cluster.conf(), vm.img.name(), h),
                vm.dir / "backyd.log");
  // The job runs at once (no revisions): wait until pre-snapshot hangs.
  REQUIRE(eventually(60, [&] { return h.calls().size() == 1 && h.calls()[0].count("child"); }));
  const double term = wall_now();
  REQUIRE(daemon.stop(60) == 0);
  const double exited = wall_now();
  const auto calls = h.calls();
  INFO(read_text(h.record) << daemon.log());
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].at("hook") == "post-snapshot");
  CHECK(calls[1].at("taken") == "no");
  CHECK(seconds_of(calls[1], "start") > term);
  CHECK(seconds_of(calls[1], "end") < exited);
  CHECK(eventually(5, [&] { return !alive(calls[0].at("pid")) && !alive(calls[0].at("child")); }));
  CHECK_FALSE(std::filesystem::exists(vm.dir / "base" / "vm" / kHookPendingNote));
  CHECK(daemon.log_has("pre-snapshot failed"));
}

TEST_CASE(
    "rbd hooks: after SIGKILL inside the freeze window the next start runs post-snapshot "
    "first, with what the record holds") {
  RbdJob vm(8 * MiB, "hookkill");
  vm.img.write(0, 4 * MiB, 6);
  HookFiles h(vm.dir);
  h.set_mode("hang");
  const auto config = hook_daemon_config(vm.dir, vm.cluster.conf(), vm.img.name(), h);
  const auto note = vm.dir / "base" / "vm" / kHookPendingNote;
  std::vector<Call> calls;
  {
    Daemon daemon(config, vm.dir / "backyd.log");
    REQUIRE(eventually(60, [&] { return h.calls().size() == 1 && h.calls()[0].count("child"); }));
    daemon.child.signal(SIGKILL);
    CHECK(daemon.child.wait(10) == 128 + SIGKILL);
    calls = h.calls();
  }
  // The hung hook outlived the daemon (its own process group): what a crashed daemon leaves.
  CHECK(alive(calls[0].at("pid")));
  ::kill(-std::stoi(calls[0].at("pid")), SIGKILL);
  REQUIRE(std::filesystem::exists(note));
  const std::string recorded = read_text(note);
  CHECK(recorded.find("BACKY_REVISION=" + calls[0].at("revision")) != std::string::npos);

  h.set_mode("ok");
  Daemon again(config, vm.dir / "backyd2.log");
  Repository repo(vm.dir / "base" / "vm");
  const bool ran = eventually(120, [&] { return repo.revisions().size() == 1; });
  INFO(read_text(h.record) << again.log());
  REQUIRE(ran);
  calls = h.calls();
  REQUIRE(calls.size() == 4);
  // First the left-over window's post-snapshot, then the new run's pre and post.
  CHECK(calls[1].at("hook") == "post-snapshot");
  CHECK(calls[1].at("taken") == "unknown");
  CHECK(calls[1].at("revision") == calls[0].at("revision"));
  CHECK(calls[1].at("snapshot") == calls[0].at("snapshot"));
  CHECK(calls[1].at("image") == vm.img.name());
  CHECK(calls[2].at("hook") == "pre-snapshot");
  CHECK(calls[2].at("revision") != calls[0].at("revision"));
  CHECK(calls[3].at("taken") == "yes");
  CHECK(repo.revisions()[0].consistency == Consistency::frozen);
  CHECK_FALSE(std::filesystem::exists(note));
  CHECK(again.log_has("was left open"));
  ProcessResult status =
      run({BACKYCTL_PATH, "-s", (vm.dir / "ctl.sock").string(), "status", "vm", "--json"});
  CHECK(status.out.find("\"consistency\": \"frozen\"") != std::string::npos);
  ProcessResult text = run({BACKYCTL_PATH, "-s", (vm.dir / "ctl.sock").string(), "status", "vm"});
  CHECK(text.out.find("Consistency") != std::string::npos);
  CHECK(text.out.find("frozen") != std::string::npos);
  CHECK(again.stop() == 0);
}

}  // namespace backy::test
