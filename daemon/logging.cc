#include "logging.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace backy {

std::shared_ptr<spdlog::logger> make_logger(const std::string& level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto log = std::make_shared<spdlog::logger>("backyd", sink);
  log->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
  log->set_level(spdlog::level::from_str(level == "warning" ? "warn" : level));
  return log;
}

std::shared_ptr<spdlog::logger> job_logger(const spdlog::logger& base, const std::string& job) {
  auto log = std::make_shared<spdlog::logger>(job, base.sinks().begin(), base.sinks().end());
  log->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
  log->set_level(base.level());
  return log;
}

}  // namespace backy
