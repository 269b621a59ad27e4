// The commands that read or change a job's revision files: restore, scrub, forget, tags.
//
// Each runs on the worker pool through JobScheduler::post_job_work and takes the job directory's
// lock there, so it never races a backup or expiry of the same job. `restore JOB REV -` is the
// exception: backyctl streams the image itself (see docs/protocol.md, "restore to stdout"), so
// the daemon only resolves the revision, on a reader thread, without the lock.
#include <spdlog/spdlog.h>

#include <chrono>

#include "backup/job_backup.h"
#include "commands.h"
#include "control_views.h"
#include "repo/repository.h"
#include "repo/revision_scrub.h"
#include "restore/restore.h"
#include "source/source_factory.h"
#include "util/error.h"

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
  explicit ProgressThrottle(std::function<void(Json)> report) : report_(std::move(report)) {}
  void operator()(uint64_t done, uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    if (done < total && now - last_ < std::chrono::seconds(1)) return;
    last_ = now;
    report_({{"done", done}, {"total", total}});
  }

 private:
  std::function<void(Json)> report_;
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
          *failure = protocol::Error{ErrorCode::shutting_down, "cancelled: the daemon is stopping"};
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

void CommandHandler::restore(const Json& args, Out out) {
  const std::string job = args["job"], spec = args["rev"], target = args["target"];
  const bool force = args.value("force", false);
  if (!scheduler_.status(job))
    return out->error({ErrorCode::not_found, "no job named \"" + job + "\""});
  const auto dir = job_dir(scheduler_.config(), job);
  if (target == "-") {
    executors_.read([dir, spec, out, loop = executors_.loop] {
      Json result;
      std::optional<protocol::Error> err;
      try {
        Revision r = find_or_refuse(Repository(dir), spec);
        result = {{"uuid", r.uuid},
                  {"image", Repository(dir).image_path(r.uuid).string()},
                  {"size", r.size},
                  {"stream", true}};
      } catch (const Refusal& r) {
        err = r.error;
      } catch (const std::exception& e) {
        err = protocol::Error{ErrorCode::failed, e.what()};
      }
      loop([out, result, err] { err ? out->error(*err) : out->result(result); });
    });
    return;
  }
  if (target.rfind("rbd:", 0) != 0 && target.front() != '/')
    return out->error({ErrorCode::bad_request,
                       "restore target must be an absolute path, \"-\" or rbd:POOL/IMAGE"});
  std::shared_ptr<SourceFactory> targets = scheduler_.restore_targets();
  if (!targets) targets = std::make_shared<FileSourceFactory>();
  job_work(
      job,
      [dir, spec, target, force, targets](std::stop_token stop,
                                          std::function<void(Json)> progress) {
        Repository repo(dir);
        auto lock = repo.lock();
        Revision r = find_or_refuse(repo, spec);
        std::error_code ec;
        if (!force && target.rfind("rbd:", 0) != 0 && std::filesystem::exists(target, ec) &&
            std::filesystem::is_regular_file(target, ec))
          throw Refusal{{ErrorCode::conflict, target + " exists; use --force to overwrite it"}};
        // rbd:POOL/IMAGE through the daemon's cluster connection; files and devices directly.
        auto out_target = targets->open_restore_target(target, r.size, force);
        ProgressThrottle throttle([&](Json p) {
          p["uuid"] = r.uuid;
          progress(std::move(p));
        });
        // restore_image finishes the target (flush, fsync) itself.
        restore_image(repo.image_path(r.uuid), r.size, *out_target, std::ref(throttle), stop);
        return Json{{"uuid", r.uuid}, {"target", target}, {"size", r.size}};
      },
      out);
}

void CommandHandler::scrub(const Json& args, Out out) {
  const std::string job = args["job"], spec = args.value("rev", "all");
  job_work(
      job,
      [dir = job_dir(scheduler_.config(), job), spec](std::stop_token stop,
                                                      std::function<void(Json)> progress) {
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
          } catch (const Cancelled&) {
            throw;
          } catch (const Error& e) {
            entry["trust"] = "distrusted";
            entry["error"] = e.what();
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
  job_work(
      job,
      [dir = job_dir(scheduler_.config(), job), spec, &log = log_, job](std::stop_token,
                                                                        std::function<void(Json)>) {
        Repository repo(dir);
        auto lock = repo.lock();
        Revision r = find_or_refuse(repo, spec);
        repo.remove(lock, r.uuid);
        log.info("control: forgot revision {} of {}", r.uuid, job);
        return Json{{"forgotten", r.uuid}};
      },
      out);
}

void CommandHandler::tags(const Json& args, Out out) {
  const std::string job = args["job"], spec = args["rev"];
  std::vector<std::string> add, remove;
  for (const auto& t : args.value("add", Json::array())) add.push_back(t);
  for (const auto& t : args.value("remove", Json::array())) remove.push_back(t);
  job_work(
      job,
      [dir = job_dir(scheduler_.config(), job), spec, add, remove](std::stop_token,
                                                                   std::function<void(Json)>) {
        Repository repo(dir);
        auto lock = repo.lock();
        Json results = Json::array();
        for (Revision r : select_or_refuse(repo, spec)) {
          for (const auto& t : remove) r.tags.erase(t);
          for (const auto& t : add) r.tags.insert(t);
          repo.update(lock, r);
          results.push_back(revision_json(r));
        }
        return Json{{"revisions", results}};
      },
      out);
}

}  // namespace backy
