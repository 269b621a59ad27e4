// The client side of the control socket: connect, send one request, read progress lines and the
// final response. Blocking; one request per connection (the daemon closes after answering).
#pragma once

#include <functional>
#include <string>

#include "protocol/message.h"

namespace backy::ctl {

// The daemon could not be reached at all (not running, no permission on the socket).
struct Unreachable {
  std::string message;
};

// Throws Unreachable when connecting fails, backy::Error when the connection breaks or times
// out mid-answer. `timeout_s` bounds the wait for each line (0: wait as long as it takes, for
// run --wait, restore, scrub). Progress lines go to `on_progress`.
protocol::Reply call(const std::string& socket, const protocol::Request& request, int timeout_s,
                     const std::function<void(const protocol::Json&)>& on_progress);

}  // namespace backy::ctl
