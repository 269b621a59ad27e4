// Peer: who is on the other end of a control-socket connection, as the kernel reports it.
//
// Read once, when the connection is accepted: SO_PEERCRED gives the uid, gid and pid the client
// had when it called connect(), SO_PEERGROUPS its supplementary groups at that same moment. Both
// come from the socket, never from /proc/PID (a pid can be reused by another process between
// connect and request). The pid is kept for the log only.
//
// Plain value; any thread.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace backy {

struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups

  // Whether `g` is the primary group or a supplementary one.
  bool in_group(gid_t g) const;
  // "alice (uid 1000)", or "uid 1000" when the user database has no name: for the log's "who".
  std::string describe() const;
};

// The credentials of the process connected to Unix socket `fd`. When the kernel does not say
// (getsockopt fails), the peer is nobody: uid and gid -1, no groups; it may read, never change.
Peer peer_of_socket(int fd);

}  // namespace backy
