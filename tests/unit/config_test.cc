#include <catch2/catch.hpp>
#include <tuple>

#include <fstream>

#include "config/config.h"

using namespace backy;

namespace {

const char* kGood = R"(global:
  base-dir: /srv/backy
  worker-limit: 2
schedules:
  default:
    daily: {interval: 1d, keep: 9}
    weekly: {interval: 7d, keep: 5}
jobs:
  vm1:
    schedule: default
    source: {type: file, filename: /images/vm1.img}
  vm2:
    schedule: default
    source: {type: ceph-rbd, pool: rbd, image: vm2.root, full-always: true}
)";

// Replaces the first occurrence of `from` in kGood.
std::string good_with(const std::string& from, const std::string& to) {
  std::string s = kGood;
  auto pos = s.find(from);
  REQUIRE(pos != std::string::npos);
  return s.replace(pos, from.size(), to);
}

}  // namespace

TEST_CASE("a valid configuration parses into typed values", "[config]") {
  ConfigLoad load = parse_config(kGood, "good.yaml");
  REQUIRE(load.ok());
  const Config& c = *load.config;
  CHECK(c.global.base_dir == "/srv/backy");
  CHECK(c.global.worker_limit == 2);
  CHECK(c.global.socket == "/run/backy/backyd.sock");
  CHECK(c.schedules.at("default").at("daily").interval == Seconds(86400));
  CHECK(c.schedules.at("default").at("weekly").keep == 5);
  CHECK(c.jobs.at("vm1").source.type == SourceConfig::Type::file);
  CHECK(c.jobs.at("vm1").source.filename == "/images/vm1.img");
  CHECK(c.jobs.at("vm2").source.type == SourceConfig::Type::ceph_rbd);
  CHECK(c.jobs.at("vm2").source.pool == "rbd");
  CHECK(c.jobs.at("vm2").source.full_always);
  CHECK(c.jobs.at("vm2").source.reads_in_flight == 16);
  CHECK(c.ceph.client == "admin");
}

TEST_CASE("the example configuration in config/ is valid, and so are its commented jobs",
          "[config]") {
  // Installed as /etc/backy.yaml: no jobs, so that the service starts on a fresh install.
  const std::string file = std::string(BACKY_SOURCE_DIR) + "/config/backy.yaml";
  ConfigLoad load = load_config(file);
  for (const auto& e : load.errors) UNSCOPED_INFO(e.to_string());
  REQUIRE(load.ok());
  CHECK(load.config->jobs.empty());

  // The examples under `jobs:` are "  # "-commented YAML: uncommented, they are valid jobs.
  std::ifstream in(file);
  std::string text, line;
  bool in_jobs = false;
  while (std::getline(in, line)) {
    if (line == "jobs:") in_jobs = true;
    if (in_jobs && line.rfind("  # ", 0) == 0) line = "  " + line.substr(4);
    text += line + "\n";
  }
  ConfigLoad examples = parse_config(text, file);
  for (const auto& e : examples.errors) UNSCOPED_INFO(e.to_string());
  REQUIRE(examples.ok());
  CHECK(examples.config->jobs.size() == 3);
}

TEST_CASE("every configuration error names file, line, column and what is wrong", "[config]") {
  struct Case {
    std::string yaml;
    int line, column;
    std::string message;
  };
  const std::vector<Case> cases = {
      {good_with("worker-limit: 2", "worker-limit: 0"), 3, 17, "'worker-limit' must be at least 1"},
      {good_with("worker-limit: 2", "wroker-limit: 2"), 3, 3,
       "unknown key 'wroker-limit' in global"},
      {good_with("worker-limit: 2", "worker-limit: two"), 3, 17,
       "'worker-limit' must be an integer"},
      {good_with("interval: 1d", "interval: 1x"), 6, 23, "bad duration '1x'"},
      {good_with("keep: 9", "keep: 0"), 6, 33, "'keep' must be at least 1"},
      {good_with("keep: 9", "kept: 9"), 6, 27, "unknown key 'kept'"},
      {good_with("schedule: default\n    source: {type: file",
                 "schedule: nightly\n    source: {type: file"),
       10, 15, "names schedule 'nightly', which is not defined"},
      {good_with("  vm2:", "  vm1:"), 12, 3, "duplicate key 'vm1' (first at line 9)"},
      {good_with("  vm2:", "  ../vm2:"), 12, 3, "is not safe as a directory name"},
      {good_with("  vm2:", "  vm 2:"), 12, 3, "is not safe as a directory name"},
      {good_with("type: file", "type: nfs"), 11, 20, "unknown source type 'nfs'"},
      {good_with("type: file, filename: /images/vm1.img", "type: file"), 11, 13,
       "'filename' is required"},
      {good_with("pool: rbd, ", ""), 14, 13, "'pool' is required"},
      {good_with("full-always: true", "full-always: maybe"), 14, 71, "must be true or false"},
      {good_with("base-dir: /srv/backy", "base-dir: srv/backy"), 2, 13, "must be an absolute path"},
      {good_with("global:", "global:\n  socket: [a, b]"), 2, 11, "'socket' must be a string"},
      {good_with("daily: {", "daily: {{"), 6, 13, "YAML syntax error"},
      {good_with("weekly:", "weekly:\n    weekly:"), 8, 5,
       "duplicate key 'weekly' (first at line 7)"},
      {std::string(kGood) + "extra: 1\n", 15, 1, "unknown key 'extra' in the top level"},
      // A tag `run --tags` could not name: the schedule's tags follow the same rule.
      {good_with("weekly:", "week,ly:"), 7, 5, "a tag name is 1 to 64 of"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    ConfigLoad load = parse_config(c.yaml, "test.yaml");
    REQUIRE_FALSE(load.ok());
    CHECK_FALSE(load.config.has_value());
    bool found = false;
    for (const auto& e : load.errors) {
      INFO(e.to_string());
      if (e.message.find(c.message) != std::string::npos) {
        found = true;
        CHECK(e.file == "test.yaml");
        CHECK(e.line == c.line);
        CHECK(e.column == c.column);
        CHECK(e.to_string().starts_with("test.yaml:" + std::to_string(c.line) + ":" +
                                        std::to_string(c.column) + ": "));
      }
    }
    CHECK(found);
  }
}

TEST_CASE("all errors of a file are reported at once", "[config]") {
  std::string yaml = good_with("worker-limit: 2", "worker-limit: 0");
  yaml = yaml.replace(yaml.find("interval: 1d"), 12, "interval: 1x");
  ConfigLoad load = parse_config(yaml, "x.yaml");
  CHECK(load.errors.size() == 2);
}

TEST_CASE("a missing file is an error naming it", "[config]") {
  ConfigLoad load = load_config("/nonexistent/backy.yaml");
  REQUIRE(load.errors.size() == 1);
  CHECK(load.errors[0].to_string() == "/nonexistent/backy.yaml: cannot read configuration file");
}

TEST_CASE("job names that are safe as directory names", "[config]") {
  CHECK(is_safe_job_name("vm01"));
  CHECK(is_safe_job_name("web-01.example_com"));
  CHECK_FALSE(is_safe_job_name(""));
  CHECK_FALSE(is_safe_job_name("."));
  CHECK_FALSE(is_safe_job_name(".."));
  CHECK_FALSE(is_safe_job_name(".hidden"));
  CHECK_FALSE(is_safe_job_name("a/b"));
  CHECK_FALSE(is_safe_job_name(std::string(129, 'a')));
}

TEST_CASE("configs compare equal only when a job is unchanged", "[config]") {
  auto a = parse_config(kGood, "a.yaml");
  auto b = parse_config(good_with("/images/vm1.img", "/images/vm1-new.img"), "b.yaml");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK_FALSE(a.config->jobs.at("vm1") == b.config->jobs.at("vm1"));
  CHECK(a.config->jobs.at("vm2") == b.config->jobs.at("vm2"));
}

TEST_CASE("two jobs on one RBD image are an error naming both", "[config]") {
  const std::string twice = std::string(kGood) + R"(  vm3:
    schedule: default
    source: {type: ceph-rbd, pool: rbd, image: vm2.root}
  vm4:
    schedule: default
    source: {type: ceph-rbd, pool: rbd, namespace: other, image: vm2.root}
)";
  ConfigLoad load = parse_config(twice, "twice.yaml");
  REQUIRE_FALSE(load.ok());
  REQUIRE(load.errors.size() == 1);  // vm4 is in another namespace: another image
  CHECK(load.errors[0].to_string() ==
        "twice.yaml:17:13: job 'vm3' backs up RBD image rbd/vm2.root, as job 'vm2' (line 14) "
        "does: two jobs on one image would delete each other's snapshots");
}

TEST_CASE("restore-pools: job, else global, else the job's own pool or none", "[config]") {
  ConfigLoad plain = parse_config(kGood, "good.yaml");
  REQUIRE(plain.ok());
  const Config& c = *plain.config;
  CHECK(restore_pools(c, c.jobs.at("vm1")).empty());  // a file job: none
  CHECK(restore_pools(c, c.jobs.at("vm2")) == std::vector<std::string>{"rbd"});

  ConfigLoad set = parse_config(
      good_with("  worker-limit: 2\n", "  worker-limit: 2\n  restore-pools: [restore, rbd]\n") +
          "    restore-pools: []\n",
      "pools.yaml");
  REQUIRE(set.ok());
  const Config& s = *set.config;
  CHECK(restore_pools(s, s.jobs.at("vm1")) == std::vector<std::string>{"restore", "rbd"});
  CHECK(restore_pools(s, s.jobs.at("vm2")).empty());  // vm2's own empty list wins
}

TEST_CASE("restore-pools errors name file, line and column", "[config]") {
  auto first_error = [](const std::string& yaml) {
    ConfigLoad load = parse_config(yaml, "p.yaml");
    REQUIRE_FALSE(load.ok());
    return load.errors.front().to_string();
  };
  CHECK(
      first_error(good_with("  worker-limit: 2\n", "  worker-limit: 2\n  restore-pools: rbd\n")) ==
      "p.yaml:4:18: 'restore-pools' must be a list of pool names, e.g. [rbd, restore]");
  CHECK(first_error(
            good_with("  worker-limit: 2\n", "  worker-limit: 2\n  restore-pools: [rbd, a/b]\n")) ==
        "p.yaml:4:24: 'restore-pools': 'a/b' is no pool name (empty, or contains '/')");
  CHECK(first_error(std::string(kGood) + "    restore-pools: [rbd, rbd]\n") ==
        "p.yaml:15:26: 'restore-pools': pool 'rbd' is listed twice");
  CHECK(first_error(std::string(kGood) + "    restore-pools: [{x: 1}]\n") ==
        "p.yaml:15:21: 'restore-pools' must be a string");
}

TEST_CASE("a key given twice in any mapping is an error naming both lines", "[config]") {
  struct Case {
    std::string yaml;
    int line, column;
    std::string message;
  };
  const std::vector<Case> cases = {
      // Two sections: yaml-cpp keeps only the first for lookups, the second was ignored.
      {std::string(kGood) + "jobs:\n  vm3:\n    schedule: default\n", 15, 1,
       "duplicate key 'jobs' (first at line 8)"},
      {good_with("  worker-limit: 2", "  worker-limit: 2\n  worker-limit: 3"), 4, 3,
       "duplicate key 'worker-limit' (first at line 3)"},
      {good_with("  default:", "  default:\n    hourly: {interval: 1h, keep: 2}\n  default:"), 7, 3,
       "duplicate key 'default' (first at line 5)"},
      {good_with("daily: {interval: 1d, keep: 9}", "daily: {interval: 1d, keep: 9, keep: 3}"), 6,
       36, "duplicate key 'keep' (first at line 6)"},
      {good_with("    schedule: default\n    source: {type: file",
                 "    schedule: default\n    schedule: default\n    source: {type: file"),
       11, 5, "duplicate key 'schedule' (first at line 10)"},
      {good_with("type: ceph-rbd, pool: rbd,", "type: ceph-rbd, pool: rbd, pool: ssd,"), 14, 41,
       "duplicate key 'pool' (first at line 14)"},
      {good_with("global:\n", "global:\n  log-level: info\n  ? log-level\n  : debug\n"), 3, 5,
       "duplicate key 'log-level' (first at line 2)"},
      // Block and flow style, and a quoted key, are the same key.
      {good_with("  vm2:", "  \"vm1\":"), 12, 3, "duplicate key 'vm1' (first at line 9)"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    ConfigLoad load = parse_config(c.yaml, "dup.yaml");
    REQUIRE_FALSE(load.ok());
    int found = 0;
    for (const auto& e : load.errors) {
      INFO(e.to_string());
      if (e.message.find("duplicate key") == std::string::npos) continue;
      ++found;
      CHECK(e.message == c.message);
      CHECK(e.to_string() == "dup.yaml:" + std::to_string(c.line) + ":" + std::to_string(c.column) +
                                 ": " + c.message);
    }
    CHECK(found == 1);
  }
}

TEST_CASE("the same key in different mappings is no duplicate", "[config]") {
  // daily in two schedules, schedule/source in two jobs, interval/keep in every tag.
  ConfigLoad load = load_config(std::string(BACKY_SOURCE_DIR) + "/config/backy.yaml");
  for (const auto& e : load.errors) UNSCOPED_INFO(e.to_string());
  CHECK(load.ok());
}

TEST_CASE("an integer beyond 32 bits is an error, not cut to its low bits", "[config]") {
  // keep: 4294967297 used to become keep 1; worker-limit 4294967296 became 0.
  for (const auto& [from, to, message] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"keep: 9", "keep: 4294967297", "'keep' is out of range: 4294967297"},
           {"worker-limit: 2", "worker-limit: 4294967296", "'worker-limit' is out of range"},
           {"worker-limit: 2", "worker-limit: 99999999999999999999",
            "'worker-limit' is out of range"},
           {"worker-limit: 2", "worker-limit: -2147483649", "'worker-limit' is out of range"},
       }) {
    ConfigLoad load = parse_config(good_with(from, to), "big.yaml");
    REQUIRE(load.errors.size() == 1);
    CHECK_THAT(load.errors[0].message, Catch::StartsWith(message));
  }
}

TEST_CASE("a verify fraction of .nan is refused", "[config]") {
  // NaN compares false both with < 0 and > 1, and passed as a valid fraction.
  for (const char* f : {".nan", ".NaN", ".inf", "-.inf", "1.5", "-0.1", "half"}) {
    INFO(f);
    ConfigLoad load = parse_config(
        good_with("full-always: true}",
                  std::string("full-always: true}\n    verify: {fraction: ") + f + "}"),
        "nan.yaml");
    REQUIRE(load.errors.size() == 1);
    CHECK(load.errors[0].message == "'fraction' must be a number from 0 to 1");
  }
  ConfigLoad ok = parse_config(
      good_with("full-always: true}", "full-always: true}\n    verify: {fraction: 0.25}"),
      "ok.yaml");
  REQUIRE(ok.ok());
  CHECK(ok.config->jobs.at("vm2").verify.fraction == 0.25);
}

TEST_CASE("a duration longer than a century is refused before it overflows a clock", "[config]") {
  // 1317624576693539401s (2^63 ns in weeks) parsed, and steady_clock::now() + max-time
  // overflowed.
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"interval: 1d", "interval: 1317624576693539401s"},
           {"interval: 1d", "interval: 36501d"},
           {"full-always: true}", "full-always: true}\n    verify: {max-time: 5300w}"},
           {"worker-limit: 2", "callback-timeout: 1317624576693539401"},
       }) {
    INFO(to);
    ConfigLoad load = parse_config(good_with(from, to), "long.yaml");
    REQUIRE(load.errors.size() == 1);
    CHECK_THAT(load.errors[0].message, Catch::Contains("is out of range (at most 36500d)"));
  }
  CHECK(parse_config(good_with("interval: 1d", "interval: 36500d"), "ok.yaml").ok());
}

TEST_CASE("a NUL byte in a string value is an error", "[config]") {
  // base-dir "/srv\0/x" would have been /srv for every system call.
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"base-dir: /srv/backy", "base-dir: \"/srv/backy\\0/x\""},
           {"filename: /images/vm1.img", "filename: \"/images/vm1.img\\0.bak\""},
           {"image: vm2.root", "image: \"vm2\\0root\""},
       }) {
    INFO(to);
    ConfigLoad load = parse_config(good_with(from, to), "nul.yaml");
    REQUIRE_FALSE(load.ok());
    int nul = 0;
    for (const auto& e : load.errors) nul += e.message.ends_with("contains a NUL byte");
    CHECK(nul == 1);
  }
}

TEST_CASE("odd YAML gives errors, never an exception", "[config]") {
  const std::vector<std::string> texts = {
      std::string("global: {base-dir: /x}\0jobs: 1\n", 31),
      "global: &g {base-dir: /x, socket: *g}\nschedules: {}\n",
      "global: &g\n  base-dir: /x\n  self: *g\nschedules: *g\njobs: *g\n",
      "? [a, b]\n: 1\nglobal: {base-dir: /x}\nschedules: {}\n",
      "global: !!binary aGVsbG8=\nschedules: {}\n",
      std::string(3000, '[') + std::string(3000, ']'),
      "--- 1\n--- 2\n",
      "",
  };
  for (const auto& t : texts) {
    INFO(t.substr(0, 80));
    ConfigLoad load;
    REQUIRE_NOTHROW(load = parse_config(t, "odd.yaml"));
    CHECK_FALSE(load.ok());
    for (const auto& e : load.errors) CHECK_FALSE(e.message.empty());
  }
}

namespace {

// A configuration as upstream backy reads it (2.x and 3.x): every key its daemon, scheduler and
// sources read, written for this test.
const char* kUpstream = R"(global:
  base-dir: /srv/backy
  worker-limit: 2
  backup-completed-callback: /usr/local/bin/backup-done
  status-file: /srv/backy/status
  status-interval: 30
  telnet-addrs: 127.0.0.1
  telnet-port: 6023
api:
  addrs: "::1, 127.0.0.1"
  port: 6023
  tokens:
    secret-a: server-b
  cli-default:
    token: secret-a
peers:
  server-b:
    url: https://server-b.example:6023
    token: secret-b
schedules:
  default:
    daily: {interval: 1d, keep: 9}
    weekly: {interval: 1w, keep: 5}
  frequent:
    hourly: {interval: 1h, keep: 24}
jobs:
  plain:
    schedule: default
    source: {type: file, filename: /images/plain.img, cow: true}
  copied:
    schedule: default
    source: {type: file, filename: /images/copied.img, cow: false}
  web01:
    schedule: frequent
    source: {type: ceph-rbd, pool: rbd, image: web01.root, full-always: false}
  db01:
    schedule: frequent
    source:
      type: flyingcircus
      consul_acl_token: 0f4c2a52-0000-4000-8000-000000000001
      vm: db01
      pool: rbd.ssd
      image: db01.root
  app01:
    schedule: default
    source: {type: rbd, pool: rbd, image: app01.root, vm: app01}
  app02:
    schedule: default
    source: {type: rbd, pool: rbd, image: app02.root}
)";

}  // namespace

TEST_CASE("upstream backy's configuration loads, with a warning on each line backyd ignores",
          "[config]") {
  ConfigLoad load = parse_config(kUpstream, "upstream.yaml");
  for (const auto& e : load.errors) INFO(e.to_string());
  REQUIRE(load.ok());
  const Config& c = *load.config;
  CHECK(c.global.worker_limit == 2);
  CHECK(c.global.backup_completed_callback == "/usr/local/bin/backup-done");
  CHECK(c.jobs.size() == 6);
  CHECK(c.jobs.at("plain").source.type == SourceConfig::Type::file);
  CHECK(c.jobs.at("copied").source.filename == "/images/copied.img");
  CHECK(c.jobs.at("web01").source.type == SourceConfig::Type::ceph_rbd);
  const SourceConfig& db = c.jobs.at("db01").source;
  CHECK(db.type == SourceConfig::Type::ceph_rbd);
  CHECK(db.pool == "rbd.ssd");
  CHECK(db.image == "db01.root");
  CHECK(c.jobs.at("db01").schedule == "frequent");
  CHECK(c.jobs.at("app01").source.type == SourceConfig::Type::ceph_rbd);
  CHECK(c.jobs.at("app02").source.image == "app02.root");
  CHECK(c.schedules.at("default").at("weekly").interval == Seconds(7 * 86400));

  struct Want {
    int line, column;
    std::string text;
  };
  const std::vector<Want> want = {
      {5, 3, "'status-file' in global is ignored: upstream backy's status file"},
      {6, 3, "'status-interval' in global is ignored"},
      {7, 3, "'telnet-addrs' in global is ignored: upstream backy's telnet console"},
      {8, 3, "'telnet-port' in global is ignored"},
      {9, 1, "'api' in the top level is ignored: upstream backy's HTTP API"},
      {16, 1, "'peers' in the top level is ignored: upstream backy's replication"},
      {32, 61, "'cow: false' is ignored: backyd always shares unchanged blocks"},
      {39, 13,
       "source type 'flyingcircus' is backed up as ceph-rbd rbd.ssd/db01.root; upstream froze "
       "the VM through its host agent (consul), which backyd does not have: set the job's "
       "'pre-snapshot'/'post-snapshot' hooks"},
      {46, 20, "source type 'rbd' with 'vm' is backed up as ceph-rbd rbd/app01.root"},
  };
  std::string all;
  for (const auto& w : load.warnings) all += w.to_string() + "\n";
  INFO(all);
  REQUIRE(load.warnings.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("warning " << i);
    CHECK(load.warnings[i].file == "upstream.yaml");
    CHECK(load.warnings[i].line == want[i].line);
    CHECK(load.warnings[i].column == want[i].column);
    CHECK(load.warnings[i].message.find(want[i].text) != std::string::npos);
  }
  CHECK(warning_text(load.warnings[4]) ==
        "upstream.yaml:9:1: warning: " + load.warnings[4].message);
}

TEST_CASE("upstream backy's keys that backyd cannot honour are errors saying what to write",
          "[config]") {
  struct Case {
    std::string from, to;
    int line, column;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"type: ceph-rbd, pool: rbd, image: web01.root", "type: ceph, pool: rbd, image: web01.root",
       35, 20, "unknown source type 'ceph' (an RBD image is 'type: ceph-rbd')"},
      {"type: rbd, pool: rbd, image: app02.root", "type: s3, pool: rbd, image: app02.root", 49, 20,
       "unknown source type 's3' (upstream backy's S3 source"},
      {"type: flyingcircus", "type: flyingcircus,", 39, 13,
       "unknown source type 'flyingcircus,' (a stray ',' after the type?)"},
      {"full-always: false}", "full-always: false, vm: web01}", 35, 84,
       "'vm' does not apply to type ceph-rbd"},
      {"cow: true}", "cow: true, vm: plain}", 29, 70, "'vm' does not apply to type file"},
      {"vm: db01", "vm: [db01]", 41, 11, "'vm' must be a string"},
  };
  for (const auto& c : cases) {
    std::string yaml = kUpstream;
    const auto pos = yaml.find(c.from);
    REQUIRE(pos != std::string::npos);
    yaml.replace(pos, c.from.size(), c.to);
    INFO(yaml);
    ConfigLoad load = parse_config(yaml, "upstream.yaml");
    REQUIRE_FALSE(load.ok());
    bool found = false;
    for (const auto& e : load.errors) {
      INFO(e.to_string());
      if (e.message.find(c.message) == std::string::npos) continue;
      found = true;
      CHECK(e.line == c.line);
      CHECK(e.column == c.column);
    }
    CHECK(found);
  }
}

TEST_CASE("fast-lane-threshold: a duration, ten minutes unless set", "[config]") {
  ConfigLoad plain = parse_config(kGood, "good.yaml");
  REQUIRE(plain.ok());
  CHECK(plain.config->global.fast_lane_threshold == Seconds(600));
  CHECK(plain.warnings.empty());
  ConfigLoad set = parse_config(
      good_with("worker-limit: 2", "worker-limit: 2\n  fast-lane-threshold: 1h"), "good.yaml");
  REQUIRE(set.ok());
  CHECK(set.config->global.fast_lane_threshold == Seconds(3600));
  ConfigLoad bad = parse_config(
      good_with("worker-limit: 2", "worker-limit: 2\n  fast-lane-threshold: soon"), "good.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.errors.at(0).line == 4);
  CHECK(bad.errors.at(0).message.find("'fast-lane-threshold': bad duration 'soon'") !=
        std::string::npos);
}

TEST_CASE("read-limit and io-priority: per job and global, in words, checked", "[config]") {
  const std::string yaml = good_with(
      "worker-limit: 2", "worker-limit: 2\n  read-limit: 100M\n  io-priority: best-effort:6");
  std::string with_job = yaml;
  with_job.replace(with_job.find("    source: {type: file"), 0,
                   "    read-limit: 20MiB/s\n    io-priority: idle\n");
  ConfigLoad load = parse_config(with_job, "limits.yaml");
  INFO((load.ok() ? std::string() : load.errors.front().to_string()));
  REQUIRE(load.ok());
  const Config& c = *load.config;
  CHECK(c.global.read_limit == 100u << 20);
  CHECK(c.global.io_priority == IoPriority{IoPriority::Class::best_effort, 6});
  CHECK(c.jobs.at("vm1").read_limit == 20u << 20);
  CHECK(c.jobs.at("vm1").io_priority == IoPriority{IoPriority::Class::idle, 0});
  CHECK(c.jobs.at("vm2").read_limit == 0);  // none of its own
  CHECK(c.jobs.at("vm2").io_priority == c.global.io_priority);
  // Unset: no limit, idle.
  ConfigLoad plain = parse_config(kGood, "good.yaml");
  REQUIRE(plain.ok());
  CHECK(plain.config->global.read_limit == 0);
  CHECK(plain.config->jobs.at("vm1").io_priority.cls == IoPriority::Class::idle);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {good_with("worker-limit: 2", "read-limit: fast"), "'read-limit' must be bytes per second"},
      {good_with("worker-limit: 2", "read-limit: 1k"), "'read-limit' must be at least 64KiB"},
      {good_with("worker-limit: 2", "io-priority: low"), "'io-priority' must be idle, best-effort"},
      {good_with("    source: {type: ceph", "    io-priority: idle\n    source: {type: ceph"),
       "'io-priority' applies to file sources only"},
      {good_with("    source: {type: file", "    read-limit: [1]\n    source: {type: file"),
       "'read-limit' must be bytes per second"},
  };
  for (const auto& [text, message] : bad) {
    INFO(text);
    ConfigLoad l = parse_config(text, "bad.yaml");
    REQUIRE_FALSE(l.ok());
    CHECK(l.errors.front().message.find(message) != std::string::npos);
    CHECK(l.errors.front().line > 0);
  }
}

TEST_CASE("snapshot hooks: global ones apply to ceph-rbd jobs, a job's keys override them",
          "[config]") {
  const std::string text = good_with("  worker-limit: 2\n",
                                     "  worker-limit: 2\n"
                                     "  pre-snapshot: /usr/lib/backyd/hooks/libvirt-freeze\n"
                                     "  post-snapshot: [/usr/lib/backyd/hooks/libvirt-thaw, x]\n"
                                     "  hook-timeout: 30s\n") +
                           "    pre-snapshot-failure: continue\n"
                           "    post-snapshot: [/bin/thaw, --all, \"a b\"]\n";
  ConfigLoad load = parse_config(text, "hooks.yaml");
  INFO((load.errors.empty() ? "" : load.errors[0].to_string()));
  REQUIRE(load.ok());
  const Config& c = *load.config;
  CHECK(c.jobs.at("vm1").hooks == SnapshotHookConfig{});  // a file job: none
  const SnapshotHookConfig& h = c.jobs.at("vm2").hooks;
  CHECK(h.pre_snapshot == std::vector<std::string>{"/usr/lib/backyd/hooks/libvirt-freeze"});
  CHECK(h.post_snapshot == std::vector<std::string>{"/bin/thaw", "--all", "a b"});
  CHECK(h.timeout == Seconds(30));
  CHECK(h.continue_on_pre_failure);
  CHECK_FALSE(c.global.hooks.continue_on_pre_failure);
  CHECK(parse_config(kGood, "plain.yaml").config->jobs.at("vm2").hooks.timeout == Seconds(60));
}

TEST_CASE("snapshot hooks: bad values and hooks on a file job are errors naming the key",
          "[config]") {
  struct Case {
    std::string job_line, error;
  };
  const std::vector<Case> cases = {
      {"    pre-snapshot: freeze.sh\n", "'pre-snapshot' must start with an absolute path"},
      {"    post-snapshot: []\n", "'post-snapshot' must start with an absolute path"},
      {"    post-snapshot: {a: b}\n", "'post-snapshot' must be a path or a list"},
      {"    hook-timeout: 2h\n", "'hook-timeout' must be from 1s to 1h"},
      {"    pre-snapshot-failure: ignore\n", "'pre-snapshot-failure' must be fail or continue"},
  };
  for (const Case& c : cases) {
    ConfigLoad load = parse_config(std::string(kGood) + c.job_line, "bad.yaml");
    INFO(c.job_line);
    REQUIRE(load.errors.size() == 1);
    CHECK_THAT(load.errors[0].to_string(), Catch::Contains(c.error));
  }
  ConfigLoad file_job =
      parse_config(good_with("    source: {type: file, filename: /images/vm1.img}\n",
                             "    source: {type: file, filename: /images/vm1.img}\n"
                             "    pre-snapshot: /bin/true\n"),
                   "file.yaml");
  REQUIRE(file_job.errors.size() == 1);
  CHECK_THAT(file_job.errors[0].to_string(),
             Catch::Contains("job 'vm1': 'pre-snapshot' applies to ceph-rbd jobs only"));
}
