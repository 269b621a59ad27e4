// Read limits on the real cluster: an RBD run reads at its read-limit (the throttle sits before
// each aio read is issued, reads-in-flight stays as configured), incrementals included, and a
// stop request ends a run waiting in the throttle at once, leaving no snapshot behind.
#include <catch2/catch.hpp>
#include <chrono>
#include <iostream>
#include <thread>

#include "backup/job_backup.h"
#include "ceph/rbd_support.h"
#include "support/test_env.h"
#include "util/error.h"
#include "util/rate_limit.h"

namespace backy::test {

namespace {

constexpr uint64_t MiB = 1024 * 1024;

}  // namespace

TEST_CASE("rbd: a job's read-limit holds the rate of an RBD run") {
  RbdJob vm(96 * MiB, "limit");
  vm.img.write(0, 96 * MiB, 5);
  const uint64_t rate = 16 * MiB;
  RateLimiter job_limit(rate), global(0);
  ReadThrottle throttle({&job_limit, &global});
  // No verification sample: its re-read of the snapshot goes through the throttle too (8 blocks
  // at least, 2 s at this rate), and this measures the backup's own reads.
  vm.config.jobs.at("vm").verify.fraction = 0;
  vm.config.jobs.at("vm").verify.min_blocks = 0;
  const JobConfig& job = vm.config.jobs.at("vm");
  const auto t0 = std::chrono::steady_clock::now();
  BackupResult full =
      backup_job(vm.config, job, *vm.factory, {"daily"}, *vm.log, {}, {}, {}, &throttle);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double expected = double(full.revision.stats.bytes_read) / double(rate);
  std::cout << "rbd read-limit 16 MiB/s: " << full.revision.stats.bytes_read / MiB
            << " MiB read, run " << full.revision.stats.duration << " s (backup_job " << took
            << " s), expected " << expected << " s, throttled " << throttle.throttled_seconds()
            << " s\n";
  CHECK(full.revision.stats.bytes_read == 96 * MiB);
  CHECK(full.revision.stats.duration == Approx(expected).epsilon(0.15));
  CHECK(throttle.throttled_seconds() > 0.5 * expected);

  // An incremental reads only the changed pages, under the limit all the same: 32 MiB of
  // changes at 16 MiB/s take about 2 s more than nothing would.
  vm.img.write(8 * MiB, 32 * MiB, 6);
  ReadThrottle again({&job_limit});
  BackupResult incr =
      backup_job(vm.config, job, *vm.factory, {"daily"}, *vm.log, {}, {}, {}, &again);
  CHECK(incr.revision.parent == full.revision.uuid);
  const double expected_incr = double(incr.revision.stats.bytes_read) / double(rate);
  std::cout << "rbd incremental: " << incr.revision.stats.bytes_read / MiB << " MiB read in "
            << incr.revision.stats.duration << " s, expected " << expected_incr << " s\n";
  CHECK(incr.revision.stats.bytes_read >= 32 * MiB);
  // Never faster than the limit allows. A run also has costs its reads do not (the snapshot's
  // creation and removal, the diff, the commit: about 0.5 s here, 25-35 % of so short a run), so
  // the upper bound allows for them; the full run above is the check of the rate's accuracy.
  CHECK(incr.revision.stats.duration >= 0.85 * expected_incr);
  CHECK(incr.revision.stats.duration <= 1.15 * expected_incr + 1.5);
}

TEST_CASE("rbd: a stop request ends a run waiting for its read-limit, and its snapshot goes") {
  RbdJob vm(32 * MiB, "limitstop");
  vm.img.write(0, 32 * MiB, 7);
  RateLimiter slow(64 * 1024);  // a 4 MiB block a minute
  ReadThrottle throttle({&slow});
  std::stop_source stop;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    stop.request_stop();
  });
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(backup_job(vm.config, vm.config.jobs.at("vm"), *vm.factory, {"daily"}, *vm.log,
                             stop.get_token(), {}, {}, &throttle),
                  Cancelled);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(took < 10);
  CHECK(throttle.throttled_seconds() > 1);
  CHECK(vm.img.backy_snapshots().empty());
}

}  // namespace backy::test
