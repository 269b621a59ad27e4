// export: a revision served read-only over NBD by a qemu-nbd child (exports.h), until
// `export --stop` or the daemon's stop; docs/restore.md tells how to read it from another host.
//
// Root's only: an export hands out every byte of the disk. The revision is resolved and its
// image opened on the worker pool under the job's lock, and the export's hold is taken there
// (Exports::reserve), so expiry and forget, which decide under the same lock, either ran before
// or see the hold. qemu-nbd gets the open image, never a path; the Unix socket is named by the
// daemon, and a --listen address is checked (numeric, a port) before anything starts.
#include <spdlog/spdlog.h>

#include <variant>

#include "backup/job_backup.h"
#include "commands.h"
#include "exports.h"
#include "repo/repository.h"
#include "util/error.h"

namespace backy {

using protocol::ErrorCode;
using protocol::Json;

namespace {

constexpr const char* kNoAuth =
    "NBD has no authentication: anyone who can reach this address reads the whole disk; "
    "listen on a trusted network only, and stop the export when done";

Json export_json(const ExportInfo& e) {
  Json j{
      {"id", e.id},           {"job", e.job}, {"uuid", e.uuid}, {"state", e.state},
      {"address", e.address}, {"uri", e.uri}, {"tcp", e.tcp},   {"since", format_iso8601(e.since)},
      {"pid", e.pid}};
  if (e.tcp) j["warning"] = kNoAuth;
  return j;
}

// The revisions `spec` names in `repo`, or the refusal.
std::variant<std::vector<Revision>, protocol::Error> select(const Repository& repo,
                                                            const std::string& spec) {
  try {
    return repo.select(spec);
  } catch (const Error& e) {
    return protocol::Error{ErrorCode::not_found, e.what()};
  }
}

}  // namespace

Json exports_json(const Exports* exports) {
  Json list = Json::array();
  if (exports)
    for (const auto& e : exports->list()) list.push_back(export_json(e));
  return list;
}

void CommandHandler::export_revision(const Json& args, Out out) {
  if (!exports_) return out->error({ErrorCode::failed, "this backyd serves no exports"});
  const std::string job = args["job"];
  if (!scheduler_.status(job))
    return out->error({ErrorCode::not_found, "no job named \"" + job + "\""});
  if (args.value("stop", false)) return stop_exports(job, args.value("rev", ""), out);
  const std::string spec = args["rev"];
  std::optional<NbdListen> tcp;
  if (args.contains("listen")) {
    std::string why;
    tcp = parse_tcp_listen(args["listen"], &why);
    if (!tcp) return out->error({ErrorCode::bad_request, why});
  }
  struct Opened {
    UniqueFd image;
    std::string id;
    std::optional<protocol::Error> error;
  };
  auto opened = std::make_shared<Opened>();
  scheduler_.post_job_work(
      job,
      [opened, dir = job_dir(scheduler_.config(), job), spec, job,
       exports = exports_](std::stop_token) {
        try {
          Repository repo(dir);
          auto lock = repo.lock();
          auto revs = select(repo, spec);
          if (auto* err = std::get_if<protocol::Error>(&revs)) {
            opened->error = *err;
            return;
          }
          const auto& found = std::get<std::vector<Revision>>(revs);
          if (found.size() != 1) {
            opened->error = protocol::Error{
                ErrorCode::bad_request, "\"" + spec + "\" matches " + std::to_string(found.size()) +
                                            " revisions; name exactly one"};
            return;
          }
          opened->image = repo.open_image(found.front().uuid);
          try {
            opened->id = exports->reserve(job, found.front().uuid);  // held from here on
          } catch (const Error& e) {  // already exported, every slot taken, stopping
            opened->error = protocol::Error{ErrorCode::conflict, e.what()};
          }
        } catch (const std::exception& e) {
          opened->error = protocol::Error{ErrorCode::failed, e.what()};
        }
      },
      [opened, out, tcp, exports = exports_](std::optional<std::string> err) {
        if (opened->error || err) {
          if (!opened->id.empty()) exports->release(opened->id);
          return out->error(opened->error ? *opened->error
                                          : protocol::Error{ErrorCode::failed, *err});
        }
        exports->start(opened->id, std::move(opened->image), tcp,
                       [out](std::optional<std::string> error, const ExportInfo& info) {
                         if (error) return out->error({ErrorCode::failed, *error});
                         out->result(export_json(info));
                       });
      });
}

void CommandHandler::stop_exports(const std::string& job, const std::string& spec, Out out) {
  // Which revisions REV names is read from the job directory (a reader's work); the exports
  // are ended on the loop.
  executors_.read([dir = job_dir(scheduler_.config(), job), job, spec, out, loop = executors_.loop,
                   exports = exports_] {
    std::optional<std::set<std::string>> uuids;  // nullopt: every export of the job
    std::optional<protocol::Error> refusal;
    if (!spec.empty()) {
      auto revs = select(Repository(dir), spec);
      if (auto* err = std::get_if<protocol::Error>(&revs)) {
        refusal = *err;
      } else {
        uuids.emplace();
        for (const auto& r : std::get<std::vector<Revision>>(revs)) uuids->insert(r.uuid);
      }
    }
    loop([job, spec, out, exports, uuids, refusal] {
      if (refusal) return out->error(*refusal);
      std::vector<ExportInfo> ending;
      for (const auto& e : exports->list())
        if (e.job == job && (!uuids || uuids->contains(e.uuid)) && e.state != "starting")
          ending.push_back(e);
      if (ending.empty())
        return out->error({ErrorCode::not_found, job + " has no export" +
                                                     (spec.empty() ? "" : " of " + spec) +
                                                     " (backyctl status lists the exports)"});
      auto pending = std::make_shared<size_t>(ending.size());
      Json stopped = Json::array();
      for (const auto& e : ending) stopped.push_back(export_json(e));
      for (const auto& e : ending)
        exports->stop(e.id, [pending, out, stopped] {
          if (--*pending == 0) out->result({{"stopped", stopped}});
        });
    });
  });
}

}  // namespace backy
