// adopt: upstream backy's revisions in a job's directory taken over in place (repo/adopt.h).
//
// Runs on the worker pool under the job's lock, as scrub does: it reads every image it adopts.
// Each outcome is a log line and a progress event; the answer lists every upstream revision,
// adopted or left alone with the reason.
//
// Test hook: BACKYD_TEST_ADOPT_EXIT_BEFORE=N ends the daemon (_Exit, as a crash would) just
// before it commits the (N+1)th revision of a call, so a test can check what a crash leaves.
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <optional>

#include "backup/job_backup.h"
#include "commands.h"
#include "logging.h"
#include "repo/adopt.h"
#include "repo/repository.h"
#include "util/text.h"

namespace backy {

using protocol::Json;

namespace {

std::optional<size_t> exit_before_hook() {
  const char* v = std::getenv("BACKYD_TEST_ADOPT_EXIT_BEFORE");
  if (!v || !*v) return std::nullopt;
  char* end = nullptr;
  const unsigned long n = std::strtoul(v, &end, 10);
  if (*end) return std::nullopt;
  return n;
}

}  // namespace

void CommandHandler::adopt(const Json& args, Out out) {
  const std::string job = args["job"];
  job_work(
      job,
      [dir = job_dir(scheduler_.config(), job), job, jlog = job_logger(log_, job),
       who = requester_](std::stop_token stop, std::function<void(Json)> progress) {
        Repository repo(dir);
        auto lock = repo.lock();
        jlog->info("adopt: taking over upstream backy's revisions in {} (for {})", dir.string(),
                   who);
        AdoptHooks hooks;
        hooks.each = [&](const AdoptOutcome& o, size_t done, size_t total) {
          if (o.adopted)
            jlog->info("adopt: revision {} adopted ({} of {})", o.uuid, done, total);
          else
            jlog->warn("adopt: revision {} left alone: {} ({} of {})", o.uuid, o.why, done, total);
          progress({{"uuid", o.uuid}, {"done", done - 1}, {"total", total}});
        };
        if (const auto n = exit_before_hook())
          hooks.before_commit = [n = *n, jlog](size_t index) {
            if (index != n) return;
            jlog->warn("adopt: BACKYD_TEST_ADOPT_EXIT_BEFORE={}: exiting as a crash would", n);
            jlog->flush();
            std::_Exit(70);
          };
        const AdoptReport report = adopt_upstream(repo, lock, stop, hooks);
        Json revisions = Json::array();
        size_t adopted = 0;
        for (const auto& o : report.revisions) {
          Json entry{{"uuid", o.uuid}, {"adopted", o.adopted}};
          if (!o.adopted) entry["why"] = o.why;
          adopted += o.adopted ? 1 : 0;
          revisions.push_back(std::move(entry));
        }
        for (const auto& p : report.unreadable) jlog->warn("adopt: unreadable: {}", p);
        jlog->info("adopt: {} adopted, {} left alone, {} unreadable", count(adopted, "revision"),
                   report.revisions.size() - adopted, report.unreadable.size());
        return Json{{"job", job},
                    {"revisions", revisions},
                    {"unreadable", report.unreadable},
                    {"warnings", report.warnings}};
      },
      out);
}

}  // namespace backy
