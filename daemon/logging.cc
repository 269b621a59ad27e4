// spdlog's own systemd_sink (1.10) sends MESSAGE and PRIORITY only; the job field needs the small
// sink below. It ignores the formatter: the journal stores time, level and identifier itself.
#include "logging.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <cstdlib>
#include <mutex>

#include "config/preflight.h"

namespace backy {

namespace {

constexpr const char* kPattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v";
constexpr const char* kDaemonName = "backyd";

int syslog_priority(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return LOG_DEBUG;
    case spdlog::level::info:
      return LOG_INFO;
    case spdlog::level::warn:
      return LOG_WARNING;
    case spdlog::level::err:
      return LOG_ERR;
    case spdlog::level::critical:
      return LOG_CRIT;
    default:
      return LOG_INFO;
  }
}

// The std::mutex is spdlog's, held by base_sink around sink_it_ (the one mutex in backyd that is
// no backy::Mutex: the packaged spdlog is a compiled library with base_sink built for std::mutex
// and null_mutex only). It guards nothing of ours: this sink has no state.
class JournalSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const auto& text = msg.payload;
    const auto& name = msg.logger_name;
    const int len = static_cast<int>(text.size());
    if (name.size() > 0 && name != kDaemonName)
      sd_journal_send("MESSAGE=%.*s", len, text.data(), "PRIORITY=%d", syslog_priority(msg.level),
                      "SYSLOG_IDENTIFIER=%s", kDaemonName, "JOB=%.*s",
                      static_cast<int>(name.size()), name.data(), nullptr);
    else
      sd_journal_send("MESSAGE=%.*s", len, text.data(), "PRIORITY=%d", syslog_priority(msg.level),
                      "SYSLOG_IDENTIFIER=%s", kDaemonName, nullptr);
  }
  void flush_() override {}
};

}  // namespace

std::optional<spdlog::level::level_enum> parse_log_level(const std::string& level) {
  if (level == "warning" || level == "warn") return spdlog::level::warn;
  if (level == "trace") return spdlog::level::trace;
  if (level == "debug") return spdlog::level::debug;
  if (level == "info") return spdlog::level::info;
  if (level == "error") return spdlog::level::err;
  if (level == "critical") return spdlog::level::critical;
  if (level == "off") return spdlog::level::off;
  return std::nullopt;
}

bool stderr_is_journal() {
  // systemd sets JOURNAL_STREAM=<dev>:<inode> of the stream it connected stdout/stderr to.
  const char* env = std::getenv("JOURNAL_STREAM");
  if (!env || !*env) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  return dev == st.st_dev && ino == st.st_ino;
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& level, bool force_journal) {
  spdlog::sink_ptr sink;
  if (force_journal || stderr_is_journal())
    sink = std::make_shared<JournalSink>();
  else
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto log = std::make_shared<spdlog::logger>(kDaemonName, sink);
  log->set_pattern(kPattern);
  log->set_level(parse_log_level(level).value_or(spdlog::level::info));
  // Warnings and errors reach the file at once; a crash right after must not lose them.
  log->flush_on(spdlog::level::warn);
  return log;
}

std::shared_ptr<spdlog::logger> job_logger(const spdlog::logger& base, const std::string& job) {
  auto log = std::make_shared<spdlog::logger>(job, base.sinks().begin(), base.sinks().end());
  // The sinks are shared with `base`, which set their pattern already; setting it again per job
  // would only race with other threads' lines.
  log->set_level(base.level());
  log->flush_on(base.flush_level());
  return log;
}

void log_preflight(const Config& config, spdlog::logger& log) {
  const PreflightReport report = preflight(config);
  for (const auto& e : report.errors) log.error("preflight: {}", e.to_string());
  for (const auto& w : report.warnings) log.warn("preflight: {}", w.to_string());
}

}  // namespace backy
