// The .rev parser (lib/repo/revision.h) on what a damaged or hostile file may hold: every bad
// input is a backy::Error naming the file, never another exception, a crash or a revision that
// points outside its job directory. Found by tests/fuzz/fuzz_revision.cc unless noted.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "repo/revision.h"
#include "util/error.h"

using namespace backy;

namespace {

const std::string kRev = R"(uuid: 1123432b-a385-4aae-8999-aecb6a09f4a4
timestamp: 2026-11-28T09:04:29.567334+00:00
parent: 80709816-d63e-4f15-8195-65c50af0d711
tags: [daily, weekly]
trust: verified
source: {type: ceph-rbd, pool: rbd, image: web01.root}
size: 10737418240
stats: {bytes_read: 41943040, bytes_written: 1228800, duration: 1.9, verified_blocks: 26}
scrub: {time: 2026-11-29T03:00:00.000000+00:00, bad_blocks: [3, 17]}
complete: true
)";

// kRev with the first occurrence of `from` replaced.
std::string rev_with(const std::string& from, const std::string& to) {
  std::string s = kRev;
  const auto pos = s.find(from);
  REQUIRE(pos != std::string::npos);
  return s.replace(pos, from.size(), to);
}

}  // namespace

TEST_CASE("a .rev round-trips through to_yaml", "[revision]") {
  const Revision r = revision_from_yaml(kRev, "a.rev");
  CHECK(r.uuid == "1123432b-a385-4aae-8999-aecb6a09f4a4");
  CHECK(r.tags == std::set<std::string>{"daily", "weekly"});
  CHECK(r.trust == Trust::verified);
  CHECK(r.size == 10737418240u);
  CHECK(r.bad_blocks == std::vector<uint64_t>{3, 17});
  const Revision back = revision_from_yaml(to_yaml(r), "b.rev");
  CHECK(back.uuid == r.uuid);
  CHECK(back.timestamp == r.timestamp);
  CHECK(back.parent == r.parent);
  CHECK(back.tags == r.tags);
  CHECK(back.source == r.source);
  CHECK(back.bad_blocks == r.bad_blocks);
  CHECK(back.scrubbed == r.scrubbed);
}

TEST_CASE("a malformed .rev is a backy::Error naming the file and what is wrong", "[revision]") {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      // The uuid names the revision's files and `latest` points at it (noted while fuzzing).
      {rev_with("uuid: 1123432b-a385-4aae-8999-aecb6a09f4a4", "uuid: ../../etc/passwd"),
       "'uuid' is not a uuid"},
      {rev_with("parent: 80709816", "parent: /80709816"), "'parent' is not a uuid"},
      // 2300 is past what a 64-bit nanosecond clock holds: signed overflow, UB.
      {rev_with("timestamp: 2026", "timestamp: 4109"), "bad timestamp"},
      {rev_with("timestamp: 2026-11", "timestamp: 2026-13"), "bad timestamp"},
      // Bad blocks without a scrub time were dropped by the next rewrite of the file.
      {rev_with("time: 2026-11-29T03:00:00.000000+00:00, ", ""), "'scrub' has no ISO 8601 'time'"},
      // Bytes that are not UTF-8 came back changed from the emitter.
      {rev_with("weekly", "week\xff"), "not UTF-8 text (byte "},
      {rev_with("weekly", "week\xc0\xaf"), "not UTF-8 text (byte "},
      {rev_with("trust: verified\n", "trust: verified\nsize: 1\n"),
       "duplicate key 'size' at line 8 (first at line 6)"},
      {"just a scalar", "not a mapping"},
      {"", "not a mapping"},
      {rev_with("size: 10737418240", "size: [1]"), "malformed revision file"},
      {rev_with("size: 10737418240", "size: -1"), "malformed revision file"},
      {rev_with("tags: [daily, weekly]", "tags: {a: 1}"), "malformed revision file"},
      {rev_with("source: {type: ceph-rbd, pool: rbd, image: web01.root}", "source: [a, b]"),
       "malformed revision file"},
      {rev_with("complete: true", "complete: maybe"), "malformed revision file"},
      {rev_with("trust: verified", "trust: distrustet"), "unknown 'trust' 'distrustet'"},
      {rev_with("complete: true", "complete: false"), "is not complete"},
      {rev_with("uuid: 1123432b-a385-4aae-8999-aecb6a09f4a4", "uuid: &a [*a]"),
       "malformed revision file"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    try {
      revision_from_yaml(c.text, "/srv/backy/vm/x.rev");
      FAIL("no error");
    } catch (const Error& e) {
      CHECK_THAT(e.what(), Catch::Contains(c.message));
      CHECK_THAT(e.what(), Catch::Contains("/srv/backy/vm/x.rev"));
    }
  }
}

TEST_CASE("a .rev records its consistency: without the key it is crash, a bad value an error",
          "[revision]") {
  CHECK(revision_from_yaml(kRev, "old.rev").consistency == Consistency::crash);
  const Revision frozen = revision_from_yaml(rev_with("size:", "consistency: frozen\nsize:"), "f");
  CHECK(frozen.consistency == Consistency::frozen);
  CHECK(to_yaml(frozen).find("consistency: frozen\n") != std::string::npos);
  CHECK(revision_from_yaml(to_yaml(frozen), "again").consistency == Consistency::frozen);
  CHECK(revision_from_yaml(rev_with("size:", "consistency: crash\nsize:"), "c").consistency ==
        Consistency::crash);
  CHECK_THROWS_WITH(revision_from_yaml(rev_with("size:", "consistency: frozn\nsize:"), "x.rev"),
                    Catch::Contains("x.rev") && Catch::Contains("unknown 'consistency' 'frozn'"));
}

TEST_CASE("a .rev records where its run's time went: stats.phases round-trips, old files have none",
          "[revision]") {
  const Revision old = revision_from_yaml(kRev, "old.rev");
  CHECK(old.stats.phases.empty());
  CHECK(to_yaml(old).find("phases") == std::string::npos);  // an old file is rewritten as it was

  const Revision r =
      revision_from_yaml(rev_with("verified_blocks: 26}",
                                  "verified_blocks: 26, phases: {prepare: 0.01, snapshot: "
                                  "0.2, read: 0.75, write: 0.5, flush: 0.3, verify: 0.04, "
                                  "commit: 0.06, cleanup: 0.04}}"),
                         "new.rev");
  const PhaseSeconds want = {{Phase::prepare, 0.01}, {Phase::snapshot, 0.2}, {Phase::read, 0.75},
                             {Phase::write, 0.5},    {Phase::flush, 0.3},    {Phase::verify, 0.04},
                             {Phase::commit, 0.06},  {Phase::cleanup, 0.04}};
  CHECK(r.stats.phases == want);
  // Written to the microsecond, in the run's order, readable: not 0.75000000000000002.
  const std::string text = to_yaml(r);
  INFO(text);
  CHECK(text.find("phases: {prepare: 0.01, snapshot: 0.2, read: 0.75, write: 0.5, flush: 0.3, "
                  "verify: 0.04, commit: 0.06, cleanup: 0.04}") != std::string::npos);
  CHECK(revision_from_yaml(text, "again.rev").stats.phases == want);

  // A subset reads as it is; what a clock measures survives to the microsecond.
  Revision some = old;
  some.stats.phases = {{Phase::read, 1.2345674}, {Phase::commit, 0}, {Phase::write, 1e-7}};
  const PhaseSeconds back = revision_from_yaml(to_yaml(some), "some.rev").stats.phases;
  REQUIRE(back.size() == 3);
  CHECK(back.at(Phase::read) == Approx(1.234567).margin(1e-9));
  CHECK(back.at(Phase::commit) == 0);
  CHECK(back.at(Phase::write) == 0);
}

TEST_CASE("a .rev whose stats.phases are not known names with seconds is malformed", "[revision]") {
  auto with_phases = [](const std::string& phases) {
    return rev_with("verified_blocks: 26}", "verified_blocks: 26, phases: " + phases + "}");
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{read: 1, upload: 2}", "'stats.phases' names an unknown phase 'upload'"},
      {"{Read: 1}", "unknown phase 'Read'"},
      {"{[read]: 1}", "unknown phase ''"},
      {"{read: -0.5}", "'read' is not a number of seconds"},
      {"{write: .nan}", "'write' is not a number of seconds"},
      {"{flush: .inf}", "'flush' is not a number of seconds"},
      {"{verify: -.inf}", "'verify' is not a number of seconds"},
      {"{commit: 1e999}", "malformed revision file"},
      {"{commit: soon}", "malformed revision file"},
      {"{commit: [1]}", "malformed revision file"},
      {"[read, 1]", "'stats.phases' is not a mapping"},
      {"1.5", "'stats.phases' is not a mapping"},
      {"{read: 1, read: 2}", "duplicate key 'read'"},
  };
  for (const auto& [phases, message] : cases) {
    INFO(phases);
    CHECK_THROWS_WITH(revision_from_yaml(with_phases(phases), "/srv/backy/vm/x.rev"),
                      Catch::Contains("/srv/backy/vm/x.rev") && Catch::Contains(message));
  }
}
