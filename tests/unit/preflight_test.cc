// config/preflight.h: what --check-config checks beyond syntax, each finding at the file:line:col
// where the configuration names the thing. Real files in a scratch directory; no XFS needed (a
// base-dir without reflinks is a warning, not an error).
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "config/preflight.h"
#include "scratch_dir.h"
#include "util/error.h"

using namespace backy;
using backy::test::ScratchDir;
namespace fs = std::filesystem;

namespace {

Config load(const fs::path& dir, const std::string& yaml) {
  const fs::path file = dir / "backy.yaml";
  std::ofstream(file) << yaml;
  ConfigLoad l = load_config(file);
  for (const auto& e : l.errors) UNSCOPED_INFO(e.to_string());
  REQUIRE(l.ok());
  return *l.config;
}

// Every finding as "line:col: message", to match without the file name.
std::vector<std::string> positioned(const std::vector<ConfigError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors)
    out.push_back(std::to_string(e.line) + ":" + std::to_string(e.column) + ": " + e.message);
  return out;
}

bool has(const std::vector<std::string>& lines, const std::string& start) {
  for (const auto& l : lines)
    if (l.rfind(start, 0) == 0) return true;
  return false;
}

}  // namespace

TEST_CASE("preflight: a host that fits its configuration has no errors", "[config]") {
  ScratchDir t;
  fs::create_directory(t.dir / "base");
  std::ofstream(t.dir / "vm.img") << "data";
  std::ofstream(t.dir / "callback") << "#!/bin/sh\n";
  fs::permissions(t.dir / "callback", fs::perms::owner_all);
  const Config c = load(t.dir, "global:\n  base-dir: " + (t.dir / "base").string() +
                                   "\n  admin-group: root\n  backup-completed-callback: " +
                                   (t.dir / "callback").string() +
                                   "\n  metrics-file: " + (t.dir / "backy.prom").string() +
                                   "\nschedules:\n  s: {daily: {interval: 1d, keep: 3}}\n"
                                   "jobs:\n  vm: {schedule: s, source: {type: file, filename: " +
                                   (t.dir / "vm.img").string() + "}}\n");
  const PreflightReport r = preflight(c);
  for (const auto& e : r.errors) UNSCOPED_INFO(e.to_string());
  CHECK(r.ok());
  // Only a base-dir without reflinks may warn (the scratch directory is wherever /tmp is).
  for (const auto& w : r.warnings) CHECK(w.message.find("reflinks") != std::string::npos);
}

TEST_CASE("preflight: each problem is named at the key that names the thing", "[config]") {
  ScratchDir t;
  std::ofstream(t.dir / "vm.img") << "data";
  fs::create_symlink(t.dir / "vm.img", t.dir / "alias.img");
  std::ofstream(t.dir / "not-executable") << "#!/bin/sh\n";
  fs::permissions(t.dir / "not-executable", fs::perms::owner_read | fs::perms::owner_write);
  const std::string d = t.dir.string();
  const Config c = load(t.dir,
                        "global:\n"  // 1
                        "  base-dir: " +
                            d +
                            "/missing\n"                            // 2
                            "  admin-group: no-such-group-backy\n"  // 3
                            "  backup-completed-callback: " +
                            d +
                            "/not-executable\n"  // 4
                            "  metrics-file: " +
                            d +
                            "/nodir/backy.prom\n"                      // 5
                            "schedules:\n"                             // 6
                            "  s: {daily: {interval: 1d, keep: 3}}\n"  // 7
                            "jobs:\n"                                  // 8
                            "  a: {schedule: s, source: {type: file, filename: " +
                            d +
                            "/vm.img}}\n"  // 9
                            "  b: {schedule: s, source: {type: file, filename: " +
                            d +
                            "/alias.img}}\n"     // 10
                            "  c:\n"             // 11
                            "    schedule: s\n"  // 12
                            "    source: {type: file, filename: " +
                            d + "/gone.img}\n");  // 13
  const PreflightReport r = preflight(c);
  const auto errors = positioned(r.errors);
  const auto warnings = positioned(r.warnings);
  for (const auto& e : errors) UNSCOPED_INFO(e);
  CHECK(has(errors, "2:13: base-dir " + d + "/missing: No such file or directory"));
  CHECK(
      has(errors, "4:30: backup-completed-callback " + d + "/not-executable is not an executable"));
  CHECK(has(errors, "5:17: metrics-file: directory " + d + "/nodir does not exist"));
  CHECK(has(errors, "13:36: job 'c': file source " + d + "/gone.img: No such file or directory"));
  // The symlink names the same file as job a's source.
  CHECK(has(errors, "10:28: jobs 'a' and 'b' name the same source"));
  // (Two jobs on one RBD image are refused by the config parser itself: config_test.cc.)
  CHECK(errors.size() == 5);
  CHECK(has(warnings, "3:16: admin-group 'no-such-group-backy' does not exist"));
}

TEST_CASE("preflight: a base-dir that is a file is an error", "[config]") {
  ScratchDir t;
  std::ofstream(t.dir / "file") << "x";
  const std::string yaml_tail = "\nschedules:\n  s: {daily: {interval: 1d, keep: 3}}\n";
  const PreflightReport r =
      preflight(load(t.dir, "global:\n  base-dir: " + (t.dir / "file").string() + yaml_tail));
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message.find("is not a directory") != std::string::npos);
  CHECK(r.errors[0].line == 2);
}

TEST_CASE("preflight: a character device as file source is refused without being opened",
          "[config]") {
  ScratchDir t;
  fs::create_directory(t.dir / "base");
  const PreflightReport r = preflight(
      load(t.dir, "global:\n  base-dir: " + (t.dir / "base").string() +
                      "\nschedules:\n  s: {daily: {interval: 1d, keep: 3}}\n"
                      "jobs:\n  vm: {schedule: s, source: {type: file, filename: /dev/null}}\n"));
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message ==
        "job 'vm': file source /dev/null is neither a regular file nor a block device");
  CHECK(r.errors[0].line == 6);
}

TEST_CASE("preflight: check_images reports each missing image, and an unreachable cluster once",
          "[config]") {
  ScratchDir t;
  fs::create_directory(t.dir / "base");
  const Config c =
      load(t.dir, "global:\n  base-dir: " + (t.dir / "base").string() +
                      "\nceph: {conf: /etc/ceph/ceph.conf}\n"
                      "schedules:\n  s: {daily: {interval: 1d, keep: 3}}\n"
                      "jobs:\n"
                      "  a: {schedule: s, source: {type: ceph-rbd, pool: p, image: a}}\n"
                      "  b: {schedule: s, source: {type: ceph-rbd, pool: p, image: b}}\n");
  PreflightReport missing;
  check_images(
      c,
      [](const SourceConfig& s) -> std::optional<std::string> {
        if (s.image == "b") return "image p/b: No such file or directory";
        return std::nullopt;
      },
      missing);
  REQUIRE(missing.errors.size() == 1);
  CHECK(missing.errors[0].message == "job 'b': image p/b: No such file or directory");
  CHECK(missing.errors[0].line == 8);
  CHECK(missing.errors[0].column == 61);

  PreflightReport down;
  check_images(
      c, [](const SourceConfig&) -> std::optional<std::string> { throw Error("timed out"); }, down);
  REQUIRE(down.errors.size() == 1);
  CHECK(down.errors[0].message == "cannot reach the cluster: timed out");
  CHECK(down.errors[0].line == 3);
}
