#include "support/crash_rounds.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <thread>

#include "repo/repository.h"

namespace backy::test {

int run_crash_rounds(CtlDaemon& d, const std::string& job, RevisionLedger& ledger,
                     const CrashRounds& rounds, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> delay(0, rounds.max_delay);
  int committed = 0;
  for (int i = 0; i < rounds.rounds; ++i) {
    const std::string want = rounds.change_source();
    const double kill_after = delay(rng);
    INFO("round " << i << ", kill after " << kill_after << " s");
    {
      Child run({BACKYCTL_PATH, "-s", d.socket(), "run", job, "--wait"}, d.dir() / "run.log");
      std::this_thread::sleep_for(std::chrono::duration<double>(kill_after));
      d.kill();
      REQUIRE(run.wait(10).has_value());  // its answer ends with the daemon's connection
    }
    rounds.after_kill();
    d.start();
    check_scrub_clean(d, job);
    const auto fresh = ledger.check();
    CHECK(fresh.size() <= 1);  // one run per round
    for (const auto& uuid : fresh) CHECK(ledger.image_digest(uuid) == want);
    committed += fresh.empty() ? 0 : 1;
    std::fprintf(stderr, "round %d: killed after %.3f s, %s\n", i, kill_after,
                 fresh.empty() ? "before the commit" : "after the commit");
    for (auto revs = Repository(d.job_dir(job)).revisions(); revs.size() > rounds.max_revisions;
         revs.erase(revs.begin() + 1))
      REQUIRE(d.ctl({"forget", job, revs[1].uuid, "--force"}).exit_code == 0);
  }
  return committed;
}

void check_scrub_clean(const CtlDaemon& d, const std::string& job) {
  ProcessResult scrub = d.ctl({"scrub", job, "all", "--json"});
  INFO(scrub.out << scrub.err);
  REQUIRE(scrub.exit_code == 0);
  const auto scrubbed = nlohmann::json::parse(scrub.out)["revisions"];
  CHECK(scrubbed.size() == Repository(d.job_dir(job)).revisions().size());
  for (const auto& r : scrubbed) CHECK(r["trust"] == "verified");
}

}  // namespace backy::test
