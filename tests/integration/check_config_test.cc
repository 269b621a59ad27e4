// backyd --check-config on a configuration that names a key twice: yaml-cpp keeps the first for
// lookups, so a second `jobs:` section used to pass as "ok, 1 jobs" and its jobs were never
// backed up.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "support/test_env.h"

using namespace backy::test;
namespace fs = std::filesystem;

TEST_CASE("backyd --check-config refuses a key given twice, naming both lines", "[integration]") {
  TempDir t(non_reflink_dir(), "dup");
  const fs::path cfg = t / "dup.yaml";
  std::ofstream(cfg) << "global:\n  base-dir: /srv/backy\n"
                        "schedules:\n  s:\n    daily: {interval: 1d, keep: 3}\n"
                        "jobs:\n  vm1:\n    schedule: s\n    source: {type: file, filename: /a}\n"
                        "jobs:\n  vm2:\n    schedule: s\n    source: {type: file, filename: /b}\n";
  ProcessResult r = run({BACKYD_PATH, "-c", cfg.string(), "--check-config"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(cfg.string() + ":10:1: duplicate key 'jobs' (first at line 6)") !=
        std::string::npos);
  CHECK(r.out.find("ok") == std::string::npos);
}

// An upstream backy configuration (api, peers, telnet, a flyingcircus source) passes the check;
// each key backyd ignores is a warning naming its line, and the summary counts them.
TEST_CASE("backyd --check-config accepts upstream backy's format with a warning per ignored key",
          "[integration]") {
  TempDir t(xfs_mount(), "upstream");
  fs::create_directory(t / "base");
  std::ofstream(t / "vm.img") << "data";
  const fs::path cfg = t / "upstream.yaml";
  std::ofstream(cfg) << "global:\n  base-dir: " << (t / "base").string()
                     << "\n  worker-limit: 3\n  telnet-port: 6023\n"
                        "api:\n  addrs: \"127.0.0.1, ::1\"\n  port: 6023\n"
                        "  tokens: {cli-token: cli}\n  cli-default: {token: cli-token}\n"
                        "peers:\n  other: {url: \"https://other:6023\", token: t2}\n"
                        "schedules:\n  default:\n    daily: {interval: 1d, keep: 7}\n"
                        "jobs:\n  vm01:\n    schedule: default\n    source: {type: file, filename: "
                     << (t / "vm.img").string()
                     << "}\n  vm02:\n    schedule: default\n    source:\n"
                        "      type: flyingcircus\n      consul_acl_token: abc\n"
                        "      vm: vm02\n      pool: rbd\n      image: vm02.root\n";
  ProcessResult r = run({BACKYD_PATH, "-c", cfg.string(), "--check-config"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  const std::string where = cfg.string() + ":";
  CHECK(r.err.find(where + "4:3: warning: 'telnet-port' in global is ignored") !=
        std::string::npos);
  CHECK(r.err.find(where + "5:1: warning: 'api' in the top level is ignored") != std::string::npos);
  CHECK(r.err.find(where + "10:1: warning: 'peers' in the top level is ignored") !=
        std::string::npos);
  CHECK(r.err.find(where + "22:13: warning: source of job 'vm02': source type 'flyingcircus' is "
                           "backed up as ceph-rbd rbd/vm02.root") != std::string::npos);
  CHECK(r.err.find("'pre-snapshot'/'post-snapshot'") != std::string::npos);
  CHECK(r.out.find(cfg.string() + ": ok, 2 jobs, 1 schedule, base-dir ") == 0);
  CHECK(r.out.find(", 4 warnings") != std::string::npos);
}
