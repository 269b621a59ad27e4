// run_child: runs an operator's program (a callback, a snapshot hook) to completion, bounded in
// time and output, so that it cannot hang or flood the daemon.
//
// The program is spawned directly from `argv` (no shell, no PATH search: argv[0] is the path),
// in its own process group, with the default signal dispositions, an empty signal mask, `input`
// on its stdin, stdout and stderr together on one pipe, the environment `env` ("NAME=value"
// strings, nothing else) and no descriptor of ours (all above 2 are closed in the child).
// After `timeout`, or once `stop` is requested, its whole process group gets SIGKILL: a hook
// that forked a helper which keeps the output open is killed with it.
//
// Blocking (poll, waitpid): call it on a worker thread, never on the io_context thread.
#pragma once

#include <cstddef>
#include <stop_token>
#include <string>
#include <vector>

#include "schedule/duration.h"

namespace backy {

// The most output kept of a child (stdout and stderr together); the rest is read and dropped.
inline constexpr size_t kMaxChildOutput = 64 * 1024;

struct ChildResult {
  bool started = false;    // false: the program could not be spawned (error says why)
  int exit_code = -1;      // 128+N when killed by signal N
  bool timed_out = false;  // killed after the timeout
  bool stopped = false;    // killed because `stop` was requested
  std::string output;      // stdout+stderr, at most kMaxChildOutput bytes
  std::string error;
  bool ok() const { return started && exit_code == 0 && !timed_out && !stopped; }
};

struct ChildSpec {
  std::vector<std::string> argv;  // REQUIRES: not empty
  std::vector<std::string> env;   // "NAME=value"
  std::string input;              // written to its stdin, which is then closed
  Seconds timeout{60};
};

ChildResult run_child(const ChildSpec& spec, std::stop_token stop = {});

// Why `r` failed, for a log line or an error: the spawn error, "PROGRAM killed after
// TIMEOUT_WORDS", "PROGRAM killed: STOP_WORDS", or "PROGRAM exited with N"; empty when ok().
// `program` is argv[0]; the words say what the timeout and the stop were to the caller.
std::string child_failure(const ChildResult& r, const std::string& program,
                          const std::string& timeout_words, const std::string& stop_words);

// The daemon's own environment as "NAME=value" strings (what callbacks inherit, as upstream's do).
std::vector<std::string> inherited_environment();

}  // namespace backy
