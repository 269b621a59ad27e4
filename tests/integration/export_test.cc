// `backyctl export` against a real backyd on the real XFS mount: a revision made by the file
// source is served read-only over NBD by qemu-nbd, read back through qemu-img and nbdcopy and
// compared byte for byte; the export holds its revision (forget refused, expiry skips it);
// `export --stop` and the daemon's stop leave no qemu-nbd and no socket behind; --listen binds
// TCP and says that NBD has no authentication; only root may export.
#include <grp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "integration/ctl_support.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace backy::test;

namespace {

bool process_alive(int pid) {
  return pid > 0 && fs::exists("/proc/" + std::to_string(pid));
}

std::string proc_text(int pid, const std::string& what) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + what);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(s.begin(), s.end(), '\0', ' ');
  return s;
}

// A TCP port on 127.0.0.1 that nothing listens on right now.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

constexpr unsigned kAdminUid = 61019;  // no passwd entry needed

// qemu-img reads the whole export into `out`.
void read_export(const std::string& uri, const fs::path& out) {
  ProcessResult r = run({"qemu-img", "convert", "-f", "raw", "-O", "raw", uri, out.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

struct ExportFixture {
  ExportFixture()
      : src(xfs_mount(), "export-src"),
        d({{"vm1", source_image(src.path(), "vm1.img", test_seed("export_test"))}},
          "  admin-group: " + admins.name() + "\n") {
    REQUIRE(d.wait_revisions("vm1", 1));
    REQUIRE(d.wait_idle("vm1"));
    uuid = d.ctl_json({"status", "vm1"})["revisions"][0]["uuid"];
  }
  json exports() const { return d.ctl_json({"status"})["exports"]; }

  TestGroup admins{"backy-ex"};
  TempDir src;
  CtlTestDaemon d;
  std::string uuid;
};

}  // namespace

TEST_CASE("export serves a revision on a Unix socket that qemu-img reads byte for byte",
          "[export]") {
  ExportFixture f;
  ProcessResult r = f.d.ctl({"export", "vm1", f.uuid});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("nbd+unix:///?socket="));
  const json list = f.exports();
  REQUIRE(list.size() == 1);
  const json e = list[0];
  CHECK(e["job"] == "vm1");
  CHECK(e["uuid"] == f.uuid);
  CHECK(e["state"] == "serving");
  CHECK(e["tcp"] == false);
  CHECK_FALSE(e.contains("warning"));
  const fs::path socket = e["address"].get<std::string>();
  CHECK(e["uri"] == "nbd+unix:///?socket=" + socket.string());
  CHECK(socket.parent_path() == fs::path(f.d.socket()).parent_path() / "exports");
  // Only root reaches it: the directory is 0700, the socket 0600.
  struct stat st {};
  REQUIRE(::lstat(socket.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::lstat(socket.parent_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  // qemu-nbd, read-only, given the daemon's open fd rather than the image's path.
  const int pid = e["pid"];
  REQUIRE(process_alive(pid));
  const std::string cmdline = proc_text(pid, "cmdline");
  CHECK_THAT(cmdline, Catch::Contains("qemu-nbd") && Catch::Contains("--read-only") &&
                          Catch::Contains("/dev/fd/3"));
  CHECK_THAT(cmdline, !Catch::Contains(f.uuid));
  CHECK(fs::read_symlink("/proc/" + std::to_string(pid) + "/fd/3") == f.d.image("vm1", f.uuid));

  TempDir out(xfs_mount(), "export-out");
  read_export(e["uri"], out / "qemu-img.raw");
  CHECK(same_content(out / "qemu-img.raw", f.d.image("vm1", f.uuid)));
  ProcessResult copy = run({"nbdcopy", e["uri"], (out / "nbdcopy.raw").string()});
  INFO(copy.err);
  REQUIRE(copy.exit_code == 0);
  CHECK(same_content(out / "nbdcopy.raw", f.d.image("vm1", f.uuid)));
  // Read-only: a write through NBD fails.
  ProcessResult write =
      run({"qemu-io", "-f", "raw", "-c", "write 0 512", e["uri"].get<std::string>()});
  CHECK((write.exit_code != 0 || write.out.find("failed") != std::string::npos ||
         write.err.find("read-only") != std::string::npos));
  CHECK(same_content(out / "qemu-img.raw", f.d.image("vm1", f.uuid)));

  // Listed in status, text too; held: forget is refused, and so is a second export.
  CHECK_THAT(f.d.ctl({"status"}).out, Catch::Contains("NBD exports") && Catch::Contains(f.uuid));
  ProcessResult forget = f.d.ctl({"forget", "vm1", f.uuid, "--force"});
  CHECK(forget.exit_code != 0);
  CHECK_THAT(forget.err, Catch::Contains("exported over NBD"));
  ProcessResult again = f.d.ctl({"export", "vm1", "latest"});
  CHECK(again.exit_code != 0);
  CHECK_THAT(again.err, Catch::Contains("already exported at " + socket.string()));

  // --stop ends it: the answer comes once qemu-nbd is reaped and its socket removed.
  r = f.d.ctl({"export", "--stop", "vm1", f.uuid});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("stopped the export of revision " + f.uuid));
  CHECK_FALSE(process_alive(pid));
  CHECK_FALSE(fs::exists(fs::symlink_status(socket)));
  CHECK(fs::is_empty(socket.parent_path()));
  CHECK(f.exports().empty());
  CHECK(f.d.log().find("export vm1." + f.uuid.substr(0, 8) + ": stopped") != std::string::npos);
  ProcessResult none = f.d.ctl({"export", "--stop", "vm1"});
  CHECK(none.exit_code != 0);
  CHECK_THAT(none.err, Catch::Contains("vm1 has no export"));
  CHECK(f.d.ctl({"forget", "vm1", f.uuid, "--force"}).exit_code == 0);  // released
}

TEST_CASE("an exported revision survives the expiry that deletes it once the export ends",
          "[export]") {
  ExportFixture f;
  // A revision without tags that is not the newest is deleted by the next run's expiry.
  REQUIRE(f.d.ctl({"run", "vm1", "--tags", "manual:a", "--wait"}).exit_code == 0);
  const std::string held = f.d.ctl_json({"status", "vm1"})["revisions"][1]["uuid"];
  REQUIRE(f.d.ctl({"tags", "vm1", held, "--remove", "manual:a"}).exit_code == 0);
  REQUIRE(f.d.ctl({"export", "vm1", held}).exit_code == 0);
  auto has = [&](const std::string& u) {
    const json status = f.d.ctl_json({"status", "vm1"});
    for (const auto& r : status["revisions"])
      if (r["uuid"] == u) return true;
    return false;
  };
  REQUIRE(f.d.wait_idle("vm1"));
  REQUIRE(f.d.ctl({"run", "vm1", "--tags", "manual:b", "--wait"}).exit_code == 0);
  CHECK(has(held));
  TempDir out(xfs_mount(), "export-out");
  read_export(f.exports()[0]["uri"], out / "held.raw");  // still served, still the same
  CHECK(same_content(out / "held.raw", f.d.image("vm1", held)));
  REQUIRE(f.d.ctl({"export", "--stop", "vm1"}).exit_code == 0);
  REQUIRE(f.d.wait_idle("vm1"));
  REQUIRE(f.d.ctl({"run", "vm1", "--tags", "manual:c", "--wait"}).exit_code == 0);
  CHECK_FALSE(has(held));
}

TEST_CASE("export --listen serves TCP with a warning, only root exports, bad input is refused",
          "[export]") {
  ExportFixture f;
  const std::string port = std::to_string(free_port());
  ProcessResult r = f.d.ctl({"export", "vm1", "latest", "--listen", "127.0.0.1:" + port});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("WARNING") && Catch::Contains("no authentication"));
  CHECK_THAT(r.out, Catch::Contains("nbd://127.0.0.1:" + port + "/"));
  CHECK(f.d.log().find("listening on TCP 127.0.0.1:" + port + "; NBD has no authentication") !=
        std::string::npos);
  const json e = f.exports()[0];
  CHECK(e["tcp"] == true);
  CHECK_THAT(e["warning"].get<std::string>(), Catch::Contains("no authentication"));
  CHECK_THAT(f.d.ctl({"status"}).out, Catch::Contains("TCP, no authentication"));
  TempDir out(xfs_mount(), "export-out");
  read_export("nbd://127.0.0.1:" + port + "/", out / "tcp.raw");
  CHECK(same_content(out / "tcp.raw", f.d.image("vm1", f.uuid)));

  // Not for anyone but root, not even the admin group: the export hands out the whole disk.
  auto as_admin = [&](std::vector<std::string> args) {
    const unsigned gid = f.admins.gid();
    return f.d.ctl_as(kAdminUid, gid, std::to_string(gid), std::move(args));
  };
  CHECK(as_admin({"status"}).exit_code == 0);
  ProcessResult admin = as_admin({"export", "vm1", "latest"});
  CHECK(admin.exit_code != 0);
  CHECK_THAT(admin.err, Catch::Contains("\"export\" needs root"));
  admin = as_admin({"export", "--stop", "vm1"});
  CHECK_THAT(admin.err, Catch::Contains("\"export\" needs root"));
  CHECK(f.exports().size() == 1);

  // Addresses are numeric, ports in range; --listen goes with a start only.
  for (const char* bad :
       {"localhost:10809", "127.0.0.1", "127.0.0.1:0", "::1:10809", "127.0.0.1:99999", "[::1]:x"}) {
    ProcessResult b = f.d.ctl({"export", "vm1", "latest", "--listen", bad});
    INFO(bad);
    CHECK(b.exit_code != 0);
    CHECK_THAT(b.err, Catch::Contains("--listen"));
  }
  CHECK(f.d.ctl({"export", "vm1", "--stop", "--listen", "127.0.0.1:" + port}).exit_code != 0);
  CHECK(f.d.ctl({"export", "vm1"}).exit_code != 0);  // which revision?

  const int pid = e["pid"];
  REQUIRE(f.d.ctl({"export", "--stop", "vm1"}).exit_code == 0);
  CHECK_FALSE(process_alive(pid));
  CHECK(f.exports().empty());
}

TEST_CASE("a qemu-nbd that cannot listen fails the export with its reason and holds nothing",
          "[export]") {
  ExportFixture f;
  // Something listens on the port already.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  const std::string port = std::to_string(ntohs(a.sin_port));
  ProcessResult r = f.d.ctl({"export", "vm1", "latest", "--listen", "127.0.0.1:" + port});
  ::close(fd);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains("qemu-nbd exited with code 1") &&
                        Catch::Contains("Address already in use"));
  CHECK(f.exports().empty());
  CHECK(f.d.ctl({"forget", "vm1", f.uuid, "--force"}).exit_code == 0);  // not held
}

TEST_CASE("the daemon's stop ends every export: no qemu-nbd and no socket survive it", "[export]") {
  ExportFixture f;
  REQUIRE(f.d.ctl({"run", "vm1", "--wait"}).exit_code == 0);
  REQUIRE(f.d.ctl({"export", "vm1", "0"}).exit_code == 0);
  REQUIRE(f.d.ctl({"export", "vm1", "1", "--listen", "127.0.0.1:" + std::to_string(free_port())})
              .exit_code == 0);
  const json list = f.exports();
  REQUIRE(list.size() == 2);
  std::vector<int> pids;
  for (const auto& e : list) pids.push_back(e["pid"]);
  const fs::path dir = fs::path(f.d.socket()).parent_path() / "exports";
  CHECK_FALSE(fs::is_empty(dir));
  f.d.stop();  // CHECKs exit code 0
  for (int pid : pids) CHECK_FALSE(process_alive(pid));
  CHECK(fs::is_empty(dir));
}

TEST_CASE("a killed daemon takes its qemu-nbd along, and the next one removes the stale socket",
          "[export]") {
  ExportFixture f;
  REQUIRE(f.d.ctl({"export", "vm1", f.uuid}).exit_code == 0);
  const json e = f.exports()[0];
  const int pid = e["pid"];
  const fs::path socket = e["address"].get<std::string>();
  f.d.kill();
  CHECK(eventually(5, [&] { return !process_alive(pid); }));  // PR_SET_PDEATHSIG
  CHECK(fs::exists(fs::symlink_status(socket)));  // qemu-nbd was killed: nobody removed it
  f.d.start();
  CHECK(f.exports().empty());  // exports are not restarted
  ProcessResult r = f.d.ctl({"export", "vm1", f.uuid});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(f.d.log(), Catch::Contains("removed the stale " + socket.string()));
  TempDir out(xfs_mount(), "export-out");
  read_export(f.exports()[0]["uri"], out / "again.raw");
  CHECK(same_content(out / "again.raw", f.d.image("vm1", f.uuid)));
  REQUIRE(f.d.ctl({"export", "--stop", "vm1"}).exit_code == 0);
}
