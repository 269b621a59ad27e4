// RevisionLedger: what the trust tests hold a job directory to, across crashes and faults.
//
// A committed revision is sacred: once the ledger has seen a revision complete (its .rev), the
// revision's image and .sums must stay byte for byte what they were until the revision is
// deleted, and `latest` must always name a complete revision. The ledger keeps a digest of each
// revision's files the first time it sees it and compares on every later check.
//
// Not thread-safe; one test thread.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace backy::test {

class RevisionLedger {
 public:
  explicit RevisionLedger(std::filesystem::path job_dir) : dir_(std::move(job_dir)) {}

  // Checks (CHECK/REQUIRE) the job directory as it is now: every .rev parses and has its image
  // and .sums; revisions seen before are unchanged; `latest` names a complete revision when
  // there is one. Records the revisions seen for the first time and returns their uuids.
  std::vector<std::string> check();
  // The image digest (support/dir_state.h) recorded when `uuid` was first seen.
  // REQUIRES: check() has seen `uuid`.
  const std::string& image_digest(const std::string& uuid) const;
  size_t seen() const { return seen_.size(); }

 private:
  struct Digests {
    std::string image, sums;
  };
  std::filesystem::path dir_;
  std::map<std::string, Digests> seen_;
};

// What a job directory looks like after a successful run: nothing left by interrupted runs (an
// image or .sums without its .rev, temp files), and `latest` names the newest revision.
void check_no_leftovers(const std::filesystem::path& job_dir);

}  // namespace backy::test
