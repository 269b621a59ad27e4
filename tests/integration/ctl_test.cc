// backyctl against a real backyd on the real XFS mount: every command in text and --json form,
// rights, health states, misbehaving clients. The socket lives in its own directory under /tmp
// (mode 0755) so that `nobody` can reach it; the revisions on XFS.
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>

#include "integration/ctl_support.h"
#include "support/test_env.h"
#include "util/time.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace backy::test;

namespace {

using Daemon = CtlTestDaemon;

int raw_connect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::string raw_exchange(int fd, const std::string& data) {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) break;
    done += size_t(n);
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, size_t(n));
  ::close(fd);
  return out;
}

}  // namespace

TEST_CASE("backyctl: status, version, metrics in text and --json", "[ctl]") {
  TempDir src(xfs_mount(), "src");
  const fs::path metrics_file = src / "backy.prom";
  Daemon d({{"vm1", source_image(src.path(), "vm1.img", 1)},
            {"vm2", source_image(src.path(), "vm2.img", 2)}},
           "  metrics-file: " + metrics_file.string() + "\n");
  REQUIRE(d.wait_revisions("vm1", 1));
  REQUIRE(d.wait_revisions("vm2", 1));

  ProcessResult text = d.ctl({"status"});
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("Job") == 0);
  CHECK(text.out.find("vm1") != std::string::npos);
  CHECK(text.out.find("2 jobs: ") != std::string::npos);
  json status = d.ctl_json({"status"});
  REQUIRE(status["jobs"].size() == 2);
  CHECK(status["jobs"][0]["last_backup"]["tags"] == json{"daily"});
  CHECK(status["summary"]["jobs"] == 2);

  ProcessResult job = d.ctl({"status", "vm1"});
  CHECK(job.exit_code == 0);
  CHECK(job.out.find("1 revision, ") != std::string::npos);
  CHECK(job.out.find("data (estimated)") != std::string::npos);
  json jj = d.ctl_json({"status", "vm1"});
  CHECK(jj["revisions"][0]["trust"] == "trusted");
  CHECK(jj["revisions"][0]["bytes_written"] == 5 << 20);

  ProcessResult v = d.ctl({"version"});
  CHECK(v.out.find("backyd ") != std::string::npos);
  CHECK(d.ctl_json({"version"})["protocol"] == 1);

  ProcessResult m = d.ctl({"metrics"});
  CHECK(m.exit_code == 0);
  CHECK(m.out.find("backy_job_revisions{job=\"vm1\"} 1\n") != std::string::npos);
  CHECK(m.out.find("backy_worker_limit 2\n") != std::string::npos);
  CHECK(d.ctl_json({"metrics"})["text"].get<std::string>().find("backy_jobs 2") !=
        std::string::npos);

  // The textfile-collector copy appears soon after start, and is rewritten as things change.
  CHECK(eventually(30, [&] {
    std::ifstream in(metrics_file);
    std::string text(std::istreambuf_iterator<char>(in), {});
    return text.find("backy_job_revisions{job=\"vm1\"} 1\n") != std::string::npos;
  }));

  ProcessResult ghost = d.ctl({"status", "ghost"});
  CHECK(ghost.exit_code == 1);
  CHECK(ghost.err.find("no job named \"ghost\"") != std::string::npos);
}

TEST_CASE(
    "backyctl: health and status answer from the daemon's memory: a .rev damaged behind its back "
    "shows after the job's next run, not before",
    "[ctl]") {
  TempDir src(xfs_mount(), "src");
  Daemon d({{"vm1", source_image(src.path(), "vm1.img", 2)}});
  REQUIRE(d.wait_revisions("vm1", 1));
  REQUIRE(d.wait_idle("vm1"));
  const std::string uuid = d.ctl_json({"status"})["jobs"][0]["last_backup"]["uuid"];
  REQUIRE(d.ctl({"health"}).exit_code == 0);

  const fs::path rev = d.image("vm1", uuid + ".rev");
  fs::permissions(rev, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(rev, std::ios::trunc) << "not: [a revision\n";
  // No call scans the job directories: what the daemon read is what they answer.
  CHECK(d.ctl({"health"}).exit_code == 0);
  CHECK(d.ctl_json({"status"})["jobs"][0]["last_backup"]["uuid"] == uuid);
  CHECK(d.ctl({"status"}).out.find("daily") != std::string::npos);

  // A run rereads the job's revisions: the damaged file is a problem health names, and the
  // new revision is the newest in status at once.
  REQUIRE(d.ctl({"run", "vm1", "--wait"}).exit_code == 0);
  ProcessResult h = d.ctl({"health"});
  INFO(h.out);
  CHECK(h.exit_code == 1);
  CHECK(h.out.find(uuid + ".rev") != std::string::npos);
  const json job = d.ctl_json({"status"})["jobs"][0];
  CHECK(job["last_backup"]["uuid"] != uuid);
  CHECK(job["revisions"] == 1);
}

TEST_CASE("backyctl: run --wait, restore to a file and to stdout equal the revision", "[ctl]") {
  TempDir src(xfs_mount(), "src");
  const std::string img = source_image(src.path(), "vm1.img", 3);
  Daemon d({{"vm1", img}});
  REQUIRE(d.wait_revisions("vm1", 1));
  REQUIRE(d.wait_idle("vm1"));
  write_random(img, 8 << 20, 1 << 20, 99);  // the next revision differs

  ProcessResult run_wait = d.ctl({"run", "vm1", "--tags", "manual:test", "--wait"});
  INFO(run_wait.err);
  REQUIRE(run_wait.exit_code == 0);
  CHECK(run_wait.out.find("vm1: finished, revision ") == 0);
  CHECK(run_wait.err.find("vm1: queued") != std::string::npos);
  json runj = d.ctl_json({"run", "vm1", "--wait", "--tags", "manual:json"});
  CHECK(runj["jobs"][0]["ok"] == true);
  const std::string uuid = runj["jobs"][0]["uuid"];

  const fs::path out = src / "restored.img";
  ProcessResult rf = d.ctl({"restore", "vm1", uuid, out.string()});
  INFO(rf.err);
  REQUIRE(rf.exit_code == 0);
  CHECK(rf.err.find("100%") != std::string::npos);  // progress on stderr
  CHECK(same_content(out, d.image("vm1", uuid)));
  CHECK(same_content(out, img));

  ProcessResult again = d.ctl({"restore", "vm1", uuid, out.string()});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("--force") != std::string::npos);
  json forced = d.ctl_json({"restore", "vm1", "0", out.string(), "--force"});
  CHECK(forced["uuid"] == uuid);

  ProcessResult rs = d.ctl({"restore", "vm1", "latest", "-"});
  REQUIRE(rs.exit_code == 0);
  REQUIRE(rs.out.size() == 32u << 20);
  std::ofstream(src / "stdout.img", std::ios::binary) << rs.out;
  CHECK(same_content(src / "stdout.img", d.image("vm1", uuid)));

  // A relative target means the caller's directory.
  ProcessResult rel = run({"sh", "-c",
                           "cd " + src.path().string() + " && " BACKYCTL_PATH " -s " + d.socket() +
                               " restore vm1 0 rel.img"});
  CHECK(rel.exit_code == 0);
  CHECK(same_content(src / "rel.img", img));

  ProcessResult unknown_rev = d.ctl({"restore", "vm1", "17", (src / "x.img").string()});
  CHECK(unknown_rev.exit_code == 1);
  CHECK(unknown_rev.err.find("[not_found]") != std::string::npos);
}

TEST_CASE("backyctl: scrub, tags, forget, pause, resume, reload", "[ctl]") {
  TempDir src(xfs_mount(), "src");
  Daemon d({{"vm1", source_image(src.path(), "vm1.img", 4)},
            {"vm2", source_image(src.path(), "vm2.img", 5)}});
  REQUIRE(d.wait_revisions("vm1", 1));
  // The first run's steps after its commit (expiry, `latest`, the whole-run figures) may still
  // be going: run --wait would wait for that run instead of taking a second revision.
  REQUIRE(d.wait_idle("vm1"));
  REQUIRE(d.ctl({"run", "vm1", "--wait"}).exit_code == 0);
  json revs = d.ctl_json({"status", "vm1"})["revisions"];
  REQUIRE(revs.size() == 2);
  const std::string old_uuid = revs[0]["uuid"], new_uuid = revs[1]["uuid"];

  ProcessResult scrub = d.ctl({"scrub", "vm1"});
  CHECK(scrub.exit_code == 0);
  CHECK(scrub.out.find(old_uuid + ": verified") != std::string::npos);
  // Damage the newest revision's image: scrub finds it, health turns CRITICAL.
  {
    const fs::path image = d.image("vm1", new_uuid);
    fs::permissions(image, fs::perms::owner_write, fs::perm_options::add);
    write_random(image, 0, 4096, 1234);
  }
  ProcessResult bad_scrub = d.ctl({"scrub", "vm1", "latest", "--json"});
  CHECK(bad_scrub.exit_code == 1);  // damage found: exit 1, in --json form too
  json bad = json::parse(bad_scrub.out);
  CHECK(bad["revisions"][0]["trust"] == "distrusted");
  CHECK(bad["revisions"][0]["bad_blocks"] == json{0});
  CHECK(d.ctl({"scrub", "vm1", "latest"}).exit_code == 1);  // damage found: exit 1
  ProcessResult health = d.ctl({"health"});
  CHECK(health.exit_code == 2);
  CHECK(health.out.find("bad block") != std::string::npos);

  ProcessResult tags =
      d.ctl({"tags", "vm1", old_uuid, "--add", "manual:keep", "--remove", "daily"});
  CHECK(tags.exit_code == 0);
  CHECK(tags.out == old_uuid + ": manual:keep\n");
  CHECK(d.ctl_json({"tags", "vm1", old_uuid, "--add", "manual:x1"})["revisions"][0]["tags"] ==
        json{"manual:keep", "manual:x1"});
  // A tag expiry does not know is refused, as run --tags refuses it; in --json form as JSON.
  ProcessResult bad_tag = d.ctl({"tags", "vm1", old_uuid, "--add", "x1", "--json"});
  CHECK(bad_tag.exit_code == 1);
  json bad_tag_json = json::parse(bad_tag.out);
  CHECK(bad_tag_json["error"]["code"] == "bad_request");
  CHECK(bad_tag_json["error"]["message"].get<std::string>().find("unknown tag 'x1'") !=
        std::string::npos);

  // Revisions by the start of their uuid; the newest, or several, only with --force.
  const std::string new_short = new_uuid.substr(0, 8);
  ProcessResult careful = d.ctl({"forget", "vm1", new_short});
  CHECK(careful.exit_code == 1);
  CHECK(careful.err.find("the newest revision of vm1 (" + new_short + "); give --force") !=
        std::string::npos);
  ProcessResult both = d.ctl({"forget", "vm1", "all", "--dry-run"});
  CHECK(both.exit_code == 0);
  CHECK(both.out.find("would forget " + old_uuid) != std::string::npos);
  CHECK(both.out.find("would forget " + new_uuid) != std::string::npos);
  CHECK(d.ctl({"forget", "vm1", "all"}).err.find("names 2 revisions of vm1") != std::string::npos);
  CHECK(d.ctl({"forget", "vm1", new_short, "--force"}).out.starts_with("forgot " + new_uuid));
  json forgot = d.ctl_json({"forget", "vm1", old_uuid.substr(0, 6), "--force"});
  CHECK(forgot["forgotten"][0]["uuid"] == old_uuid);
  CHECK(forgot["dry_run"] == false);

  // (The daemon may already be taking a new one: a job without revisions runs at once.)
  for (const auto& r : d.ctl_json({"status", "vm1"})["revisions"]) {
    CHECK(r["uuid"] != old_uuid);
    CHECK(r["uuid"] != new_uuid);
  }

  CHECK(d.ctl({"pause", "vm1"}).out == "vm1: paused\n");
  CHECK(d.ctl_json({"status"})["jobs"][0]["state"] == "paused");
  json paused = d.ctl_json({"pause", "--all"})["jobs"];  // vm1 is paused already
  REQUIRE(paused.size() == 1);
  CHECK(paused[0]["job"] == "vm2");
  CHECK(d.ctl_json({"status"})["jobs"][1]["state"] == "paused");
  CHECK(d.ctl_json({"resume", "--all"})["jobs"].size() == 2);
  CHECK(d.ctl_json({"status"})["jobs"][1]["state"] != "paused");

  ProcessResult reload = d.ctl({"reload"});
  CHECK(reload.exit_code == 0);
  CHECK(reload.out.find("configuration accepted") == 0);
  const std::string good = [&] {
    std::ifstream in(d.config());
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  std::ofstream(d.config()) << good << "  vm3:\n    schedule: nope\n";
  ProcessResult rejected = d.ctl({"reload"});
  CHECK(rejected.exit_code == 1);
  CHECK(rejected.out.find("configuration rejected") == 0);
  CHECK(d.ctl_json({"status"})["jobs"].size() == 2);  // the old config keeps running

  // Each outcome is one line of the daemon's log, with the job and who asked.
  const std::string log = d.log();
  INFO(log);
  CHECK(log.find("scrub: revision " + old_uuid + " verified: 8 blocks checked, 0 bad blocks") !=
        std::string::npos);
  CHECK(log.find("scrub: revision " + new_uuid +
                 " distrusted: 8 blocks checked, 1 bad block ([0])") != std::string::npos);
  CHECK(log.find("tags: revision " + old_uuid + " now manual:keep (for root (uid 0))") !=
        std::string::npos);
  CHECK(log.find("forget: revision " + new_uuid) != std::string::npos);
  CHECK(log.find("[vm1] paused by root (uid 0)") != std::string::npos);
}

TEST_CASE("backyctl: a pause outlasts a restart, and health shows it with its reason", "[ctl]") {
  TempDir src(xfs_mount(), "src");
  Daemon d({{"vm1", source_image(src.path(), "vm1.img", 4)}});
  REQUIRE(d.wait_revisions("vm1", 1));
  REQUIRE(d.wait_idle("vm1"));

  ProcessResult bad = d.ctl({"pause", "vm1", "--reason", "two\nlines"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("control character") != std::string::npos);
  REQUIRE(d.ctl({"pause", "vm1", "--reason", "disk swap, ticket 4711"}).exit_code == 0);
  CHECK(fs::exists(d.dir() / "base" / "vm1" / "paused"));

  d.stop();  // SIGTERM, exit 0
  d.start();
  json job = d.ctl_json({"status", "vm1"})["job"];
  CHECK(job["state"] == "paused");
  CHECK(job["pause"]["by"] == "root (uid 0)");
  CHECK(job["pause"]["reason"] == "disk swap, ticket 4711");
  ProcessResult table = d.ctl({"status"});
  CHECK(table.out.find("vm1: paused by root (uid 0) since ") != std::string::npos);
  ProcessResult health = d.ctl({"health"});
  CHECK(health.exit_code == 1);  // WARNING, not OK and not CRITICAL
  CHECK(health.out.find("WARNING: vm1: paused by root (uid 0) since ") != std::string::npos);
  CHECK(health.out.find(": disk swap, ticket 4711") != std::string::npos);
  CHECK(d.log().find("[vm1] paused by root (uid 0): disk swap, ticket 4711") != std::string::npos);

  REQUIRE(d.ctl({"resume", "vm1"}).exit_code == 0);
  CHECK_FALSE(fs::exists(d.dir() / "base" / "vm1" / "paused"));
  d.stop();
  d.start();
  job = d.ctl_json({"status", "vm1"})["job"];
  CHECK(job["state"] != "paused");
  CHECK(job["pause"].is_null());
  CHECK(d.ctl({"health"}).exit_code == 0);
}

TEST_CASE("backyctl: a link where a job directory belongs is that job's problem, not the daemon's",
          "[ctl]") {
  // The daemon's start reads every job directory on reader threads. One it must not open (a
  // symlink stands there) is reported for that job; the daemon still starts, the other jobs are
  // unharmed, and nothing is read or written through the link.
  TempDir src(xfs_mount(), "src");
  Daemon d({{"vm1", source_image(src.path(), "vm1.img", 4)},
            {"vm2", source_image(src.path(), "vm2.img", 6)}});
  REQUIRE(d.wait_revisions("vm1", 1));
  REQUIRE(d.wait_revisions("vm2", 1));
  REQUIRE(d.wait_idle("vm1"));
  REQUIRE(d.wait_idle("vm2"));
  d.stop();
  const fs::path vm2 = d.dir() / "base" / "vm2";
  const fs::path elsewhere = src / "elsewhere";
  fs::rename(vm2, elsewhere);
  fs::create_directory_symlink(elsewhere, vm2);
  auto listing = [&] {
    std::map<std::string, std::uintmax_t> out;
    for (const auto& e : fs::directory_iterator(elsewhere))
      out[e.path().filename().string()] = e.is_regular_file() ? e.file_size() : 0;
    return out;
  };
  const auto before = listing();

  d.start();
  CHECK(d.ctl_json({"status", "vm1"})["revisions"].size() == 1);
  // vm2 has no history it can read, so it is due at once; its run fails on the link.
  REQUIRE(eventually(20, [&] {
    const json job = d.ctl_json({"status", "vm2"})["job"];
    return job["last_run"].is_object() && job["last_run"]["ok"] == false;
  }));
  const ProcessResult health = d.ctl({"health"});
  INFO(health.out);
  CHECK(health.out.find("vm2: ") != std::string::npos);
  CHECK(health.out.find(vm2.string() + " is not a directory") != std::string::npos);
  CHECK(d.log().find("cannot read the job directory: " + vm2.string()) != std::string::npos);
  CHECK(listing() == before);
  CHECK(fs::is_symlink(vm2));
}

TEST_CASE("backyctl: a failed run is retried when the log and status said it would be", "[ctl]") {
  TempDir src(xfs_mount(), "src");
  Daemon d({{"vm1", (src / "missing.img").string()}}, "  retry-after: 2s\n");
  const std::string said = "[vm1] failure 1 in a row; next try at ";
  REQUIRE(eventually(20, [&] { return d.log().find(said) != std::string::npos; }));
  const std::string log = d.log();
  const size_t from = log.find(said) + said.size();
  const std::string logged = log.substr(from, log.find(" (in ", from) - from);
  CHECK(log.find(logged + " (in 2.0 s, tags daily)") != std::string::npos);
  CHECK(d.ctl_json({"status", "vm1"})["job"]["next_time"] == logged);
  const auto when = backy::parse_iso8601(logged);
  REQUIRE(when);
  // The retry starts then: not before, and not much after (the log is polled every 0.1 s).
  REQUIRE(eventually(20, [&] {
    return d.log().find("[vm1] failure 2 in a row; next try at ") != std::string::npos;
  }));
  const auto seen = backy::Clock::now();
  CHECK(seen >= *when);
  CHECK(seen - *when < std::chrono::seconds(3));
  CHECK(d.log().find(" (in 4.0 s, tags daily)") != std::string::npos);  // doubled
}

TEST_CASE("backyctl health: OK, a failed job, an overdue job, daemon down", "[ctl]") {
  TempDir src(xfs_mount(), "src");
  {
    Daemon ok({{"vm1", source_image(src.path(), "ok.img", 6)}});
    REQUIRE(ok.wait_revisions("vm1", 1));
    // The .rev is on disk a moment before the run's outcome reaches the scheduler, whose memory
    // health answers from: wait for that too (on a loaded machine the moment was seen).
    REQUIRE(eventually(
        20, [&] { return ok.ctl({"health"}).out.find("never_succeeded=0") != std::string::npos; }));
    ProcessResult h = ok.ctl({"health"});
    INFO(h.out);
    CHECK(h.exit_code == 0);
    CHECK(
        h.out.starts_with("BACKY OK - 1 job, all within SLA | jobs=1 overdue=0 failed=0 paused=0 "
                          "never_succeeded=0 oldest_backup_age="));
    CHECK(h.out.find(" free_space=") != std::string::npos);  // %;10:;5: from the defaults
    CHECK(h.out.find("%;10:;5: free_inodes=") != std::string::npos);
    CHECK(ok.ctl({"health", "--json"}).exit_code == 0);
  }
  {
    Daemon failed({{"vm1", (src / "missing.img").string()}});
    REQUIRE(eventually(20, [&] { return failed.ctl({"health"}).exit_code == 1; }));
    ProcessResult h = failed.ctl({"health"});
    CHECK(h.out.find("BACKY WARNING - 1 job, 1 failed within SLA | ") == 0);
    CHECK(h.out.find(" never_succeeded=1 ") != std::string::npos);
    CHECK(h.out.find("WARNING: vm1: last run failed") != std::string::npos);
    ProcessResult hj = failed.ctl({"health", "--json"});
    CHECK(hj.exit_code == 1);
    CHECK(json::parse(hj.out)["status"] == "WARNING");
    // The next try the log announces is the one status shows (and the timer is armed with).
    const std::string log = failed.log();
    const std::string said = "[vm1] failure 1 in a row; next try at ";
    const size_t at = log.find(said);
    REQUIRE(at != std::string::npos);
    const size_t from = at + said.size();
    const std::string logged = log.substr(from, log.find(" (in ", from) - from);
    CHECK(failed.ctl_json({"status", "vm1"})["job"]["next_time"] == logged);
  }
  {
    // Interval 2 s: a job that never succeeds is overdue after 3 s.
    Daemon overdue({{"vm1", (src / "missing.img").string(), "fast"}});
    REQUIRE(eventually(20, [&] { return overdue.ctl({"health"}).exit_code == 2; }));
    ProcessResult h = overdue.ctl({"health"});
    CHECK(h.out.find("BACKY CRITICAL - 1 job, 1 overdue | ") == 0);
    CHECK(h.out.find("CRITICAL: vm1: overdue") != std::string::npos);
    overdue.stop();
    ProcessResult down = overdue.ctl({"health"});
    CHECK(down.exit_code == 2);
    CHECK(down.out.find("BACKY CRITICAL - daemon not reachable") == 0);
    ProcessResult status_down = overdue.ctl({"status"});
    CHECK(status_down.exit_code == 1);
    CHECK(status_down.err.find("backyd is not running") != std::string::npos);
  }
}

TEST_CASE(
    "backyctl: base-dir's free space in status, health and metrics, and no backup below "
    "free-space-critical",
    "[ctl]") {
  TempDir src(xfs_mount(), "src");
  // The test's XFS is far from full: thresholds of 100% put any real filesystem below them.
  {
    Daemon low({{"vm1", source_image(src.path(), "low.img", 7)}}, "  free-space-warning: 100%\n");
    REQUIRE(low.wait_revisions("vm1", 1));
    ProcessResult h = low.ctl({"health"});
    INFO(h.out);
    CHECK(h.exit_code == 1);
    CHECK(h.out.find("BACKY WARNING - 1 job, base-dir low on space | ") == 0);
    CHECK(h.out.find("WARNING: base-dir " + (low.dir() / "base").string() + ": ") !=
          std::string::npos);
    CHECK(h.out.find(" free of ") != std::string::npos);
    CHECK(h.out.find("below free-space-warning 100%") != std::string::npos);
    json st = low.ctl_json({"status"})["base_dir"];
    CHECK(st["path"] == (low.dir() / "base").string());
    CHECK(st["free_bytes"].get<uint64_t>() > 0);
    CHECK(st["free_bytes"].get<uint64_t>() < st["total_bytes"].get<uint64_t>());
    CHECK(low.ctl({"status"}).out.find("base-dir " + (low.dir() / "base").string() + ": ") !=
          std::string::npos);
    const std::string metrics = low.ctl({"metrics"}).out;
    CHECK(metrics.find("\nbacky_base_dir_free_bytes ") != std::string::npos);
    CHECK(metrics.find("\nbacky_base_dir_size_bytes ") != std::string::npos);
    CHECK(metrics.find("backy_job_never_succeeded{job=\"vm1\"} 0\n") != std::string::npos);
  }
  {
    Daemon full({{"vm1", source_image(src.path(), "full.img", 8)}},
                "  free-space-warning: 100%\n  free-space-critical: 100%\n");
    REQUIRE(eventually(20, [&] { return full.ctl({"health"}).exit_code == 2; }));
    ProcessResult h = full.ctl({"health"});
    INFO(h.out);
    CHECK(h.out.find("below free-space-critical 100%: no backup starts") != std::string::npos);
    json job = full.ctl_json({"status", "vm1"})["job"];
    REQUIRE(job["last_run"].is_object());
    CHECK(job["last_run"]["ok"] == false);
    CHECK(job["last_run"]["error"].get<std::string>().find("is below free-space-critical (100%)") !=
          std::string::npos);
    CHECK(full.ctl_json({"status", "vm1"})["revisions"].empty());
    const std::string metrics = full.ctl({"metrics"}).out;
    CHECK(metrics.find("backy_job_never_succeeded{job=\"vm1\"} 1\n") != std::string::npos);
    CHECK(metrics.find("backy_job_last_success_timestamp_seconds{job=\"vm1\"} 0\n") !=
          std::string::npos);
  }
}

TEST_CASE("backyctl as nobody: may read, may not change", "[ctl]") {
  TempDir src(xfs_mount(), "src");
  Daemon d({{"vm1", source_image(src.path(), "vm1.img", 7)}});
  REQUIRE(d.wait_revisions("vm1", 1));
  // The operator gives the socket to the readers' group (systemd: SocketGroup=).
  REQUIRE(run({"chgrp", "nogroup", d.socket()}).exit_code == 0);

  ProcessResult status = d.ctl_as_nobody({"status"});
  INFO(status.err);
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("vm1") != std::string::npos);
  CHECK(d.ctl_as_nobody({"health"}).exit_code == 0);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"run", "vm1"}, {"restore", "vm1", "0", (src / "r.img").string()}, {"reload"}}) {
    ProcessResult r = d.ctl_as_nobody(args);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("permission denied") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(src / "r.img"));
  CHECK(d.ctl_json({"status", "vm1"})["revisions"].size() == 1);  // no run happened

  // Without the group, nobody cannot even connect: a clear message, exit 1.
  REQUIRE(run({"chgrp", "root", d.socket()}).exit_code == 0);
  ProcessResult refused = d.ctl_as_nobody({"status"});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("permission denied on") != std::string::npos);
}

TEST_CASE("backyd gives a socket it binds itself to admin-group, whose members may change",
          "[ctl]") {
  TempDir src(xfs_mount(), "src");
  Daemon d({{"vm1", source_image(src.path(), "vm1.img", 7)}}, "  admin-group: nogroup\n");
  REQUIRE(d.wait_revisions("vm1", 1));
  REQUIRE(d.wait_idle("vm1"));
  struct stat st {};
  REQUIRE(::stat(d.socket().c_str(), &st) == 0);
  const struct group* g = ::getgrnam("nogroup");
  REQUIRE(g);
  CHECK(st.st_gid == g->gr_gid);
  CHECK((st.st_mode & 0777) == 0660);
  // nobody's primary group is nogroup here: it connects, and runs a backup as a member.
  ProcessResult r = d.ctl_as_nobody({"run", "vm1", "--wait"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(d.ctl_json({"status", "vm1"})["revisions"].size() == 2);
}

TEST_CASE("backyd survives garbage, oversized and half-sent requests and many clients", "[ctl]") {
  TempDir src(xfs_mount(), "src");
  Daemon d({{"vm1", source_image(src.path(), "vm1.img", 8)}});

  int half = raw_connect(d.socket());
  ::send(half, "{\"v\":1,", 7, MSG_NOSIGNAL);  // and then nothing
  auto half_answer = std::async(std::launch::async, [half] { return raw_exchange(half, ""); });

  CHECK(raw_exchange(raw_connect(d.socket()), "\x7f\x45LF garbage\n").find("bad_request") !=
        std::string::npos);
  CHECK(raw_exchange(raw_connect(d.socket()), std::string(1 << 20, '{')).find("too_large") !=
        std::string::npos);
  CHECK(raw_exchange(raw_connect(d.socket()), "{\"v\":9,\"cmd\":\"status\"}\n")
            .find("unsupported_version") != std::string::npos);
  // A client that connects and hangs up at once.
  ::close(raw_connect(d.socket()));

  // While the half-sent client waits for its time-out, 40 clients at once are all served.
  std::vector<std::future<int>> clients;
  for (int i = 0; i < 40; ++i)
    clients.push_back(std::async(std::launch::async, [&] { return d.ctl({"status"}).exit_code; }));
  int ok = 0;
  for (auto& c : clients) ok += c.get() == 0;
  CHECK(ok == 40);

  CHECK(half_answer.get().find("\"timeout\"") != std::string::npos);
  CHECK(d.ctl({"version"}).exit_code == 0);
}

TEST_CASE("bash completion offers commands, options and the daemon's jobs", "[ctl]") {
  TempDir src(xfs_mount(), "src");
  Daemon d({{"vm1", source_image(src.path(), "vm1.img", 1)}, {"web2", "missing.img"}});
  // Completes the line `words` (the last word being completed) as bash would, through the
  // installed script and the real backyctl.
  auto complete = [&](const std::vector<std::string>& words) {
    std::string line = "COMP_WORDS=(" BACKYCTL_PATH " -s " + d.socket();
    for (const auto& w : words) line += " '" + w + "'";
    line +=
        "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _backyctl; printf '%s\\n' \"${COMPREPLY[@]}\"";
    ProcessResult r =
        run({"bash", "-c", "source " BACKY_SOURCE_DIR "/ctl/backyctl.bash-completion && " + line});
    REQUIRE(r.exit_code == 0);
    return r.out;
  };
  const std::string commands = complete({""});
  for (const char* c : {"status", "run", "restore", "scrub", "forget", "tags", "reload"})
    CHECK(commands.find(std::string(c) + "\n") != std::string::npos);
  CHECK(complete({"re"}) == "resume\nreload\nrestore\n");
  CHECK(complete({"run", "--w"}) == "--wait\n");
  CHECK(complete({"run", "vm1", ""}) == "vm1\nweb2\n");
  CHECK(complete({"restore", "vm1", "la"}) == "latest\n");
  CHECK(complete({"forget", "w"}) == "web2\n");
}
