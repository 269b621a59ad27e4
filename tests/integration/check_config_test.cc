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
