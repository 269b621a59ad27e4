// `backyd --once JOB...`: back up the named jobs now, in the foreground, one after another.
//
// The backups run on a worker thread; the main thread only waits for SIGINT/SIGTERM (through an
// asio signal_set) and asks the worker to stop, so a ^C removes the partial revision and exits.
// Each committed run's clean-up of its source (the previous RBD snapshot's removal) runs on a
// thread of its own (backup/source_cleaner.h), overlapping expiry and the next job; the process
// waits for it before it exits.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "config/config.h"

namespace spdlog {
class logger;
}

namespace backy {

// Returns the exit code: 0 when every job succeeded, 1 otherwise (reasons logged to stderr).
int run_once(const Config& config, const std::vector<std::string>& jobs,
             const std::optional<std::set<std::string>>& forced_tags, spdlog::logger& log);

}  // namespace backy
