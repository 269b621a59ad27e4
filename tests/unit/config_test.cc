#include <catch2/catch.hpp>

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
      {good_with("  vm2:", "  vm1:"), 12, 3, "duplicate job name 'vm1'"},
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
      {good_with("weekly:", "weekly:\n    weekly:"), 8, 5, "duplicate tag 'weekly'"},
      {std::string(kGood) + "extra: 1\n", 15, 1, "unknown key 'extra' in the top level"},
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
