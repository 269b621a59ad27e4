// Passing file descriptors over a Unix stream socket: SCM_RIGHTS ancillary data.
//
// The control socket's `restore` answer carries the revision's image as a descriptor, attached
// to the first bytes of its response line (protocol/message.h). The daemon sends it with
// send_with_fd(); every reader of that socket (backyctl, and tests that play the client) reads
// with receive_with_fds(), since a plain recv() would drop the descriptor unseen.
//
// Thin wrappers over sendmsg()/recvmsg(); any thread. They keep the calls' convention: -1 with
// errno on failure (EINTR is retried, EAGAIN is returned).
#pragma once

#include <sys/types.h>

#include <span>
#include <string_view>
#include <vector>

#include "util/fd.h"

namespace backy {

// Sends `data` with `fd` attached to its first byte, without blocking. Returns the bytes sent
// (at least 1: the descriptor went with them), or -1 (EAGAIN: wait until the socket is writable).
ssize_t send_with_fd(int socket, std::string_view data, int fd);

// recv() into `buf` that also collects the descriptors passed with those bytes (close-on-exec)
// into `fds`. Returns the bytes read (0 at end of stream), or -1.
ssize_t receive_with_fds(int socket, std::span<char> buf, std::vector<UniqueFd>& fds);

}  // namespace backy
