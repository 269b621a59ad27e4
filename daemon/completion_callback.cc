#include "completion_callback.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "util/text.h"

namespace backy {

namespace {
using SteadyClock = std::chrono::steady_clock;
}  // namespace

CallbackResult run_completion_callback(const std::string& program, const std::string& job,
                                       const std::string& input, Seconds timeout,
                                       std::stop_token stop) {
  return run_child(
      {.argv = {program, job}, .env = inherited_environment(), .input = input, .timeout = timeout},
      stop);
}

void run_and_log_callback(std::string_view setting, const std::string& program,
                          const std::string& job, const std::string& input, Seconds timeout,
                          spdlog::logger& log, std::stop_token stop) {
  const auto started = SteadyClock::now();
  CallbackResult r = run_completion_callback(program, job, input, timeout, stop);
  const double secs = std::chrono::duration<double>(SteadyClock::now() - started).count();
  while (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
  if (!r.output.empty()) log.info("{} output: {}", setting, r.output);
  const std::string failure =
      child_failure(r, program, "the timeout of " + human_duration(double(timeout.count())),
                    "the daemon is stopping");
  if (failure.empty())
    log.info("{} {} done in {}", setting, program, human_duration(secs));
  else
    log.warn("{} {} ({})", setting, failure, human_duration(secs));
}

void run_and_log_completion_callback(const std::string& program, const std::string& job,
                                     const std::vector<Revision>& revisions, Seconds timeout,
                                     spdlog::logger& log, std::stop_token stop) {
  run_and_log_callback("backup-completed-callback", program, job, revisions_json(revisions),
                       timeout, log, stop);
}

std::string run_outcome_json(const std::string& job, const RunOutcome& run,
                             const std::vector<Revision>& revisions) {
  nlohmann::json out{{"job", job},
                     {"ok", run.ok},
                     {"started", format_iso8601(run.started)},
                     {"duration", run.duration},
                     {"tags", run.tags}};
  if (run.ok) {
    out["uuid"] = run.uuid;
    out["warnings"] = run.warnings;
  } else {
    out["error"] = run.error;
  }
  out["revisions"] = nlohmann::json::parse(revisions_json(revisions));
  return out.dump() + "\n";
}

std::string revisions_json(const std::vector<Revision>& revisions) {
  nlohmann::json out = nlohmann::json::array();
  for (const Revision& r : revisions) {
    nlohmann::json j;
    j["uuid"] = r.uuid;
    j["timestamp"] = format_iso8601(r.timestamp);
    j["parent"] = r.parent;
    j["tags"] = r.tags;
    j["trust"] = to_string(r.trust);
    j["consistency"] = to_string(r.consistency);
    j["source"] = r.source;
    j["size"] = r.size;
    j["stats"] = {{"bytes_read", r.stats.bytes_read},
                  {"bytes_written", r.stats.bytes_written},
                  {"duration", r.stats.duration},
                  {"verified_blocks", r.stats.verified_blocks}};
    for (const auto& [phase, secs] : r.stats.phases)
      j["stats"]["phases"][std::string(to_string(phase))] = secs;
    if (!r.scrubbed.empty()) j["scrub"] = {{"time", r.scrubbed}, {"bad_blocks", r.bad_blocks}};
    out.push_back(std::move(j));
  }
  return out.dump() + "\n";
}

}  // namespace backy
