// config/key_positions.h: the positions parse_config keeps for preflight's findings, each the
// key's value or, when the key is absent, its nearest parent's.
#include <catch2/catch.hpp>
#include <string>

#include "config/config.h"
#include "config/key_positions.h"

using namespace backy;

namespace {

const std::string kYaml = R"(global:
  base-dir: /srv/backy
  admin-group: backy
schedules:
  s: {daily: {interval: 1d, keep: 3}}
jobs:
  web01:
    schedule: s
    source: {type: ceph-rbd, pool: rbd, image: web01.root}
  files:
    schedule: s
    source:
      type: file
      filename: /srv/vm.img
)";

std::string at(const KeyPositions& p, const std::vector<std::string>& path) {
  const KeyPosition k = p.at(path);
  return std::to_string(k.line) + ":" + std::to_string(k.column);
}

}  // namespace

TEST_CASE("parse_config keeps the positions of what preflight names", "[config]") {
  const ConfigLoad l = parse_config(kYaml, "backy.yaml");
  REQUIRE(l.ok());
  REQUIRE(l.config->positions);
  const KeyPositions& p = *l.config->positions;
  CHECK(at(p, {"global", "base-dir"}) == "2:13");
  CHECK(at(p, {"global", "admin-group"}) == "3:16");
  CHECK(at(p, {"jobs", "web01", "source"}) == "9:13");
  CHECK(at(p, {"jobs", "web01", "source", "image"}) == "9:48");
  CHECK(at(p, {"jobs", "files", "source", "filename"}) == "14:17");
  // Absent keys: the nearest parent that exists.
  CHECK(at(p, {"global", "metrics-file"}) == "2:3");
  CHECK(at(p, {"jobs", "files", "source", "image"}) == "13:7");
  CHECK(at(p, {"jobs", "gone", "source"}) == "7:3");
  CHECK(at(p, {"ceph"}) == "1:1");
  // Copies of the configuration share them.
  const Config copy = *l.config;
  CHECK(copy.positions == l.config->positions);
}
