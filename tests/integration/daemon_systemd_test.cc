// The shipped systemd units pass systemd-analyze verify (with ExecStart and ExecReload pointing at
// the built binaries, since /usr/sbin/backyd is not installed here), and the tmpfiles entry
// applies. script/systemd-test runs them under a real systemd.
#include <catch2/catch.hpp>

#include "daemon_support.h"

using namespace backy;
using namespace backy::test;

namespace {

const std::filesystem::path kUnits = std::filesystem::path(BACKY_SOURCE_DIR) / "systemd";

// `text` with the program of `key` (ExecStart=, ExecReload=) replaced by `program`.
std::string with_exec(std::string text, const std::string& key, const std::string& program) {
  const size_t at = text.find(key);
  REQUIRE(at != std::string::npos);
  const size_t begin = at + key.size(), end = text.find_first_of(" \n", begin);
  return text.replace(begin, end - begin, program);
}

}  // namespace

TEST_CASE("systemd: backyd.service and backyd.socket pass systemd-analyze verify", "[daemon]") {
  TempDir dir("/tmp", "backyd-units");
  std::string service = read_text(kUnits / "backyd.service");
  // Reload waits for the daemon's verdict (not a bare kill -HUP), the socket is the admin
  // group's, and the documentation is the man pages.
  for (const char* key :
       {"Type=notify", "WatchdogSec=", "Restart=on-failure",
        "ExecReload=/usr/bin/backyctl --socket /run/backy/backyd.sock reload",
        "ProtectSystem=strict", "ReadWritePaths=", "PrivateTmp=yes", "NoNewPrivileges=yes",
        "RuntimeDirectory=backy", "Documentation=man:backyd(8)"})
    CHECK(service.find(key) != std::string::npos);
  const std::string socket = read_text(kUnits / "backyd.socket");
  CHECK(socket.find("ListenStream=/run/backy/backyd.sock") != std::string::npos);
  CHECK(socket.find("SocketMode=0660") != std::string::npos);
  CHECK(socket.find("SocketGroup=backy") != std::string::npos);
  CHECK(socket.find("Documentation=man:backyctl(8)") != std::string::npos);

  CHECK(service.find("ExecStart=/usr/sbin/backyd ") != std::string::npos);
  service = with_exec(service, "ExecStart=", BACKYD_PATH);
  service = with_exec(service, "ExecReload=", BACKYCTL_PATH);
  std::ofstream(dir / "backyd.service") << service;
  std::ofstream(dir / "backyd.socket") << socket;
  const auto ok = run({"systemd-analyze", "verify", "--man=no", (dir / "backyd.service").string(),
                       (dir / "backyd.socket").string()});
  INFO(ok.out << ok.err);
  CHECK(ok.exit_code == 0);

  // The check can fail: a unit whose binary does not exist is refused.
  std::ofstream(dir / "backyd.service") << with_exec(service, "ExecStart=", "/nonexistent/backyd");
  const auto bad = run({"systemd-analyze", "verify", "--man=no", (dir / "backyd.service").string(),
                        (dir / "backyd.socket").string()});
  CHECK(bad.exit_code != 0);
}

TEST_CASE("systemd: the tmpfiles entry creates the runtime and base directories", "[daemon]") {
  TempDir root("/tmp", "backyd-tmpfiles");
  const auto r = run({"systemd-tmpfiles", "--root=" + root.path().string(), "--create",
                      (kUnits / "backyd.tmpfiles").string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(std::filesystem::is_directory(root / "run/backy"));
  CHECK(std::filesystem::is_directory(root / "srv/backy"));
}

TEST_CASE("systemd: the sysusers entry creates the admin group backy", "[daemon]") {
  TempDir root("/tmp", "backyd-sysusers");
  std::filesystem::create_directories(root / "etc");
  const auto r = run({"systemd-sysusers", "--root=" + root.path().string(),
                      (kUnits / "backyd.sysusers").string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(read_text(root / "etc/group").find("backy:x:") != std::string::npos);
}

TEST_CASE(
    "systemd: backyd --write-paths names base-dir and the metrics directory for the generator",
    "[daemon]") {
  TempDir dir("/tmp", "backyd-write-paths");
  const std::string tail = "\nschedules: {s: {daily: {interval: 1d, keep: 3}}}\n";
  const auto cfg = write_config(dir.path(),
                                "global: {base-dir: /backup/backy, metrics-file: "
                                "/var/lib/prometheus/node-exporter/backy.prom}" +
                                    tail);
  const auto r = run({BACKYD_PATH, "-c", cfg.string(), "--write-paths"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "/backup/backy\n/var/lib/prometheus/node-exporter\n");
  // A path a unit file would read differently is refused, not printed.
  const auto odd = write_config(dir.path(), "global: {base-dir: '/backup/my backups'}" + tail);
  const auto refused = run({BACKYD_PATH, "-c", odd.string(), "--write-paths"});
  CHECK(refused.exit_code == 1);
  CHECK(refused.out.empty());
  CHECK(refused.err.find("not usable in a unit file") != std::string::npos);
  // The generator is shipped beside the units and asks exactly this.
  CHECK(read_text(kUnits / "backyd-generator").find("--write-paths") != std::string::npos);
}
