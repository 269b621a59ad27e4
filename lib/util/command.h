// run_command: runs a helper program (sfdisk, blkid, qemu-img, ...) to completion and returns
// what it printed.
//
// The program is found on PATH (posix_spawnp), gets /dev/null as stdin, the default signal
// dispositions and an empty signal mask, and no descriptor of ours but its stdout and stderr
// pipes (everything here is opened O_CLOEXEC). Output beyond `limit` bytes per stream is read
// and dropped, so a chatty program cannot wedge or bloat us. Blocks until the program exits:
// call it on a worker thread, never on an event loop.
// Any thread.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace backy {

struct CommandResult {
  int exit_code = -1;  // 128 + N when killed by signal N
  std::string out, err;
  // "sfdisk: <first line of stderr>" or the exit code, for messages.
  std::string summary() const;
};

// Throws backy::Error when the program cannot be started (not installed).
// REQUIRES: !argv.empty().
CommandResult run_command(const std::vector<std::string>& argv, size_t limit = 1 << 20);

}  // namespace backy
