// The daemon's logger: stderr with a timestamp, or the journal (with the job as a field) when
// systemd runs us. Built once in main() and passed down; there is no global logger.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace backy {

// `level` as in the config ("info", "debug", ...).
std::shared_ptr<spdlog::logger> make_logger(const std::string& level);
// A logger for one job: same sinks, the job's name in every line.
std::shared_ptr<spdlog::logger> job_logger(const spdlog::logger& base, const std::string& job);

}  // namespace backy
