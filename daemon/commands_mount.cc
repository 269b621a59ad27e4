// The commands that make a revision usable where it lies: clone (a writable copy, written by
// backyctl from the image the daemon passes), mount, umount and mounts (docs/restore.md).
//
// The daemon mounts nothing: under the shipped unit its mount namespace is private, so a mount
// made here would never reach the admin. mount makes the reflink clone and its record (the hold
// that keeps expiry and forget off the revision) on the worker pool under the job's lock, and
// answers with the clone's fd, the partition's offset and length and the filesystem type;
// backyctl attaches a loop device to that fd and mounts it in its own namespace, then confirms
// on the same connection (Responder::await_follow_up). If the confirmation does not come (the
// client failed, was killed, or went silent), the record and the clone are removed: no hold is
// left behind. umount and mounts only touch .mounts/: they run on a reader thread. backyctl
// unmounts before it sends umount, which releases the record.
#include <spdlog/spdlog.h>

#include "backup/job_backup.h"
#include "commands.h"
#include "mount/mount_clone.h"
#include "repo/repository.h"
#include "util/error.h"

namespace backy {

using protocol::ErrorCode;
using protocol::Json;

namespace {

Json record_json(const MountRecord& r) {
  return Json{{"id", r.id},
              {"job", r.job},
              {"uuid", r.uuid},
              {"dir", r.dir},
              {"partition", r.partition},
              {"fstype", r.fstype},
              {"loop", r.loop},
              {"state", r.state},
              {"since", r.since}};
}

// Runs `work` on a reader thread and answers on the loop with its result or its error.
void on_reader(const Executors& ex, std::shared_ptr<Responder> out, std::function<Json()> work) {
  ex.read([work = std::move(work), out, loop = ex.loop] {
    Json result;
    std::optional<protocol::Error> err;
    try {
      result = work();
    } catch (const protocol::Error& e) {
      err = e;
    } catch (const std::exception& e) {
      err = protocol::Error{ErrorCode::failed, e.what()};
    }
    loop([out, result, err] {
      if (err) return out->error(*err);
      out->result(result);  // after a hang-up it goes nowhere
    });
  });
}

}  // namespace

void CommandHandler::clone(const Json& args, Out out) {
  const std::string job = args["job"], spec = args["rev"];
  if (!scheduler_.status(job))
    return out->error({ErrorCode::not_found, "no job named \"" + job + "\""});
  if (!args.value("fd", false))
    return out->error({ErrorCode::bad_request,
                       "clone is written by the client: the request must say \"fd\": true"});
  // backyctl checks FILE against base-dir by inode; this only refuses the plain mistake.
  const std::string target = args["target"];
  const std::filesystem::path base = scheduler_.config().global.base_dir;
  if (target.front() != '/' ||
      std::filesystem::path(target).lexically_relative(base).string().rfind("..", 0) != 0)
    return out->error({ErrorCode::bad_request,
                       "clone target must be an absolute path outside base-dir " + base.string()});
  // As restore: the revision is resolved and opened on a reader thread, without the job lock;
  // once open, the image outlives a forget or expiry of its revision.
  executors_.read([dir = job_dir(scheduler_.config(), job),
                   base = scheduler_.config().global.base_dir, spec, out, loop = executors_.loop] {
    Json result;
    auto image = std::make_shared<UniqueFd>();
    std::optional<protocol::Error> err;
    try {
      const Repository repo(dir);
      std::vector<Revision> revs;
      try {
        revs = repo.select(spec);
      } catch (const Error& e) {
        throw protocol::Error{ErrorCode::not_found, e.what()};
      }
      if (revs.size() != 1)
        throw protocol::Error{ErrorCode::bad_request, "\"" + spec + "\" matches " +
                                                          std::to_string(revs.size()) +
                                                          " revisions; name exactly one"};
      const Revision& r = revs.front();
      *image = repo.open_image(r.uuid);
      // The image's path is for a qcow2 overlay's backing file (backyctl clone --qcow2).
      result = {{"uuid", r.uuid},
                {"size", r.size},
                {"image", repo.image_path(r.uuid).string()},
                {"base_dir", base}};
    } catch (const protocol::Error& e) {
      err = e;
    } catch (const std::exception& e) {
      err = protocol::Error{ErrorCode::failed, e.what()};
    }
    loop([out, result, image, err] {
      if (err) return out->error(*err);
      out->result_with_fd(result, std::move(*image));
    });
  });
}

void CommandHandler::mount(const Json& args, Out out) {
  const std::string job = args["job"], spec = args["rev"], dir = args["dir"];
  if (!scheduler_.status(job))
    return out->error({ErrorCode::not_found, "no job named \"" + job + "\""});
  const std::filesystem::path p(dir);
  if (dir.front() != '/' || p.lexically_normal() != p || (dir.size() > 1 && dir.back() == '/'))
    return out->error({ErrorCode::bad_request,
                       "mount directory \"" + dir + "\" must be an absolute, normalised path"});
  std::optional<int> partition;
  if (args.contains("partition")) partition = args["partition"].get<int>();
  auto prepared = std::make_shared<PreparedMount>();
  auto failure = std::make_shared<std::optional<protocol::Error>>();
  scheduler_.post_job_work(
      job,
      [base = scheduler_.config().global.base_dir, jdir = job_dir(scheduler_.config(), job), job,
       spec, dir, partition, run = run_id_, prepared, failure](std::stop_token) {
        try {
          const MountRegistry registry(base);
          if (auto other = registry.find_by_dir(dir))
            throw protocol::Error{ErrorCode::conflict, "revision " + other->uuid + " of " +
                                                           other->job + " is already mounted at " +
                                                           dir + " (record " + other->id + ")"};
          Repository repo(jdir);
          auto lock = repo.lock();
          Revision r;
          try {
            r = repo.find(spec);
          } catch (const Error& e) {
            throw protocol::Error{ErrorCode::not_found, e.what()};
          }
          UniqueFd image = repo.open_image(r.uuid);
          *prepared =
              prepare_mount(registry, {job, r.uuid, r.size, image.get(), partition, dir, run});
        } catch (const protocol::Error& e) {
          *failure = e;
        } catch (const std::exception& e) {
          *failure = protocol::Error{ErrorCode::failed, e.what()};
        }
      },
      [this, prepared, failure, base = scheduler_.config().global.base_dir,
       out](std::optional<std::string> err) {
        if (*failure) return out->error(**failure);
        if (err) return out->error({ErrorCode::failed, *err});
        const MountRecord rec = prepared->record;
        Json answer = record_json(rec);
        answer["offset"] = prepared->offset;
        answer["length"] = prepared->length;
        answer["base_dir"] = base;
        out->await_follow_up(
            [this, rec, out](std::optional<std::string> line) { mount_confirmed(rec, line, out); });
        out->result_with_fd(answer, std::move(prepared->clone));
      });
}

void CommandHandler::mount_confirmed(const MountRecord& record, std::optional<std::string> line,
                                     Out out) {
  io_thread_.check("CommandHandler::mount_confirmed");
  // The confirmation: {"mounted": true, "loop": "/dev/loopN"} (docs/protocol.md).
  std::string loop, refusal;
  if (line) {
    const Json j = Json::parse(*line, nullptr, false);
    if (j.is_object() && j.value("mounted", false) == true && j.contains("loop") &&
        j["loop"].is_string())
      loop = j["loop"];
    const bool loop_ok = loop.size() > 9 && loop.size() < 20 && loop.starts_with("/dev/loop") &&
                         loop.find_first_not_of("0123456789", 9) == std::string::npos;
    if (!loop_ok) refusal = "a mount confirmation is {\"mounted\": true, \"loop\": \"/dev/loopN\"}";
  }
  on_reader(executors_, out,
            [base = scheduler_.config().global.base_dir, record, line, loop, refusal,
             &log = log_]() -> Json {
              const MountRegistry registry(base);
              MountRecord r = record;
              if (line && refusal.empty()) {
                r.state = "mounted";
                r.loop = loop;
                try {
                  registry.save(r);
                  log.info("control: revision {} of {} mounted at {} (partition {}, {}, {})",
                           r.uuid, r.job, r.dir, r.partition, r.fstype, r.loop);
                  return record_json(r);
                } catch (const std::exception& e) {
                  registry.remove(r);
                  throw Error(std::string("cannot record the mount: ") + e.what());
                }
              }
              registry.remove(r);
              log.warn(
                  "control: mount of revision {} of {} at {} not confirmed ({}); removed "
                  "its record and clone",
                  r.uuid, r.job, r.dir, line ? "malformed confirmation" : "the client left");
              if (!line) return Json();  // nobody to answer
              throw protocol::Error{ErrorCode::bad_request, refusal};
            });
}

void CommandHandler::umount(const Json& args, Out out) {
  const std::string dir = args["dir"];
  on_reader(
      executors_, out,
      [base = scheduler_.config().global.base_dir, dir, run = run_id_, &log = log_]() -> Json {
        const MountRegistry registry(base);
        auto rec = registry.find_by_dir(dir);
        if (!rec)
          throw protocol::Error{ErrorCode::not_found,
                                "no mount record for " + dir + " (backyctl mounts lists them)"};
        if (rec->state == "pending" && rec->daemon_run == run)
          throw protocol::Error{ErrorCode::conflict,
                                dir + " is being mounted right now; release it once that is done"};
        registry.remove(*rec);
        log.info("control: released the mount record of revision {} of {} at {}", rec->uuid,
                 rec->job, dir);
        return record_json(*rec);
      });
}

void CommandHandler::mounts(const Json&, Out out) {
  on_reader(executors_, out, [base = scheduler_.config().global.base_dir, run = run_id_] {
    std::vector<std::string> problems;
    Json list = Json::array();
    for (const auto& r : MountRegistry(base).list(&problems)) {
      Json j = record_json(r);
      // Whether the mount is still there only the client can tell, in its own namespace.
      j["in_flight"] = r.state == "pending" && r.daemon_run == run;
      list.push_back(j);
    }
    return Json{{"mounts", list}, {"problems", problems}};
  });
}

}  // namespace backy
