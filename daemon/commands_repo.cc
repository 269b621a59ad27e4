// The commands that read or change a job's revision files: restore, scrub, forget, tags.
//
// Each runs on the worker pool through JobScheduler::post_job_work and takes the job directory's
// lock there, so it never races a backup or expiry of the same job. Restore to a file, a device
// or stdout is the exception: the daemon resolves the revision and opens its image on a reader
// thread, without the lock, and hands the fd to backyctl, which writes the target with its
// user's rights (docs/protocol.md, "restore"). Only a restore into a new RBD image runs here.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "backup/job_backup.h"
#include "commands.h"
#include "control_views.h"
#include "exports.h"
#include "logging.h"
#include "mount/mount_registry.h"
#include "repo/repository.h"
#include "repo/revision_scrub.h"
#include "restore/restore.h"
#include "restore/target_name.h"
#include "schedule/schedule.h"
#include "source/source_factory.h"
#include "store/block_sums.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/text.h"
#include "util/time.h"
#include "util/uuid.h"

namespace backy {

using protocol::ErrorCode;
using protocol::Json;

namespace {

// A refusal with its own error code, thrown inside job work (the plain backy::Error that escapes
// the library becomes `failed`).
struct Refusal {
  protocol::Error error;
};

std::vector<Revision> select_or_refuse(const Repository& repo, const std::string& spec) {
  try {
    return repo.select(spec);
  } catch (const Error& e) {
    throw Refusal{{ErrorCode::not_found, e.what()}};
  }
}

Revision find_or_refuse(const Repository& repo, const std::string& spec) {
  auto revs = select_or_refuse(repo, spec);
  if (revs.size() != 1)
    throw Refusal{{ErrorCode::bad_request, "\"" + spec + "\" matches " +
                                               std::to_string(revs.size()) +
                                               " revisions; name exactly one"}};
  return revs.front();
}

// Calls `report` at most about once a second, and for the last byte.
class ProgressThrottle {
 public:
  explicit ProgressThrottle(std::function<void(Json)> report) : report_(std::move(report)) {
    meter_.start();
  }
  void operator()(uint64_t done, uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    if (done < total && now - last_ < std::chrono::seconds(1)) return;
    last_ = now;
    meter_.set(done, total);
    report_({{"done", done}, {"total", total}, {"elapsed", meter_.sample().elapsed}});
  }

 private:
  std::function<void(Json)> report_;
  ProgressMeter meter_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace

void CommandHandler::job_work(const std::string& job,
                              std::function<Json(std::stop_token, std::function<void(Json)>)> work,
                              Out out) {
  if (!scheduler_.status(job))
    return out->error({ErrorCode::not_found, "no job named \"" + job + "\""});
  auto result = std::make_shared<Json>();
  auto failure = std::make_shared<std::optional<protocol::Error>>();
  auto progress = [loop = executors_.loop, out](Json p) {
    loop([out, p = std::move(p)] { out->progress(p); });
  };
  scheduler_.post_job_work(
      job,
      [result, failure, work = std::move(work), progress](std::stop_token stop) {
        try {
          *result = work(stop, progress);
        } catch (const Refusal& r) {
          *failure = r.error;
        } catch (const Cancelled&) {
          *failure = protocol::Error{ErrorCode::shutting_down,
                                     "cancelled: the daemon is stopping, or the client left"};
        } catch (const std::exception& e) {
          *failure = protocol::Error{ErrorCode::failed, e.what()};
        }
      },
      [result, failure, out](std::optional<std::string> err) {
        if (*failure) return out->error(**failure);
        if (err) return out->error({ErrorCode::failed, *err});
        out->result(*result);
      });
}

namespace {

// Whether `path` is `dir` or below it, comparing normalised path components. backyctl makes the
// real check (by inode, in its own mount namespace); this catches the plain mistake early.
bool lexically_inside(const std::filesystem::path& path, const std::filesystem::path& dir) {
  const auto p = path.lexically_normal(), d = (dir / "").lexically_normal();
  auto pi = p.begin();
  for (auto di = d.begin(); di != d.end(); ++di, ++pi) {
    if (di->empty()) continue;  // the trailing "" of "dir/"
    if (pi == p.end() || *pi != *di) return false;
  }
  return true;
}

}  // namespace

void CommandHandler::restore(const Json& args, Out out) {
  const std::string job = args["job"], spec = args["rev"], target = args["target"];
  if (!scheduler_.status(job))
    return out->error({ErrorCode::not_found, "no job named \"" + job + "\""});
  std::optional<RbdImageName> rbd;
  try {
    rbd = parse_rbd_target(target);
  } catch (const Error& e) {
    return out->error({ErrorCode::bad_request, e.what()});
  }
  if (rbd) return restore_to_rbd(job, spec, target, *rbd, out);

  // A file, a device or stdout: the client writes it, with its own rights, from the image handed
  // over as a read-only fd. The daemon never opens a path a client named.
  if (!args.value("fd", false))
    return out->error(
        {ErrorCode::bad_request,
         "restore to a file, a device or stdout is written by the client: the request must say "
         "\"fd\": true and receive the revision's image as a file descriptor (see "
         "docs/protocol.md); only rbd:POOL/IMAGE targets are written by the daemon"});
  if (target != "-" && target.front() != '/')
    return out->error({ErrorCode::bad_request,
                       "restore target must be an absolute path, \"-\" or rbd:POOL/IMAGE"});
  const std::filesystem::path base = scheduler_.config().global.base_dir;
  if (target != "-" && lexically_inside(target, base))
    return out->error({ErrorCode::bad_request, "restore target " + target + " is inside base-dir " +
                                                   base.string() +
                                                   ": restore never writes into the repository"});
  // Resolving the spec and opening the image read the job directory only: a reader thread, no
  // job lock. Once open, the image is immutable and outlives a forget or expiry of its revision.
  executors_.read([dir = job_dir(scheduler_.config(), job), spec, target, base, out,
                   loop = executors_.loop, jlog = job_logger(log_, job), who = requester_] {
    Json result;
    auto image = std::make_shared<UniqueFd>();
    std::optional<protocol::Error> err;
    try {
      const Repository repo(dir);
      Revision r = find_or_refuse(repo, spec);
      *image = repo.open_image(r.uuid);  // never through a link; a regular file
      result = {{"uuid", r.uuid}, {"size", r.size}, {"target", target}, {"base_dir", base}};
      // The client writes the target: what the daemon knows is whom it gave what.
      jlog->info("restore: revision {} ({}) handed to {} to write {}", r.uuid, human_bytes(r.size),
                 who, target);
    } catch (const Refusal& r) {
      err = r.error;
    } catch (const std::exception& e) {
      err = protocol::Error{ErrorCode::failed, e.what()};
    }
    loop([out, result, image, err] {
      if (err) return out->error(*err);
      out->result_with_fd(result, std::move(*image));
    });
  });
}

void CommandHandler::restore_to_rbd(const std::string& job, const std::string& spec,
                                    const std::string& target, const RbdImageName& name, Out out) {
  const Config& config = scheduler_.config();
  auto jc = config.jobs.find(job);
  const auto pools =
      jc == config.jobs.end() ? std::vector<std::string>{} : restore_pools(config, jc->second);
  if (std::find(pools.begin(), pools.end(), name.pool) == pools.end()) {
    std::string allowed;
    for (const auto& p : pools) allowed += (allowed.empty() ? "" : ", ") + p;
    return out->error(
        {ErrorCode::permission_denied,
         "restore of job " + job + " into pool \"" + name.pool + "\" is not allowed: " +
             (allowed.empty() ? "no pool is"
                              : "only " + allowed + (pools.size() == 1 ? " is" : " are")) +
             " (setting restore-pools, in the job or in global)"});
  }
  std::shared_ptr<SourceFactory> targets = scheduler_.restore_targets();
  if (!targets) targets = std::make_shared<FileSourceFactory>();
  // Stops the copy when the client goes away (^C, killed) as well as when the daemon stops: the
  // half-written image is then removed (RbdTarget), never left looking like a restore.
  auto cancel = std::make_shared<std::stop_source>();
  out->on_hangup([cancel] { cancel->request_stop(); });
  job_work(
      job,
      [dir = job_dir(config, job), spec, target, name, targets, cancel,
       jlog = job_logger(log_, job),
       who = requester_](std::stop_token stop, std::function<void(Json)> progress) {
        const auto started = std::chrono::steady_clock::now();
        std::stop_callback forward(stop, [cancel] { cancel->request_stop(); });
        Repository repo(dir);
        auto lock = repo.lock();
        Revision r = find_or_refuse(repo, spec);
        if (cancel->stop_requested()) throw Cancelled();
        auto out_target = targets->open_restore_target(name, r.size);
        ProgressThrottle throttle([&](Json p) {
          p["uuid"] = r.uuid;
          progress(std::move(p));
        });
        // restore_image finishes the target (flush) itself.
        restore_image(repo.image_path(r.uuid), r.size, *out_target, std::ref(throttle),
                      cancel->get_token());
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
        jlog->info("restore: revision {} ({}) written to {} in {}, for {}", r.uuid,
                   human_bytes(r.size), target, human_duration(took.count()), who);
        return Json{{"uuid", r.uuid}, {"target", target}, {"size", r.size}};
      },
      out);
}

void CommandHandler::path(const Json& args, Out out) {
  const std::string job = args["job"], spec = args["rev"];
  if (!scheduler_.status(job))
    return out->error({ErrorCode::not_found, "no job named \"" + job + "\""});
  // Reads the job directory only: a reader thread, no job lock (as restore's lookup).
  executors_.read([dir = job_dir(scheduler_.config(), job), spec, out, loop = executors_.loop] {
    Json result;
    std::optional<protocol::Error> err;
    try {
      const Revision r = find_or_refuse(Repository(dir), spec);
      result = {{"uuid", r.uuid}, {"path", (dir / r.uuid).string()}, {"size", r.size}};
    } catch (const Refusal& r) {
      err = r.error;
    } catch (const std::exception& e) {
      err = protocol::Error{ErrorCode::failed, e.what()};
    }
    loop([out, result, err] {
      if (err) return out->error(*err);
      out->result(result);
    });
  });
}

void CommandHandler::scrub(const Json& args, Out out) {
  const std::string job = args["job"], spec = args.value("rev", "all");
  job_work(
      job,
      [dir = job_dir(scheduler_.config(), job), spec, jlog = job_logger(log_, job),
       who = requester_](std::stop_token stop, std::function<void(Json)> progress) {
        Repository repo(dir);
        auto lock = repo.lock();
        auto revs = select_or_refuse(repo, spec);
        Json results = Json::array();
        size_t i = 0;
        for (const auto& r : revs) {
          progress({{"uuid", r.uuid}, {"done", i}, {"total", revs.size()}});
          Json entry{{"uuid", r.uuid}};
          try {
            ScrubReport report = scrub_revision(repo, lock, r.uuid, stop);
            Json bad = Json::array();
            for (const auto& b : report.bad_blocks) bad.push_back(b.block);
            entry["trust"] = to_string(report.revision.trust);
            entry["bad_blocks"] = bad;
            const uint64_t blocks = (r.size + kBlockSize - 1) / kBlockSize;
            auto level = report.bad_blocks.empty() ? spdlog::level::info : spdlog::level::err;
            jlog->log(level, "scrub: revision {} {}: {} checked, {}{} (for {})", r.uuid,
                      to_string(report.revision.trust), count(blocks, "block"),
                      count(report.bad_blocks.size(), "bad block"),
                      report.bad_blocks.empty() ? "" : " (" + bad.dump() + ")", who);
          } catch (const Cancelled&) {
            throw;
          } catch (const Error& e) {
            entry["trust"] = "distrusted";
            entry["error"] = e.what();
            jlog->error("scrub: revision {} distrusted: {} (for {})", r.uuid, e.what(), who);
          }
          results.push_back(entry);
          ++i;
        }
        return Json{{"revisions", results}};
      },
      out);
}

void CommandHandler::forget(const Json& args, Out out) {
  const std::string job = args["job"], spec = args["rev"];
  const bool force = args.value("force", false), dry_run = args.value("dry_run", false);
  job_work(
      job,
      [dir = job_dir(scheduler_.config(), job), base = scheduler_.config().global.base_dir, spec,
       force, dry_run, jlog = job_logger(log_, job), job, who = requester_,
       exports = exports_](std::stop_token, std::function<void(Json)>) {
        Repository repo(dir);
        auto lock = repo.lock();
        const std::vector<Revision> all = repo.revisions();
        const std::vector<Revision> doomed = select_or_refuse(repo, spec);
        // An export's hold is taken under this lock too (commands_export.cc).
        // One copy of the holds, taken once under the exports' mutex.
        const std::set<std::string> exported =
            exports ? exports->holds(job) : std::set<std::string>{};
        for (const Revision& r : doomed)
          if (exported.contains(r.uuid))
            throw Refusal{
                {ErrorCode::conflict, "revision " + r.uuid + " is exported over NBD; " +
                                          "stop the export first (backyctl export --stop " + job +
                                          " " + r.uuid + ")"}};
        // A mount's record is written under this lock: it cannot appear between check and remove.
        for (const auto& m : MountRegistry(base).list())
          for (const Revision& r : doomed)
            if (m.job == job && m.uuid == r.uuid)
              throw Refusal{{ErrorCode::conflict, "revision " + r.uuid + " is mounted at " + m.dir +
                                                      "; unmount it first (backyctl umount " +
                                                      m.dir + ")"}};
        // A slip of the finger must not cost the newest backup or a whole history.
        const bool newest = doomed.back().uuid == all.back().uuid;
        if (!dry_run && !force && (newest || doomed.size() > 1))
          throw Refusal{{ErrorCode::bad_request,
                         "'" + spec + "' names " +
                             (doomed.size() > 1 ? count(doomed.size(), "revision")
                                                : std::string("the newest revision")) +
                             " of " + job + " (" + short_uuid(doomed.back().uuid) +
                             "); give --force to delete " + (doomed.size() > 1 ? "them" : "it") +
                             ", or --dry-run to list them"}};
        Json gone = Json::array();
        for (const Revision& r : doomed) {
          if (!dry_run) {
            repo.remove(lock, r.uuid);
            jlog->info("forget: revision {} of {} ({}) deleted, for {}", r.uuid,
                       format_iso8601(r.timestamp), join_tags(r.tags), who);
          }
          gone.push_back(revision_json(r));
        }
        return Json{{"forgotten", gone}, {"dry_run", dry_run}};
      },
      out);
}

void CommandHandler::tags(const Json& args, Out out) {
  const std::string job = args["job"], spec = args["rev"];
  std::vector<std::string> add, remove;
  for (const auto& t : args.value("add", Json::array())) add.push_back(t);
  for (const auto& t : args.value("remove", Json::array())) remove.push_back(t);
  // A tag expiry does not know would keep a revision forever or never: the tags a run may take.
  if (!add.empty()) {
    const Config& config = scheduler_.config();
    const auto job_it = config.jobs.find(job);
    if (job_it != config.jobs.end())
      if (auto bad = check_forced_tags(config.schedules.at(job_it->second.schedule),
                                       std::set<std::string>(add.begin(), add.end())))
        return out->error({ErrorCode::bad_request, "tags --add: " + *bad});
  }
  job_work(
      job,
      [dir = job_dir(scheduler_.config(), job), spec, add, remove, jlog = job_logger(log_, job),
       who = requester_](std::stop_token, std::function<void(Json)>) {
        Repository repo(dir);
        auto lock = repo.lock();
        Json results = Json::array();
        for (Revision r : select_or_refuse(repo, spec)) {
          for (const auto& t : remove) r.tags.erase(t);
          for (const auto& t : add) r.tags.insert(t);
          repo.update(lock, r);
          jlog->info("tags: revision {} now {} (for {})", r.uuid,
                     r.tags.empty() ? "untagged: expiry deletes it" : join_tags(r.tags), who);
          results.push_back(revision_json(r));
        }
        return Json{{"revisions", results}};
      },
      out);
}

}  // namespace backy
