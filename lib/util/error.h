// backy::Error: the one way libbacky reports a failure.
//
// Every module throws backy::Error (never a raw yaml-cpp, librbd or std::system_error) with a
// message that names what went wrong and where; the daemon and backyctl catch it at their edge
// and turn it into a log line, an exit code or a protocol error. errno-based failures use
// sys_error(), which appends strerror.
#pragma once

#include <stdexcept>
#include <string>

namespace backy {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Thrown when a run was asked to stop (SIGTERM, job removed); not a failure of the job.
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
};

// An Error whose message is "<what>: <strerror(err)>".
Error sys_error(const std::string& what, int err);
// Same, with the current errno.
Error sys_error(const std::string& what);

}  // namespace backy
