// The daemon's logger: stderr with a timestamp, or the journal (with the job as a field) when
// systemd runs us. Built once in main() and passed down; there is no global logger.
//
// Under systemd (JOURNAL_STREAM names our stderr) every line goes to the journal through
// sd_journal_send with PRIORITY=, SYSLOG_IDENTIFIER=backyd and, for a job's logger, JOB=<name>:
// `journalctl -u backyd JOB=web01` shows one job's history. Otherwise lines go to stderr as
// "time level [job] message". Loggers are thread-safe (shared by the io thread and workers).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <optional>
#include <string>

#include "config/config.h"

namespace backy {

// The config's spelling ("info", "debug", "warning", ...) as spdlog's level; nullopt if unknown.
std::optional<spdlog::level::level_enum> parse_log_level(const std::string& level);

// `level` as in the config ("info", "debug", ...). The sink is the journal when systemd's
// JOURNAL_STREAM matches our stderr, or when `force_journal`; stderr otherwise.
std::shared_ptr<spdlog::logger> make_logger(const std::string& level, bool force_journal = false);
// A logger for one job: same sinks and level, the job's name in every line (and JOB= field).
std::shared_ptr<spdlog::logger> job_logger(const spdlog::logger& base, const std::string& job);
// Whether stderr is systemd's journal stream.
bool stderr_is_journal();

// Logs what preflight() finds for `config` (config/preflight.h): errors at error level, warnings
// at warning level, each as "file:line:col: message". At start and on every accepted reload, so
// the journal says what `backyd --check-config` would; nothing is refused.
void log_preflight(const Config& config, spdlog::logger& log);

}  // namespace backy
