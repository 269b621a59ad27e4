// Trust: no fault, no command and no input may lose or damage a revision. The real backyd, driven
// through backyctl, on the real XFS mount, with a file source: kill -9 at random moments, a full
// filesystem, a flipped byte in a revision, and every changing command tried as `nobody`.
// (The RBD half of the crash test is tests/ceph/rbd_trust_test.cc.)
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "integration/daemon_support.h"
#include "protocol/commands.h"
#include "store/block_sums.h"
#include "support/crash_rounds.h"
#include "support/ctl_daemon.h"
#include "support/dir_state.h"
#include "support/loop_xfs.h"
#include "support/revision_ledger.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace backy::test;
using backy::kBlockSize;
using backy::kPageSize;

namespace {

constexpr uint64_t MiB = 1024 * 1024;

// One file-source job "vm" on kRoundsSchedule: the daemon runs it at once while it has no
// revision, and afterwards only when the test asks (`backyctl run vm`).
std::string file_job(const fs::path& source) {
  return std::string("schedules: {s: ") + kRoundsSchedule +
         "}\njobs:\n  vm:\n    schedule: s\n"
         "    source: {type: file, filename: " +
         source.string() + "}\n";
}

// Rewrites a little of `file` (of `size` bytes): `pages` random 4 KiB pages and one random
// 1 MiB run, so that an incremental has work in several blocks.
void rewrite_some(const fs::path& file, uint64_t size, std::mt19937_64& rng, int pages) {
  std::uniform_int_distribution<uint64_t> page(0, size / kPageSize - 1);
  for (int i = 0; i < pages; ++i) write_random(file, page(rng) * kPageSize, kPageSize, rng());
  std::uniform_int_distribution<uint64_t> mib(0, size / MiB - 1);
  write_random(file, mib(rng) * MiB, MiB, rng());
}

// After a disturbed run: the next `run vm --wait` succeeds, its revision is the only new one the
// ledger sees and holds `want`, and the job directory has no leftovers and scrubs clean.
void check_after_run(CtlDaemon& d, RevisionLedger& ledger, const std::string& want) {
  ProcessResult next = d.ctl({"run", "vm", "--wait"});
  INFO(next.out << next.err << d.log());
  REQUIRE(next.exit_code == 0);
  const auto fresh = ledger.check();
  REQUIRE(fresh.size() == 1);
  CHECK(ledger.image_digest(fresh[0]) == want);
  check_no_leftovers(d.job_dir("vm"));
  check_scrub_clean(d, "vm");
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("trust: kill -9 of backyd at random moments during 20 backups of a file source",
          "[trust]") {
  const uint64_t seed = test_seed("trust kill -9, file source");
  INFO("seed " << seed << " (BACKY_TEST_SEED replays it)");
  std::mt19937_64 rng(seed);
  constexpr uint64_t kSize = 64 * MiB;
  TempDir dir(xfs_mount(), "trust-kill");
  const fs::path source = dir / "vm.img";
  write_random(source, 0, kSize, rng());
  std::string want = content_digest(source);

  CtlDaemon d(dir.path(), file_job(source));
  RevisionLedger ledger(d.job_dir("vm"));
  // Without revisions the job runs at once; that full run is left alone.
  REQUIRE(d.wait_revisions("vm", 1, 60));
  REQUIRE(d.wait_idle("vm"));
  for (const auto& uuid : ledger.check()) CHECK(ledger.image_digest(uuid) == want);
  // An undisturbed incremental gives the time a run takes, and so the range of the kill delays.
  rewrite_some(source, kSize, rng, 32);
  want = content_digest(source);
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(d.ctl({"run", "vm", "--wait"}).exit_code == 0);
  const double run_seconds = since(t0);
  for (const auto& uuid : ledger.check()) CHECK(ledger.image_digest(uuid) == want);
  std::fprintf(stderr, "trust kill -9, file source: an incremental takes %.2f s\n", run_seconds);

  CrashRounds rounds;
  rounds.max_delay = 2 * run_seconds;
  rounds.change_source = [&] {
    rewrite_some(source, kSize, rng, 32);
    return content_digest(source);
  };
  const int completed = run_crash_rounds(d, "vm", ledger, rounds, rng);
  std::fprintf(stderr, "trust kill -9, file source: %d of 20 killed runs had committed\n",
               completed);
  CHECK(completed < 20);  // some kills landed in a run (else the test proves little)

  // The next successful run leaves nothing of the interrupted ones behind.
  rewrite_some(source, kSize, rng, 32);
  check_after_run(d, ledger, content_digest(source));
  d.stop();
}

TEST_CASE("trust: ENOSPC in the middle of a backup fails it clearly and keeps every revision",
          "[trust]") {
  TempDir dir(xfs_mount(), "trust-enospc");
  LoopXfs small(non_reflink_dir(), 320 * MiB);
  const fs::path source = dir / "vm.img";
  write_random(source, 0, 96 * MiB, 1);
  CtlDaemon d(dir.path(), file_job(source), "", small.mount() / "base");
  RevisionLedger ledger(d.job_dir("vm"));
  REQUIRE(d.wait_revisions("vm", 1, 60));
  REQUIRE(d.wait_idle("vm"));
  const auto first = ledger.check();
  REQUIRE(first.size() == 1);
  CHECK(ledger.image_digest(first[0]) == content_digest(source));

  // Leave 16 MiB free, then change 64 MiB of the source: the incremental cannot fit.
  const fs::path filler = small.mount() / "filler";
  REQUIRE(small.free_bytes() > 32 * MiB);
  ProcessResult fill =
      run({"fallocate", "-l", std::to_string(small.free_bytes() - 16 * MiB), filler.string()});
  INFO(fill.err);
  REQUIRE(fill.exit_code == 0);
  write_random(source, 8 * MiB, 64 * MiB, 2);

  ProcessResult failed = d.ctl({"run", "vm", "--wait"});
  INFO(failed.out << failed.err << d.log());
  CHECK(failed.exit_code == 1);
  const std::string said = failed.out + failed.err;
  CHECK(said.find("No space left on device") != std::string::npos);
  CHECK(said.find(d.job_dir("vm").string()) != std::string::npos);  // names where

  // The earlier revision is intact, and nothing of the failed run is listed or left behind.
  CHECK(ledger.check().empty());
  CHECK(d.ctl_json({"status", "vm"})["revisions"].size() == 1);
  CHECK(partial_files(d.job_dir("vm")).empty());
  check_scrub_clean(d, "vm");

  // With space again, the next run succeeds.
  fs::remove(filler);
  check_after_run(d, ledger, content_digest(source));
  d.stop();
}

TEST_CASE("trust: a flipped byte in the newest revision is found and never becomes a parent",
          "[trust]") {
  TempDir dir(xfs_mount(), "trust-rot");
  const fs::path source = dir / "vm.img";
  make_sparse(source, 32 * MiB);
  write_random(source, 0, 8 * MiB, 1);
  write_random(source, 20 * MiB, 2 * MiB, 2);
  CtlDaemon d(dir.path(), file_job(source));
  RevisionLedger ledger(d.job_dir("vm"));
  REQUIRE(d.wait_revisions("vm", 1, 60));
  REQUIRE(d.wait_idle("vm"));
  write_random(source, 4 * MiB, 64 * 1024, 3);
  REQUIRE(d.ctl({"run", "vm", "--wait"}).exit_code == 0);
  REQUIRE(ledger.check().size() == 2);
  const auto revs = revisions_of(d.job_dir("vm"));
  const std::string older = revs[0].uuid, newest = revs[1].uuid;
  REQUIRE(revs[1].parent == older);

  // Bit rot in block 5 of the newest revision, a block it shares (reflink) with the older one.
  constexpr uint64_t kBlock = 5, kOffset = kBlock * kBlockSize + 12345;
  const fs::path image = d.job_dir("vm") / newest;
  const fs::perms mode = fs::status(image).permissions();
  fs::permissions(image, fs::perms::owner_write, fs::perm_options::add);
  {
    std::fstream f(image, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(kOffset);
    char c = 0;
    REQUIRE(f.get(c));
    f.seekp(kOffset);
    f.put(static_cast<char>(c ^ 0x20));
    REQUIRE(f.flush());
  }
  fs::permissions(image, mode);

  ProcessResult scrub = d.ctl({"scrub", "vm", "all"});
  INFO(scrub.out << scrub.err);
  CHECK(scrub.exit_code == 1);
  CHECK(scrub.out.find(newest + ": distrusted, 1 bad block: 5\n") != std::string::npos);
  CHECK(scrub.out.find(older + ": verified\n") != std::string::npos);  // its copy is untouched

  ProcessResult health = d.ctl({"health"});
  INFO(health.out);
  CHECK(health.exit_code == 2);
  CHECK(health.out.find("BACKY CRITICAL") == 0);
  CHECK(health.out.find("revision " + newest) != std::string::npos);

  // The next backup builds on the intact revision, and equals the source.
  ProcessResult next = d.ctl({"run", "vm", "--wait"});
  INFO(next.out << next.err);
  REQUIRE(next.exit_code == 0);
  const auto now = revisions_of(d.job_dir("vm"));
  REQUIRE(now.size() == 3);
  CHECK(now[2].parent == older);
  CHECK(same_content(d.job_dir("vm") / now[2].uuid, source));
  d.stop();
}

namespace {

// backyctl arguments for every changing command, each valid (so that only the caller's rights
// can refuse it). `target_dir` is world-writable: a restore there would succeed if allowed.
std::map<std::string, std::vector<std::vector<std::string>>> changing_invocations(
    const fs::path& target_dir) {
  return {
      {"run", {{"run", "vm"}, {"run", "vm", "--wait", "--tags", "daily"}}},
      {"pause", {{"pause", "vm"}, {"pause", "--all"}}},
      {"resume", {{"resume", "vm"}, {"resume", "--all"}}},
      {"reload", {{"reload"}}},
      {"restore",
       {{"restore", "vm", "0", (target_dir / "r.img").string()},
        {"restore", "vm", "latest", (target_dir / "f.img").string(), "--force"},
        {"restore", "vm", "latest", "-"}}},
      {"scrub", {{"scrub", "vm", "all"}, {"scrub", "vm", "latest"}}},
      {"forget", {{"forget", "vm", "0", "--force"}}},
      {"adopt", {{"adopt", "vm"}}},
      {"tags",
       {{"tags", "vm", "0", "--add", "manual:keep"}, {"tags", "vm", "all", "--remove", "daily"}}},
      {"clone",
       {{"clone", "vm", "0", (target_dir / "c.img").string()},
        {"clone", "vm", "latest", (target_dir / "c.qcow2").string(), "--qcow2"}}},
      {"mount",
       {{"mount", "vm", "0", target_dir.string()},
        {"mount", "vm", "latest", target_dir.string(), "--partition", "1"}}},
      {"umount", {{"umount", target_dir.string()}}},
      {"export",
       {{"export", "vm", "0"},
        {"export", "vm", "latest", "--listen", "127.0.0.1:10809"},
        {"export", "--stop", "vm"}}},
  };
}

}  // namespace

TEST_CASE("trust: nobody may read but no changing command changes anything", "[trust]") {
  TempDir dir(xfs_mount(), "trust-nobody");
  const fs::path source = dir / "vm.img";
  make_sparse(source, 16 * MiB);
  write_random(source, 0, 4 * MiB, 1);
  CtlDaemon d(dir.path(), file_job(source));
  REQUIRE(d.wait_revisions("vm", 1, 60));
  REQUIRE(d.wait_idle("vm"));
  REQUIRE(d.ctl({"run", "vm", "--wait"}).exit_code == 0);
  // The operator gives the socket to the readers' group (systemd: SocketGroup=).
  REQUIRE(run({"chgrp", "nogroup", d.socket()}).exit_code == 0);
  TempDir targets("/tmp", "backy-nobody");
  fs::permissions(targets.path(), fs::perms(01777));

  const DirState before = dir_state(d.job_dir("vm"));
  const std::string config_before = content_digest(d.config());
  const json status_before = d.ctl_json({"status", "vm"});

  // Reading commands run with what they need: none, but `path` a job and a revision.
  const std::map<std::string, std::vector<std::string>> reading_args = {{"path", {"vm", "latest"}}};
  for (const auto& c : backy::protocol::all_commands()) {
    if (c.access != backy::protocol::Access::anyone) continue;
    std::vector<std::string> args{std::string(c.name)};
    if (auto it = reading_args.find(args[0]); it != reading_args.end())
      args.insert(args.end(), it->second.begin(), it->second.end());
    ProcessResult r = d.ctl_as_nobody(args);
    INFO(c.name << ": " << r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK_FALSE(r.out.empty());
  }
  // The table of commands decides what must be refused: a new changing command cannot be
  // forgotten here.
  const auto invocations = changing_invocations(targets.path());
  size_t refusals = 0;
  for (const auto& c : backy::protocol::all_commands()) {
    if (c.access == backy::protocol::Access::anyone) continue;
    INFO("command " << c.name);
    const std::string name(c.name);
    REQUIRE(invocations.contains(name));
    for (const auto& args : invocations.at(name)) {
      ProcessResult r = d.ctl_as_nobody(args);
      INFO(args[0] << " " << (args.size() > 1 ? args[1] : "") << ": " << r.out << r.err);
      CHECK(r.exit_code == 1);
      CHECK(r.err.find("[permission_denied]") != std::string::npos);
      CHECK(r.out.empty());  // restore to -: not one byte of the image
      ++refusals;
    }
  }
  for (const auto& [name, args] : invocations)
    CHECK(backy::protocol::find_command(name)->access != backy::protocol::Access::anyone);

  // Had anything been accepted, it would show by now (a run takes well under a second here).
  std::this_thread::sleep_for(std::chrono::seconds(1));
  INFO(d.log());
  CHECK(dir_changes(before, dir_state(d.job_dir("vm"))) == "");
  CHECK(content_digest(d.config()) == config_before);
  CHECK(fs::is_empty(targets.path()));
  const json status_after = d.ctl_json({"status", "vm"});
  CHECK(status_after["revisions"] == status_before["revisions"]);
  CHECK(status_after["job"]["state"] == "waiting");
  CHECK(count_of(d.log(), "control: refused") == refusals);
  d.stop();
}
