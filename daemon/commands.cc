// Dispatch and the commands that only read the scheduler's state or ask it to act.
// The commands that touch revision files are in commands_repo.cc.
#include "commands.h"

#include <grp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "backup/job_backup.h"
#include "control_views.h"
#include "job_table_view.h"
#include "logging.h"
#include "metrics_view.h"
#include "protocol/commands.h"
#include "protocol/json_writer.h"
#include "repo/repository.h"
#include "store/image_writer.h"
#include "util/file_io.h"
#include "util/thread_annotations.h"
#include "util/uuid.h"

namespace backy {

using protocol::ErrorCode;
using protocol::Json;

// Whether base-dir supports reflinks, asked once per base-dir (it needs a test file). Health
// takes everything else from the scheduler's memory (JobStatus::findings), never from a scan.
struct CommandHandler::Cache {
  Mutex mutex;
  std::map<std::string, bool> reflinks GUARDED_BY(mutex);  // by base-dir
};

namespace {

std::vector<std::string> json_strings(const Json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& e : j) out.push_back(e.get<std::string>());
  return out;
}

// base-dir's filesystem, or nullopt when it cannot be asked (then status and health say nothing
// of space rather than fail).
std::optional<FsSpace> space_of(const std::filesystem::path& base_dir) {
  try {
    return fs_space(base_dir);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The base-dir families metrics adds to the job table's, where base-dir can be asked.
std::string space_metrics(const std::filesystem::path& base_dir) {
  const auto space = space_of(base_dir);
  return space ? space_metrics_text(*space) : std::string();
}

}  // namespace

bool is_admin(const Peer& peer, const std::string& admin_group) {
  if (peer.uid == 0) return true;
  if (admin_group.empty()) return false;
  // getgrnam_r may consult NSS; the group is small and this runs once per changing request.
  struct group grp {};
  struct group* found = nullptr;
  std::vector<char> buf(16384);
  if (getgrnam_r(admin_group.c_str(), &grp, buf.data(), buf.size(), &found) != 0 || !found)
    return false;
  return peer.in_group(found->gr_gid);
}

const std::vector<CommandHandler::Binding>& CommandHandler::bindings() {
  static const std::vector<Binding> table{
      {"version", &CommandHandler::version}, {"status", &CommandHandler::status},
      {"health", &CommandHandler::health},   {"metrics", &CommandHandler::metrics},
      {"run", &CommandHandler::run},         {"pause", &CommandHandler::pause},
      {"resume", &CommandHandler::resume},   {"reload", &CommandHandler::reload},
      {"restore", &CommandHandler::restore}, {"path", &CommandHandler::path},
      {"scrub", &CommandHandler::scrub},     {"forget", &CommandHandler::forget},
      {"tags", &CommandHandler::tags},       {"clone", &CommandHandler::clone},
      {"mount", &CommandHandler::mount},     {"umount", &CommandHandler::umount},
      {"mounts", &CommandHandler::mounts},   {"export", &CommandHandler::export_revision},
      {"adopt", &CommandHandler::adopt},
  };
  return table;
}

std::vector<std::string> CommandHandler::unbound_commands() {
  std::vector<std::string> out;
  for (const auto& c : protocol::all_commands()) {
    const bool bound =
        std::ranges::any_of(bindings(), [&](const Binding& b) { return b.command == c.name; });
    if (!bound) out.emplace_back(c.name);
  }
  for (const auto& b : bindings())
    if (!protocol::find_command(b.command)) out.emplace_back(b.command);
  return out;
}

CommandHandler::CommandHandler(JobScheduler& scheduler, spdlog::logger& log, Executors executors,
                               Exports* exports)
    : scheduler_(scheduler),
      log_(log),
      executors_(std::move(executors)),
      exports_(exports),
      cache_(std::make_shared<Cache>()),
      run_id_(new_uuid()) {
  if (auto unbound = unbound_commands(); !unbound.empty())
    throw std::logic_error("command table and handlers disagree on \"" + unbound[0] + "\"");
}

void CommandHandler::handle(const protocol::Request& req, const Peer& peer, Out out) {
  io_thread_.check("CommandHandler::handle");
  if (auto err = protocol::validate_args(req)) return out->error(*err);
  const protocol::CommandSpec& spec = *protocol::find_command(req.command);
  const std::string& admin_group = scheduler_.config().global.admin_group;
  const bool allowed = spec.access == protocol::Access::anyone || peer.uid == 0 ||
                       (spec.access == protocol::Access::admin && is_admin(peer, admin_group));
  if (!allowed) {
    log_.warn("control: refused {} from uid {} (pid {}): not {}", req.command, peer.uid, peer.pid,
              spec.access == protocol::Access::root ? "root" : "root or admin-group");
    const bool group_helps = spec.access == protocol::Access::admin && !admin_group.empty();
    return out->error({ErrorCode::permission_denied,
                       "permission denied: \"" + req.command + "\" needs root" +
                           (group_helps ? " or membership in group " + admin_group : "")});
  }
  if (spec.access != protocol::Access::anyone)
    log_.info("control: {} {} from uid {}", req.command, req.args.dump(), peer.uid);
  requester_ = peer.describe();
  for (const auto& b : bindings())
    if (b.command == spec.name) return (this->*b.handler)(req.args, std::move(out));
}

void CommandHandler::version(const Json&, Out out) {
  out->result({{"daemon", "backyd"}, {"version", BACKY_VERSION}, {"protocol", protocol::kVersion}});
}

void CommandHandler::metrics(const Json&, Out out) {
  // Only the rows are copied here. A reader formats the text (about 30 ms with 10,000 jobs),
  // asks statvfs (a hung filesystem must not hold the event loop) and encodes the response line
  // (the text as one JSON string, megabytes).
  executors_.read([figures = metrics_figures(), base = scheduler_.config().global.base_dir, out,
                   loop = executors_.loop] {
    std::string text = figures->text() + space_metrics(base);
    std::string line(protocol::result_line_open());
    line.reserve(line.size() + text.size() + text.size() / 16 + 64);
    protocol::JsonWriter(line).begin_object().member("text", text).end_object();
    text.clear();
    text.shrink_to_fit();
    line += protocol::result_line_close();
    loop([out, line = std::move(line)]() mutable { out->encoded_result(std::move(line)); });
  });
}

void CommandHandler::pause(const Json& args, Out out) {
  pause_resume(true, args, std::move(out));
}

void CommandHandler::resume(const Json& args, Out out) {
  pause_resume(false, args, std::move(out));
}

void CommandHandler::status(const Json& args, Out out) {
  if (!args.contains("job")) {
    // Each job's status is made here, where the table lives, and kept (job_table_view.h: a few
    // milliseconds for 10,000 jobs, no tree); a reader encodes them into the response line (tens
    // of milliseconds), asks base-dir's space (statvfs may hang) and closes the line.
    const Config& config = scheduler_.config();
    auto answer = std::make_shared<StatusAnswer>(args.is_object() && args.value("table", false),
                                                 config.jobs.size());
    scheduler_.each_status([&](JobStatus&& s) { answer->add(std::move(s)); });
    auto tail = std::make_shared<StatusTail>();
    tail->orphans = scheduler_.orphans();
    tail->running = scheduler_.running_count();
    tail->queued = scheduler_.queued_count();
    tail->worker_limit = config.global.worker_limit;
    tail->lanes = lanes_json(scheduler_.lane_loads());
    tail->exports = exports_json(exports_);
    tail->read_limit = config.global.read_limit;
    executors_.read(
        [answer, tail, base = config.global.base_dir.string(), out, loop = executors_.loop] {
          tail->base_dir = space_json(base, space_of(base));
          std::string line = answer->finish(*tail);
          loop([out, line = std::move(line)]() mutable { out->encoded_result(std::move(line)); });
        });
    return;
  }
  const std::string job = args["job"];
  auto s = scheduler_.status(job);
  if (!s) return out->error({ErrorCode::not_found, "no job named \"" + job + "\""});
  Json head = job_json(*s);
  executors_.read([dir = job_dir(scheduler_.config(), job), head, out, loop = executors_.loop] {
    Json result{{"job", head}, {"revisions", Json::array()}, {"problems", Json::array()}};
    uint64_t written = 0;
    std::vector<std::string> problems;
    try {
      for (const auto& r : Repository(dir).revisions(&problems)) {
        result["revisions"].push_back(revision_json(r));
        written += r.stats.bytes_written;
      }
    } catch (const std::exception& e) {
      // The job directory itself cannot be read (a symlink or a file stands where it belongs):
      // the job's state is still worth answering, with the reason.
      problems.push_back(e.what());
    }
    result["problems"] = problems;
    result["bytes_written"] = written;
    loop([out, result = std::move(result)] { out->result(result); });
  });
}

void CommandHandler::health(const Json&, Out out) {
  // The jobs are judged here, in place; a reader adds base-dir's space and reflinks.
  auto check = std::make_shared<HealthCheck>(Clock::now());
  scheduler_.each_status([&](const JobStatus& s) { check->add(s); });
  auto facts = std::make_shared<HealthFacts>();
  facts->base_dir = scheduler_.config().global.base_dir.string();
  facts->refused_reload = scheduler_.refused_reload();
  facts->free_space_warning = scheduler_.config().global.free_space_warning;
  facts->free_space_critical = scheduler_.config().global.free_space_critical;
  executors_.read([check, facts, out, cache = cache_, loop = executors_.loop] {
    const std::filesystem::path base = facts->base_dir;
    facts->space = space_of(base);
    {
      MutexLock lock(cache->mutex);
      auto rl = cache->reflinks.find(facts->base_dir);
      if (rl == cache->reflinks.end()) {
        try {
          rl = cache->reflinks.emplace(facts->base_dir, supports_reflink(base)).first;
        } catch (const std::exception&) {
          // base-dir unreadable: health shows it through the jobs; reflinks stay unknown.
        }
      }
      if (rl != cache->reflinks.end()) facts->reflinks = rl->second;
    }
    std::string line = protocol::encode_result(check->finish(*facts));
    loop([out, line = std::move(line)]() mutable { out->encoded_result(std::move(line)); });
  });
}

std::shared_ptr<const MetricsFigures> CommandHandler::metrics_figures() const {
  io_thread_.check("CommandHandler::metrics_figures");
  auto figures = std::make_shared<MetricsFigures>();
  scheduler_.each_status([&](const JobStatus& s) { figures->jobs.add(s); });
  figures->running = scheduler_.running_count();
  figures->queued = scheduler_.queued_count();
  figures->worker_limit = scheduler_.config().global.worker_limit;
  figures->lanes = scheduler_.lane_loads();
  figures->read_limit = scheduler_.config().global.read_limit;
  return figures;
}

void CommandHandler::write_metrics_file() {
  io_thread_.check("CommandHandler::write_metrics_file");
  const std::string path = scheduler_.config().global.metrics_file;
  if (path.empty()) return;
  executors_.read(
      [path, figures = metrics_figures(), base = scheduler_.config().global.base_dir, &log = log_] {
        try {
          write_file_atomic(path, figures->text() + space_metrics(base), 0644);
        } catch (const std::exception& e) {
          log.warn("metrics-file: {}", e.what());
        }
      });
}

namespace {

// What a `run --wait` follows: one slot per job (its answer), the runs still to end.
struct RunWait {
  Json results = Json::array();
  std::vector<std::string> jobs;  // by slot
  std::vector<bool> ended;        // by slot
  size_t pending = 0;
  bool over = false;  // answered, or the client went away: no more progress lines
};

// How often run --wait tells the client how its running jobs get on (backyctl shows each on a
// terminal, and every few seconds otherwise).
constexpr std::chrono::milliseconds kRunProgressEvery{1000};

// Every kRunProgressEvery until the wait is over: a progress line per job of `wait` whose backup
// is running. `alive` dies with the CommandHandler, whose scheduler this reads.
void follow_runs(JobScheduler& scheduler, const Executors& executors, std::weak_ptr<void> alive,
                 std::shared_ptr<RunWait> wait, std::shared_ptr<Responder> out) {
  if (!executors.after) return;
  executors.after(kRunProgressEvery, [&scheduler, executors, alive, wait, out] {
    if (wait->over || !alive.lock()) return;
    for (size_t i = 0; i < wait->jobs.size(); ++i) {
      if (wait->ended[i]) continue;
      const auto st = scheduler.status(wait->jobs[i]);
      if (!st || !st->progress || !st->running_since) continue;
      Json p = progress_json(*st->progress);
      p["event"] = "progress";
      p["job"] = wait->jobs[i];
      p["running_since"] = format_iso8601(*st->running_since);
      out->progress(p);
    }
    follow_runs(scheduler, executors, alive, wait, out);
  });
}

}  // namespace

void CommandHandler::run(const Json& args, Out out) {
  std::vector<std::string> jobs;
  if (args.value("all", false)) {
    scheduler_.each_status([&](const JobStatus& s) { jobs.push_back(s.name); });
    if (jobs.empty()) return out->result({{"jobs", Json::array()}});
  } else {
    jobs = json_strings(args["jobs"]);
    for (const auto& j : jobs)
      if (!scheduler_.status(j))
        return out->error({ErrorCode::not_found, "no job named \"" + j + "\""});
  }
  std::set<std::string> tags;
  for (const auto& t : json_strings(args.value("tags", Json::array()))) tags.insert(t);
  const bool wait = args.value("wait", false);

  // With --wait the answer comes when the last run ends; `pending` counts them. A job whose
  // backup is already queued or running gets no second one: the caller follows that one.
  auto state = std::make_shared<RunWait>();
  size_t refused = 0;
  for (const auto& job : jobs) {
    const size_t index = state->results.size();
    state->results.push_back({{"job", job}});
    state->jobs.push_back(job);
    state->ended.push_back(false);
    auto done = [state, index, out, wait, job](const RunOutcome& r) {
      if (!wait || state->ended[index]) return;
      state->ended[index] = true;
      Json& slot = state->results[index];
      slot["ok"] = r.ok;
      slot["duration"] = r.duration;
      if (r.ok)
        slot["uuid"] = r.uuid;
      else
        slot["error"] = r.error;
      if (!r.warnings.empty()) slot["warnings"] = r.warnings;
      out->progress({{"event", "finished"},
                     {"job", job},
                     {"ok", r.ok},
                     {"uuid", r.uuid},
                     {"error", r.error},
                     {"duration", r.duration}});
      if (--state->pending == 0) {
        state->over = true;
        out->result({{"jobs", state->results}});
      }
    };
    const auto before = scheduler_.status(job);
    const char* already = !before                             ? nullptr
                          : before->running_since             ? "running"
                          : before->state == JobState::queued ? "queued"
                                                              : nullptr;
    if (auto err = scheduler_.run_now(job, tags, done)) {
      ++refused;
      state->results[index]["ok"] = false;
      state->results[index]["error"] = *err;
      continue;
    }
    if (already)
      state->results[index]["already"] = already;
    else
      state->results[index]["queued"] = true;
    ++state->pending;
    if (wait && already)
      out->progress({{"event", "already"}, {"job", job}, {"state", already}});
    else if (wait)
      out->progress({{"event", "queued"}, {"job", job}});
  }
  if (refused == jobs.size()) {
    std::string why = state->results[0]["error"];
    return out->error({ErrorCode::conflict, jobs.size() == 1 ? why : "no job was started: " + why});
  }
  if (!wait || state->pending == 0) return out->result({{"jobs", state->results}});
  out->on_hangup([state] { state->over = true; });
  follow_runs(scheduler_, executors_, alive_, state, out);
}

void CommandHandler::pause_resume(bool pause, const Json& args, Out out) {
  std::vector<std::string> jobs;
  const bool all = args.value("all", false);
  const std::string reason = args.value("reason", "");
  if (auto why = check_pause_reason(reason)) return out->error({ErrorCode::bad_request, *why});
  if (all) {
    // --all means "every job ends up paused (resumed)": those already there are no error.
    scheduler_.each_status([&](const JobStatus& s) {
      if ((s.state == JobState::paused) != pause) jobs.push_back(s.name);
    });
  } else {
    jobs = json_strings(args["jobs"]);
    for (const auto& j : jobs)
      if (!scheduler_.status(j))
        return out->error({ErrorCode::not_found, "no job named \"" + j + "\""});
  }
  Json results = Json::array();
  for (const auto& j : jobs) {
    auto err =
        pause ? scheduler_.pause(j, {requester_, Clock::now(), reason}) : scheduler_.resume(j);
    Json r{{"job", j}, {"ok", !err}};
    if (err)
      r["error"] = *err;
    else
      job_logger(log_, j)->info("{} by {}{}", pause ? "paused" : "resumed", requester_,
                                reason.empty() ? "" : ": " + reason);
    results.push_back(r);
  }
  out->result({{"jobs", results}});
}

void CommandHandler::reload(const Json&, Out out) {
  ReloadResult r = scheduler_.reload();
  log_.info("control: reload {}", r.accepted ? "accepted" : "rejected");
  out->result({{"accepted", r.accepted},
               {"errors", r.errors},
               {"added", r.added},
               {"removed", r.removed},
               {"changed", r.changed}});
}

}  // namespace backy
