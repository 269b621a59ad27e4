// The client side of the control socket: connect, send one request, read progress lines and the
// final response. Blocking; one request per connection (the daemon closes after answering),
// except where the command awaits a follow-up line after its answer (mount's confirmation):
// then call() hands over the connection and follow_up() sends that line and reads the answer.
#pragma once

#include <functional>
#include <string>

#include "protocol/message.h"
#include "util/fd.h"

namespace backy::ctl {

// The daemon could not be reached at all (not running, no permission on the socket).
struct Unreachable {
  std::string message;
};

// Throws Unreachable when connecting fails, backy::Error when the connection breaks or times
// out mid-answer. `timeout_s` bounds the wait for each line (0: wait as long as it takes, for
// run --wait, restore, scrub). Progress lines go to `on_progress`.
// Replies are read with recvmsg(): a file descriptor the daemon passes (protocol::carries_fd)
// lands in `*fd`; an answer announcing one that did not come is an error. Without `fd`, any
// descriptor received is closed. With `connection`, the socket is moved there (still open) once
// the final response is read; without it, it is closed.
protocol::Reply call(const std::string& socket, const protocol::Request& request, int timeout_s,
                     const std::function<void(const protocol::Json&)>& on_progress,
                     UniqueFd* fd = nullptr, UniqueFd* connection = nullptr);

// Sends `line` (one JSON object) on a connection call() handed over and reads the final answer.
// Throws backy::Error when the connection breaks or `timeout_s` passes.
protocol::Reply follow_up(int connection, const protocol::Json& line, int timeout_s);

}  // namespace backy::ctl
