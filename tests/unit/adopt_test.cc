// Upstream backy's job directories (repo/upstream_revision.h, repo/adopt.h): its .rev files in
// every spelling upstream wrote, shortuuids wherever a revision is named, a directory before
// adoption (nothing of upstream's read as ours, nothing removed by repair), adoption itself, and
// an adoption interrupted and resumed.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <string>

#include "repo/adopt.h"
#include "repo/repository.h"
#include "repo/revision_scrub.h"
#include "repo/upstream_revision.h"
#include "scratch_dir.h"
#include "store/scrub.h"
#include "support/upstream_job.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/uuid.h"

using namespace backy;
namespace fs = std::filesystem;

namespace {

// The names in `dir` with every file's bytes (links: their target), to compare before/after.
std::map<std::string, std::string> snapshot_of(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = fs::relative(e.path(), dir).string();
    if (e.is_symlink())
      out[name] = "-> " + fs::read_symlink(e.path()).string();
    else if (e.is_regular_file())
      out[name] = test::read_file(e.path());
    else
      out[name] = "dir";
  }
  return out;
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("shortuuids name revisions beside uuids, and nothing else does", "[adopt]") {
  CHECK(is_shortuuid("VNfPmmwQmHEHyeLZrhVrCy"));
  CHECK(is_revision_uuid("VNfPmmwQmHEHyeLZrhVrCy"));
  CHECK(is_revision_uuid("1123432b-a385-4aae-8999-aecb6a09f4a4"));
  CHECK_FALSE(is_shortuuid("VNfPmmwQmHEHyeLZrhVrC"));    // 21
  CHECK_FALSE(is_shortuuid("VNfPmmwQmHEHyeLZrhVrCyy"));  // 23
  CHECK_FALSE(is_shortuuid("VNfPmmwQmHEHyeLZrhVrC0"));   // 0 is not in the alphabet
  CHECK_FALSE(is_shortuuid("VNfPmmwQmHEHyeLZrhVrCl"));   // nor is l
  CHECK_FALSE(is_shortuuid("VNfPmmwQmHEHyeLZrh/../x"));
  CHECK_FALSE(is_revision_uuid("../../../../etc/passwd"));
  CHECK(is_revision_uuid_prefix("VNfPmm"));
  CHECK(is_revision_uuid_prefix("1123432b-a3"));
  CHECK_FALSE(is_revision_uuid_prefix("VNfPm"));
  CHECK_FALSE(is_revision_uuid_prefix("VNfPmmwQmHEHyeLZrhVrCyA"));
  CHECK_FALSE(is_revision_uuid_prefix("VNf.mm"));
}

TEST_CASE("our .rev may be named by a shortuuid, its parent too", "[adopt]") {
  Revision r;
  r.uuid = "VNfPmmwQmHEHyeLZrhVrCy";
  r.parent = "Sgx3wE8KCUzqVwnFsHqRKi";
  r.size = 4096;
  const Revision back = revision_from_yaml(to_yaml(r), "a.rev");
  CHECK(back.uuid == r.uuid);
  CHECK(back.parent == r.parent);
  r.parent = "Sgx3wE8KCUzqVwnFsHqRK.";
  CHECK_THROWS_WITH(revision_from_yaml(to_yaml(r), "a.rev"),
                    Catch::Contains("'parent' is not a uuid"));
}

TEST_CASE("upstream timestamps: naive is UTC, offsets are applied, floats are epoch seconds",
          "[adopt]") {
  auto iso = [](const std::string& s) {
    const auto t = parse_upstream_time(s);
    return t ? format_iso8601(*t) : std::string("none");
  };
  CHECK(iso("2016-03-04 10:11:12.123456") == "2016-03-04T10:11:12.123456+00:00");
  CHECK(iso("2016-03-04 10:11:12.123456+00:00") == "2016-03-04T10:11:12.123456+00:00");
  CHECK(iso("2016-03-04 10:11:12+02:00") == "2016-03-04T08:11:12.000000+00:00");
  CHECK(iso("2016-03-04 10:11:12 -5") == "2016-03-04T15:11:12.000000+00:00");
  CHECK(iso("2016-03-04T10:11:12Z") == "2016-03-04T10:11:12.000000+00:00");
  CHECK(iso("2016-03-04 10:11") == "none");
  CHECK(iso("2016-13-04 10:11:12") == "none");
  CHECK(iso("2016-03-04 10:11:12+25:00") == "none");
  CHECK(iso("2016-03-04 10:11:12 Europe/Berlin") == "none");
  const auto u = upstream_revision_from_yaml(
      "uuid: VNfPmmwQmHEHyeLZrhVrCy\ntimestamp: 1457172672.5\nparent:\n", "x.rev");
  CHECK(format_iso8601(u.timestamp) == "2016-03-05T10:11:12.500000+00:00");
}

TEST_CASE("an upstream .rev reads with upstream's defaults", "[adopt]") {
  const auto u = upstream_revision_from_yaml(
      "parent: null\nstats: {bytes_written: 12, duration: 3.25}\ntags: [daily]\n"
      "timestamp: 2016-03-04 10:11:12\nuuid: VNfPmmwQmHEHyeLZrhVrCy\n",
      "x.rev");
  CHECK(u.backend_type == "cowfile");  // no backend_type: upstream's rule
  CHECK(u.trust == Trust::trusted);    // no trust: upstream's rule
  CHECK(u.parent.empty());
  CHECK(u.bytes_written == 12);
  CHECK(u.duration == 3.25);
  CHECK(u.tags == std::set<std::string>{"daily"});
  CHECK(written_by_upstream("uuid: a\ntimestamp: 1\n"));
  CHECK_FALSE(written_by_upstream("uuid: a\ntimestamp: 1\ncomplete: true\n"));
  CHECK_FALSE(written_by_upstream("[uuid, timestamp]"));
  CHECK_FALSE(written_by_upstream("uuid: [unclosed\n"));
}

TEST_CASE("a hostile upstream .rev is refused naming the file and the rule", "[adopt]") {
  const std::string ok = "timestamp: 2016-03-04 10:11:12\nuuid: VNfPmmwQmHEHyeLZrhVrCy\n";
  auto refused = [](const std::string& text) {
    try {
      upstream_revision_from_yaml(text, "/j/x.rev");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(refused("timestamp: 2016-03-04 10:11:12\nuuid: ../../etc/passwd\n"),
             Catch::Contains("/j/x.rev") && Catch::Contains("'uuid'"));
  CHECK_THAT(refused(ok + "parent: ../x\n"), Catch::Contains("'parent'"));
  CHECK_THAT(refused(ok + "trust: maybe\n"), Catch::Contains("unknown 'trust'"));
  CHECK_THAT(refused(ok + "uuid: VNfPmmwQmHEHyeLZrhVrCy\n"), Catch::Contains("duplicate key"));
  CHECK_THAT(refused("uuid: VNfPmmwQmHEHyeLZrhVrCy\ntimestamp: yesterday\n"),
             Catch::Contains("'timestamp'"));
  CHECK_THAT(refused(ok + "tags: daily\n"), Catch::Contains("'tags'"));
  CHECK_THAT(refused(ok + "stats: [1]\n"), Catch::Contains("'stats'"));
  CHECK_THAT(refused(ok + "tags: [\xff]\n"), Catch::Contains("/j/x.rev"));
  CHECK_THAT(refused("- a\n"), Catch::Contains("not a mapping"));
  CHECK(refused(ok) == "accepted");
}

TEST_CASE("before adoption upstream's revisions are counted, not read as ours nor repaired away",
          "[adopt]") {
  test::ScratchDir scratch;
  const fs::path dir = scratch.dir / "vm";
  const auto job = test::write_upstream_job(dir);
  const auto before = snapshot_of(dir);
  Repository repo(dir);
  std::vector<std::string> problems;
  CHECK(repo.revisions(&problems).empty());
  REQUIRE(problems.size() == 2);
  CHECK(problems[0] == "3 revisions of upstream backy wait for `backyctl adopt vm`");
  CHECK_THAT(problems[1], Catch::Contains("1 revision of upstream backy in its chunked format"));
  CHECK(repo.upstream_revisions().size() == 4);
  {
    auto lock = repo.lock();
    const auto repaired = repo.repair(lock);
    CHECK(repaired.removed.empty());
  }
  auto after = snapshot_of(dir);
  after.erase(".lock");
  CHECK(after == before);
  // A shortuuid's image is never a leftover, even when its .rev is gone.
  fs::rename(dir / (job.cowfile[0].uuid + ".rev"), scratch.dir / "moved.rev");
  auto lock = repo.lock();
  CHECK(repo.repair(lock).removed.empty());
  CHECK(fs::exists(dir / job.cowfile[0].uuid));
}

TEST_CASE("adopt takes the cowfile revisions over, keeping what upstream said", "[adopt]") {
  test::ScratchDir scratch;
  const fs::path dir = scratch.dir / "vm";
  const auto job = test::write_upstream_job(dir);
  Repository repo(dir);
  AdoptReport report;
  {
    auto lock = repo.lock();
    report = adopt_upstream(repo, lock, {});
  }
  REQUIRE(report.revisions.size() == 4);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(report.revisions[i].uuid == job.cowfile[i].uuid);
    CHECK(report.revisions[i].adopted);
  }
  CHECK(report.revisions[3].uuid == job.chunked);
  CHECK_FALSE(report.revisions[3].adopted);
  CHECK_THAT(report.revisions[3].why, Catch::Contains("chunked"));
  std::vector<std::string> problems;
  const auto revs = repo.revisions(&problems);
  REQUIRE(revs.size() == 3);
  CHECK(problems.size() == 1);  // the chunked one, still
  for (size_t i = 0; i < 3; ++i) {
    const auto& want = job.cowfile[i];
    const Revision& r = revs[i];
    INFO(want.uuid);
    CHECK(r.uuid == want.uuid);
    CHECK(format_iso8601(r.timestamp) == want.timestamp);
    CHECK(r.parent == want.parent);
    CHECK(r.tags == std::set<std::string>(want.tags.begin(), want.tags.end()));
    CHECK(to_string(r.trust) == want.trust);
    CHECK(r.size == test::UpstreamJob::kSize);
    CHECK(test::read_file(dir / want.uuid) == want.image);
    CHECK(test::read_file(dir / (want.uuid + ".rev.upstream")) == want.rev_text);
    CHECK(mode_of(dir / want.uuid) == 0440);
    CHECK(scrub_image(dir / want.uuid, repo.load_sums(want.uuid)).empty());
  }
  CHECK(revs[0].stats.bytes_written == 12582912);
  CHECK(revs[0].stats.duration == 3.25);
  // The hole stays a hole in the checksums.
  CHECK_FALSE(repo.load_sums(job.cowfile[0].uuid).at(1).data);
  // Specs: a 6-character prefix of a shortuuid, `latest` (now the newest adopted).
  CHECK(repo.find(job.cowfile[1].uuid.substr(0, 6)).uuid == job.cowfile[1].uuid);
  CHECK(repo.find("latest").uuid == job.cowfile[2].uuid);
  CHECK_THROWS_WITH(repo.select("yesterday"), Catch::Contains("unknown revision spec"));
  CHECK_THROWS_WITH(repo.select("VNfPmmwQmHEHyeLZrhVrCz"), Catch::Contains("no revision matches"));
  CHECK(fs::read_symlink(dir / "latest") == job.cowfile[2].uuid);
  // Upstream's links, config and chunk store are as they were.
  CHECK(fs::read_symlink(dir / "last") == dir / job.chunked);
  CHECK(fs::read_symlink(dir / "last.rev") == dir / (job.chunked + ".rev"));
  CHECK(test::read_file(dir / "chunks" / "ab" / "abcdef.chunk.lzo") == "not ours");
  // Adopting again has nothing left but the chunked one; a scrub passes.
  auto lock = repo.lock();
  const auto again = adopt_upstream(repo, lock, {});
  REQUIRE(again.revisions.size() == 1);
  CHECK_FALSE(again.revisions[0].adopted);
  for (const auto& r : revs) CHECK(scrub_revision(repo, lock, r.uuid, {}).bad_blocks.empty());
  // forget of an adopted revision takes upstream's copy along.
  repo.remove(lock, job.cowfile[0].uuid);
  CHECK_FALSE(fs::exists(dir / (job.cowfile[0].uuid + ".rev.upstream")));
  CHECK_FALSE(fs::exists(dir / job.cowfile[0].uuid));
}

TEST_CASE("an adoption interrupted before a commit leaves that revision upstream's and resumes",
          "[adopt]") {
  test::ScratchDir scratch;
  const fs::path dir = scratch.dir / "vm";
  const auto job = test::write_upstream_job(dir);
  Repository repo(dir);
  struct Crash {};
  {
    auto lock = repo.lock();
    AdoptHooks hooks;
    hooks.before_commit = [](size_t index) {
      if (index == 1) throw Crash{};
    };
    CHECK_THROWS_AS(adopt_upstream(repo, lock, {}, hooks), Crash);
  }
  // What a crash in the middle of the second revision's commit leaves: its .sums written (here
  // garbage), temp files of the next steps.
  const std::string second = job.cowfile[1].uuid;
  test::write_file(dir / (second + ".sums"), "garbage");
  test::write_file(dir / (second + ".rev.upstream.tmp"), "half");
  test::write_file(dir / (second + ".rev.tmp"), "half");
  std::vector<std::string> problems;
  auto revs = repo.revisions(&problems);
  REQUIRE(revs.size() == 1);
  CHECK(revs[0].uuid == job.cowfile[0].uuid);
  CHECK(problems[0] == "2 revisions of upstream backy wait for `backyctl adopt vm`");
  CHECK(test::read_file(dir / (second + ".rev")) == job.cowfile[1].rev_text);
  auto lock = repo.lock();
  const auto report = adopt_upstream(repo, lock, {});
  REQUIRE(report.revisions.size() == 3);
  CHECK(report.revisions[0].adopted);
  CHECK(report.revisions[1].adopted);
  revs = repo.revisions();
  REQUIRE(revs.size() == 3);
  for (const auto& r : revs) CHECK(scrub_revision(repo, lock, r.uuid, {}).bad_blocks.empty());
  CHECK_FALSE(fs::exists(dir / (second + ".rev.tmp")));
  CHECK_FALSE(fs::exists(dir / (second + ".rev.upstream.tmp")));
}

TEST_CASE("adopt leaves alone what it cannot take, and says why", "[adopt]") {
  test::ScratchDir scratch;
  const fs::path dir = scratch.dir / "vm";
  const auto job = test::write_upstream_job(dir);
  fs::remove(dir / job.cowfile[0].uuid);  // an image gone
  test::write_file(dir / "Z2345678923456789abcde.rev",
                   "uuid: Z2345678923456789abcde\n"
                   "timestamp: never\n");
  fs::remove(dir / job.cowfile[1].uuid);  // an image replaced by a link to elsewhere
  fs::create_symlink(dir / job.cowfile[2].uuid, dir / job.cowfile[1].uuid);
  Repository repo(dir);
  auto lock = repo.lock();
  const auto report = adopt_upstream(repo, lock, {});
  REQUIRE(report.revisions.size() == 4);
  CHECK_FALSE(report.revisions[0].adopted);
  CHECK_FALSE(report.revisions[1].adopted);
  CHECK(report.revisions[2].adopted);
  REQUIRE(report.unreadable.size() == 1);
  CHECK_THAT(report.unreadable[0], Catch::Contains("Z2345678923456789abcde.rev"));
  CHECK(test::read_file(dir / (job.cowfile[1].uuid + ".rev")) == job.cowfile[1].rev_text);
  CHECK(fs::is_symlink(dir / job.cowfile[1].uuid));
}
