#include "support/revision_ledger.h"

#include <catch2/catch.hpp>

#include "repo/repository.h"
#include "support/dir_state.h"
#include "util/uuid.h"

namespace fs = std::filesystem;

namespace backy::test {

namespace {

// The uuid `latest` points to; empty when there is no link.
std::string latest_target(const fs::path& dir) {
  std::error_code ec;
  const fs::path target = fs::read_symlink(dir / "latest", ec);
  return ec ? std::string() : target.string();
}

}  // namespace

std::vector<std::string> RevisionLedger::check() {
  Repository repo(dir_);
  std::vector<std::string> problems;
  const std::vector<Revision> revs = repo.revisions(&problems);
  INFO("job directory " << dir_);
  CHECK(problems.empty());
  std::vector<std::string> fresh;
  std::map<std::string, Digests> still_there;
  for (const Revision& r : revs) {
    INFO("revision " << r.uuid);
    REQUIRE(fs::is_regular_file(repo.image_path(r.uuid)));
    REQUIRE(fs::is_regular_file(repo.sums_path(r.uuid)));
    CHECK(fs::file_size(repo.image_path(r.uuid)) == r.size);
    Digests now{content_digest(repo.image_path(r.uuid)), content_digest(repo.sums_path(r.uuid))};
    auto it = seen_.find(r.uuid);
    if (it == seen_.end()) {
      fresh.push_back(r.uuid);
    } else {
      CHECK(now.image == it->second.image);
      CHECK(now.sums == it->second.sums);
    }
    still_there[r.uuid] = now;
  }
  seen_.insert(still_there.begin(), still_there.end());
  if (!revs.empty()) {
    const std::string latest = latest_target(dir_);
    INFO("latest -> " << latest);
    CHECK(is_uuid(latest));
    CHECK(still_there.contains(latest));
  }
  return fresh;
}

const std::string& RevisionLedger::image_digest(const std::string& uuid) const {
  auto it = seen_.find(uuid);
  REQUIRE(it != seen_.end());
  return it->second.image;
}

void check_no_leftovers(const fs::path& job_dir) {
  const std::vector<Revision> revs = Repository(job_dir).revisions();
  REQUIRE_FALSE(revs.empty());
  std::vector<std::string> stray;
  for (const auto& e : fs::directory_iterator(job_dir)) {
    const std::string name = e.path().filename().string();
    if (name == ".lock" || name == "latest") continue;
    const std::string uuid = name.substr(0, std::min<size_t>(name.size(), 36));
    // The newest revision's source record stays while its snapshot does (the base of the next
    // incremental); every other run's went with its snapshot.
    if (name == revs.back().uuid + ".snapshot") continue;
    const bool own = name == uuid || name == uuid + ".rev" || name == uuid + ".sums";
    if (!own || !fs::exists(job_dir / (uuid + ".rev"))) stray.push_back(name);
  }
  INFO("job directory " << job_dir);
  CHECK(stray == std::vector<std::string>{});
  CHECK(latest_target(job_dir) == revs.back().uuid);
}

}  // namespace backy::test
