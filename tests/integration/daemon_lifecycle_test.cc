// backyd's life as systemd sees it: the notify protocol, reloads (good and broken), one daemon per
// base-dir, and SIGTERM in the middle of a large backup.
#include <catch2/catch.hpp>

#include "daemon_support.h"

using namespace backy;
using namespace backy::test;

namespace {

std::string config_text(const TempDir& dir, int worker_limit, const std::vector<std::string>& jobs,
                        const std::string& interval = "3s") {
  std::string y = "global:\n  base-dir: " + (dir / "base").string() +
                  "\n  worker-limit: " + std::to_string(worker_limit) +
                  "\n  socket: " + (dir / "sock").string() +
                  "\nschedules:\n  fast:\n    t: {interval: " + interval + ", keep: 1000}\njobs:\n";
  for (const auto& j : jobs)
    y += "  " + j +
         ": {schedule: fast, source: {type: file, filename: " + (dir / (j + ".img")).string() +
         "}}\n";
  return y;
}

}  // namespace

TEST_CASE("daemon: the notify protocol, READY, STATUS, WATCHDOG, RELOADING, STOPPING", "[daemon]") {
  TempDir dir(xfs_mount(), "daemon-notify");
  write_random(dir / "a.img", 0, 1 << 20, 1);
  const auto config = write_config(dir.path(), config_text(dir, 1, {"a"}, "1d"));
  NotifySocket notify(dir.path());
  // WATCHDOG_PID unset: sd_watchdog_enabled then trusts WATCHDOG_USEC for any pid.
  Daemon d(config, dir / "backyd.log",
           {{"NOTIFY_SOCKET", notify.path()}, {"WATCHDOG_USEC", "400000"}});
  REQUIRE(notify.wait_for("READY=1", 10));
  REQUIRE(notify.wait_for("STATUS=1 job,", 5));
  // Pings every 200 ms from the event loop.
  int pings = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (pings < 5 && notify.wait_for("WATCHDOG=1", 2)) ++pings;
  CHECK(pings == 5);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));

  reload_and_wait(d, notify);
  REQUIRE(d.stop(20) == std::optional<int>(0));
  CHECK(notify.wait_for("STOPPING=1", 1));
  INFO(d.log());
  CHECK(revisions_of(dir / "base" / "a").size() == 1);
}

TEST_CASE("daemon: reload adds and removes jobs, and a broken config keeps the old one",
          "[daemon]") {
  TempDir dir(xfs_mount(), "daemon-reload");
  for (const char* j : {"a", "b", "c"})
    write_random(dir / (std::string(j) + ".img"), 0, 1 << 20, 7);
  const auto config = write_config(dir.path(), config_text(dir, 1, {"a", "b"}));
  NotifySocket notify(dir.path());
  Daemon d(config, dir / "backyd.log", {{"NOTIFY_SOCKET", notify.path()}});
  REQUIRE(notify.wait_for("READY=1", 10));
  REQUIRE(eventually(10, [&] {
    return revisions_of(dir / "base" / "a").size() >= 2 &&
           revisions_of(dir / "base" / "b").size() >= 2;
  }));

  // b leaves, c arrives, worker-limit grows.
  write_config(dir.path(), config_text(dir, 3, {"a", "c"}));
  reload_and_wait(d, notify);
  INFO(d.log());
  CHECK(d.log_has("reloaded: 2 jobs (1 added, 1 removed, 0 changed)", 2));
  CHECK(d.log_has("worker-limit 1 -> 3"));
  CHECK(d.log_has("orphaned job directory " + (dir / "base" / "b").string()));
  REQUIRE(eventually(10, [&] { return revisions_of(dir / "base" / "c").size() >= 2; }));
  // b's run (if one was going) ended; after that it never runs again, its revisions stay.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const auto b_revs = revisions_of(dir / "base" / "b");
  CHECK(b_revs.size() >= 2);
  const size_t a_before = revisions_of(dir / "base" / "a").size();
  std::this_thread::sleep_for(std::chrono::seconds(4));
  CHECK(revisions_of(dir / "base" / "b").size() == b_revs.size());
  CHECK(revisions_of(dir / "base" / "a").size() > a_before);

  // A config with errors: refused, logged with its position, the running one stays.
  write_config(dir.path(), config_text(dir, 3, {"a"}) + "  d: {schedule: nosuch}\n");
  reload_and_wait(d, notify);
  CHECK(d.log_has("reload refused", 2));
  CHECK(d.log_has("backy.yaml:"));
  const size_t c_before = revisions_of(dir / "base" / "c").size();
  CHECK(eventually(8, [&] { return revisions_of(dir / "base" / "c").size() > c_before; }));
  CHECK(!std::filesystem::exists(dir / "base" / "d"));
  REQUIRE(d.stop(20) == std::optional<int>(0));
}

TEST_CASE("daemon: a second daemon on the same base-dir exits 1", "[daemon]") {
  TempDir dir(xfs_mount(), "daemon-lock");
  write_random(dir / "a.img", 0, 1 << 20, 1);
  const auto config = write_config(dir.path(), config_text(dir, 1, {"a"}, "1d"));
  NotifySocket notify(dir.path());
  Daemon first(config, dir / "backyd.log", {{"NOTIFY_SOCKET", notify.path()}});
  REQUIRE(notify.wait_for("READY=1", 10));
  // Same base-dir, another socket path: only the lock can stop it.
  const auto other = dir / "other.yaml";
  std::ofstream(other) << read_text(config).replace(read_text(config).find((dir / "sock").string()),
                                                    (dir / "sock").string().size(),
                                                    (dir / "sock2").string());
  const auto second = run({BACKYD_PATH, "-c", other.string()});
  CHECK(second.exit_code == 1);
  CHECK(second.err.find("another backyd (pid " + std::to_string(first.child.pid()) +
                        ") is already running on base-dir") != std::string::npos);
  REQUIRE(first.stop(20) == std::optional<int>(0));
}

TEST_CASE("daemon: SIGTERM during a large backup exits 0 in time, no partial revision left",
          "[daemon]") {
  TempDir dir(xfs_mount(), "daemon-term");
  write_random(dir / "small.img", 0, 1 << 20, 3);
  write_random(dir / "big.img", 0, 768ull << 20, 4);
  // small runs first (sorted names in the same second do not matter: worker-limit 2).
  const auto config = write_config(dir.path(), config_text(dir, 2, {"big", "small"}, "1d"));
  Daemon d(config, dir / "backyd.log", {}, {"--stop-timeout", "20"});
  const auto big = dir / "base" / "big";
  REQUIRE(eventually(20, [&] { return revisions_of(dir / "base" / "small").size() == 1; }));
  const auto small_rev = revisions_of(dir / "base" / "small").front();
  // The big run is under way: its image exists, its .rev does not.
  REQUIRE(eventually(20, [&] { return !partial_files(big).empty(); }));
  REQUIRE(revisions_of(big).empty());
  const auto t0 = std::chrono::steady_clock::now();
  const auto code = d.stop(25);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(d.log());
  REQUIRE(code == std::optional<int>(0));
  CHECK(took < 5.0);
  CHECK(d.log_has("[big] backup cancelled"));
  CHECK(partial_files(big).empty());
  CHECK(revisions_of(big).empty());
  // The complete revision of the other job is untouched.
  const auto small_after = revisions_of(dir / "base" / "small");
  REQUIRE(small_after.size() == 1);
  CHECK(small_after.front().uuid == small_rev.uuid);
  CHECK(same_content(dir / "base" / "small" / small_rev.uuid, dir / "small.img"));
}

TEST_CASE("daemon: a reload keeps a running backup, and changed jobs pick up their change",
          "[daemon]") {
  TempDir dir(xfs_mount(), "daemon-keep");
  write_random(dir / "big.img", 0, 384ull << 20, 5);
  write_random(dir / "small.img", 0, 1 << 20, 6);
  write_random(dir / "other.img", 0, 1 << 20, 7);
  const auto config = write_config(dir.path(), config_text(dir, 2, {"big", "small"}, "1d"));
  NotifySocket notify(dir.path());
  Daemon d(config, dir / "backyd.log", {{"NOTIFY_SOCKET", notify.path()}});
  const auto big = dir / "base" / "big";
  REQUIRE(eventually(20, [&] { return revisions_of(dir / "base" / "small").size() == 1; }));
  REQUIRE(eventually(20, [&] { return !partial_files(big).empty(); }));

  // worker-limit 2 -> 1 while big runs; small now reads another file on a 2 s schedule.
  const std::string small_src = (dir / "small.img").string();
  const std::string text =
      "global:\n  base-dir: " + (dir / "base").string() +
      "\n  worker-limit: 1\n  socket: " + (dir / "sock").string() +
      "\nschedules:\n  fast:\n    t: {interval: 1d, keep: 1000}\n  fast2:\n    t: {interval: 2s, "
      "keep: 1000}\njobs:\n  big: {schedule: fast, source: {type: file, filename: " +
      (dir / "big.img").string() +
      "}}\n  small: {schedule: fast2, source: {type: file, filename: " +
      (dir / "other.img").string() + "}}\n";
  write_config(dir.path(), text);
  const TimePoint reload_time = Clock::now();
  reload_and_wait(d, notify);
  INFO(d.log());
  CHECK(d.log_has("reloaded: 2 jobs (0 added, 0 removed, 1 changed)", 2));
  CHECK(d.log_has("worker-limit 2 -> 1"));

  // The running backup of the unchanged job finishes: it ran across the reload.
  REQUIRE(eventually(120, [&] { return revisions_of(big).size() == 1; }));
  const auto rev = revisions_of(big).front();
  CHECK(rev.timestamp < reload_time);
  CHECK(unix_seconds(rev.timestamp) + rev.stats.duration > unix_seconds(reload_time));
  CHECK(!d.log_has("[big] backup cancelled"));
  // The changed job now runs every 2 s from the new file (after big: worker-limit is 1).
  REQUIRE(eventually(15, [&] { return revisions_of(dir / "base" / "small").size() >= 3; }));
  const auto small = revisions_of(dir / "base" / "small");
  CHECK(small.front().source.at("filename") == small_src);
  CHECK(small.back().source.at("filename") == (dir / "other.img").string());
  REQUIRE(d.stop(20) == std::optional<int>(0));
}

TEST_CASE("daemon: socket activation, the control socket comes from LISTEN_FDS", "[daemon]") {
  TempDir dir(xfs_mount(), "daemon-activate");
  write_random(dir / "a.img", 0, 1 << 20, 1);
  const auto config = write_config(dir.path(), config_text(dir, 1, {"a"}, "1d"));
  // The socket systemd would have bound (not the config's global.socket).
  const auto activated = dir / "activated.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, activated.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 16) == 0);
  NotifySocket notify(dir.path());
  // LISTEN_PID must be the daemon's pid: the shell exports its own and execs backyd in place,
  // with the socket as fd 3 (SD_LISTEN_FDS_START).
  const std::string cmd = "export LISTEN_PID=$$ LISTEN_FDS=1; exec " + std::string(BACKYD_PATH) +
                          " -c " + config.string() + " 3<&" + std::to_string(fd);
  Child d({"/bin/sh", "-c", cmd}, dir / "backyd.log", {{"NOTIFY_SOCKET", notify.path()}});
  ::close(fd);
  REQUIRE(notify.wait_for("READY=1", 10));
  INFO(read_text(dir / "backyd.log"));
  CHECK(read_text(dir / "backyd.log").find("control socket from systemd socket activation") !=
        std::string::npos);
  const auto status = run({BACKYCTL_PATH, "-s", activated.string(), "status"});
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("1 job: ") != std::string::npos);
  CHECK(!std::filesystem::exists(dir / "sock"));
  d.signal(SIGTERM);
  CHECK(d.wait(20) == std::optional<int>(0));
}

TEST_CASE("daemon: under systemd it logs to the journal, with the job as a field", "[daemon]") {
  TempDir dir(xfs_mount(), "daemon-journal");
  write_random(dir / "a.img", 0, 1 << 20, 1);
  const auto config = write_config(dir.path(), config_text(dir, 1, {"a"}, "1d"));
  // The journal's socket is /run/systemd/journal/socket. In a private mount namespace the
  // daemon finds ours there (a bind mount of this directory); nothing outside it changes.
  std::filesystem::create_directories(dir / "journal");
  NotifySocket journal(dir / "journal", "socket");
  NotifySocket notify(dir.path());
  const auto log = dir / "backyd.log";
  std::ofstream(log).close();
  // JOURNAL_STREAM names the daemon's stderr (the log file here), as systemd sets it.
  const std::string cmd =
      "mount --make-rprivate / && mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && "
      "mount --bind " +
      (dir / "journal").string() +
      " /run/systemd/journal && "
      "export JOURNAL_STREAM=$(stat -c %d:%i " +
      log.string() + ") && exec " + std::string(BACKYD_PATH) + " -c " + config.string();
  Child d({"unshare", "-m", "/bin/sh", "-c", cmd}, log, {{"NOTIFY_SOCKET", notify.path()}});
  REQUIRE(notify.wait_for("READY=1", 10));
  CHECK(journal.wait_for("MESSAGE=ready", 5));
  REQUIRE(journal.wait_for("MESSAGE=run ok: revision", 10));
  const std::string& msg = journal.messages().back();
  INFO(msg);
  CHECK(msg.find("\nJOB=a\n") != std::string::npos);
  CHECK(msg.find("\nPRIORITY=6\n") != std::string::npos);
  CHECK(msg.find("SYSLOG_IDENTIFIER=backyd") != std::string::npos);
  d.signal(SIGTERM);
  CHECK(d.wait(20) == std::optional<int>(0));
  // Nothing went to stderr: the journal took every line.
  CHECK(read_text(log).find("run ok") == std::string::npos);
}
