// The commands that make a revision usable where it lies: clone (a writable copy, written by
// backyctl from the image the daemon passes), mount, umount and mounts (docs/restore.md).
//
// mount runs on the worker pool under the job's lock, so its record (the hold that keeps expiry
// and forget off the revision) is written before any expiry of that job can look. umount and
// mounts touch no job directory: they run on a reader thread (an unmount takes milliseconds).
// The directory of mount/umount is the one path a client names that the daemon acts on; both
// commands are root's only, and the path is checked and reached without following links
// (mount/revision_mount.h: open_mount_point).
#include <spdlog/spdlog.h>

#include "backup/job_backup.h"
#include "commands.h"
#include "mount/mount_table.h"
#include "mount/revision_mount.h"
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
    } catch (const std::exception& e) {
      err = protocol::Error{ErrorCode::failed, e.what()};
    }
    loop([out, result, err] {
      if (err) return out->error(*err);
      out->result(result);
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
  std::optional<int> partition;
  if (args.contains("partition")) partition = args["partition"].get<int>();
  job_work(
      job,
      [base = scheduler_.config().global.base_dir, jdir = job_dir(scheduler_.config(), job), job,
       spec, dir, partition, &log = log_](std::stop_token, std::function<void(Json)>) {
        const MountRegistry registry(base);
        if (auto other = registry.find_by_dir(dir))
          throw Error("revision " + other->uuid + " of " + other->job + " is already mounted at " +
                      dir);
        UniqueFd target = open_mount_point(dir, base);
        Repository repo(jdir);
        auto lock = repo.lock();
        const Revision r = repo.find(spec);
        UniqueFd image = repo.open_image(r.uuid);
        MountOrder order{job, r.uuid, r.size, image.get(), partition, target.get(), dir};
        const MountRecord rec = mount_revision(registry, order);
        log.info("control: mounted revision {} of {} (partition {}, {}) at {}", r.uuid, job,
                 rec.partition, rec.fstype, dir);
        return record_json(rec);
      },
      out);
}

void CommandHandler::umount(const Json& args, Out out) {
  const std::string dir = args["dir"];
  on_reader(executors_, out, [base = scheduler_.config().global.base_dir, dir, &log = log_] {
    const MountRegistry registry(base);
    auto rec = registry.find_by_dir(dir);
    if (!rec)
      throw Error("backyd has mounted nothing at " + dir + " (backyctl mounts lists what it has)");
    unmount_revision(registry, *rec);
    log.info("control: unmounted revision {} of {} from {}", rec->uuid, rec->job, dir);
    return record_json(*rec);
  });
}

void CommandHandler::mounts(const Json&, Out out) {
  on_reader(executors_, out, [base = scheduler_.config().global.base_dir] {
    std::vector<std::string> problems;
    Json list = Json::array();
    for (const auto& r : MountRegistry(base).list(&problems)) {
      Json j = record_json(r);
      // A record whose mount went away (a manual umount) still holds its revision until
      // `umount DIR` or the next daemon start releases it.
      j["mounted"] = !r.loop.empty() && is_mounted_from(r.dir, r.loop);
      list.push_back(j);
    }
    return Json{{"mounts", list}, {"problems", problems}};
  });
}

}  // namespace backy
