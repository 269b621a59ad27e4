#include "once.h"

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <iostream>
#include <thread>

#include "backup/job_backup.h"
#include "backup/source_cleaner.h"
#include "ceph/source_factory.h"
#include "logging.h"
#include "schedule/schedule.h"
#include "util/error.h"
#include "util/rate_limit.h"
#include "util/time.h"

namespace backy {

int run_once(const Config& config, const std::vector<std::string>& jobs,
             const std::optional<std::set<std::string>>& forced_tags, spdlog::logger& log) {
  for (const auto& name : jobs)
    if (!config.jobs.contains(name)) {
      log.error("no job named '{}' in {}", name, config.file.string());
      return 1;
    }

  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  int failures = 0;
  // Each job's clean-up of its source after the commit (the previous RBD snapshot's removal)
  // runs here, overlapping expiry and the next job; the process waits for them before it exits,
  // so a --once run leaves no snapshot behind but its own.
  SourceCleaner cleaner(log);
  std::jthread worker([&](std::stop_token stop) {
    std::unique_ptr<SourceFactory> sources = make_source_factory(config.ceph);
    for (const auto& name : jobs) {
      const JobConfig& job = config.jobs.at(name);
      auto jlog = job_logger(log, name);
      try {
        // As upstream backy's `backup`: forced tags, or exactly the tags due now; nothing due
        // means nothing to do (after removing what interrupted runs left behind).
        std::set<std::string> tags;
        if (forced_tags) {
          if (auto bad = check_forced_tags(config.schedules.at(job.schedule), *forced_tags))
            throw Error(*bad);
          tags = *forced_tags;
        } else {
          tags = tags_due_now(config, job, Clock::now());
        }
        if (tags.empty()) {
          const Repository::Repair repaired = repair_job(config, job);
          for (const auto& name : repaired.removed)
            jlog->info("removed leftover of an interrupted run: {}", name);
          for (const auto& w : repaired.warnings) jlog->warn("{}", w);
          // Said on stderr, not only in the log: the operator asked for a run and gets none.
          const DueRun next = next_job_run(config, job, Clock::now());
          std::cerr << "backyd: nothing due for " << name << " (next: "
                    << (next.tags.empty()
                            ? std::string("never, the schedule is empty")
                            : join_tags(next.tags) + " at " + format_iso8601(next.time))
                    << "); use --tags to run anyway\n";
          continue;
        }
        // One job at a time: the global read-limit and the job's own both apply to it.
        RateLimiter global_limit(config.global.read_limit), job_limit(job.read_limit);
        ReadThrottle throttle({&job_limit, &global_limit});
        backup_job(config, job, *sources, tags, *jlog, stop, {}, {}, &throttle, &cleaner);
      } catch (const Cancelled&) {
        jlog->warn("backup cancelled; the partial revision was removed");
        ++failures;
        break;
      } catch (const std::exception& e) {
        jlog->error("backup failed: {}", e.what());
        ++failures;
      }
    }
    cleaner.drain();
    // Wakes the main thread: the signal wait is the only work keeping io.run() going.
    boost::asio::post(io, [&] { signals.cancel(); });
  });
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log.warn("signal {} received, stopping the running backup", signo);
    worker.request_stop();
  });
  io.run();
  worker.join();
  return failures == 0 ? 0 : 1;
}

}  // namespace backy
