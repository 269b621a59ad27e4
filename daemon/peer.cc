#include "peer.h"

#include <pwd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace backy {

bool Peer::in_group(gid_t g) const {
  return gid == g || std::find(groups.begin(), groups.end(), g) != groups.end();
}

std::string Peer::describe() const {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(4096);
  const std::string id = "uid " + std::to_string(uid);
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return id;
  return std::string(found->pw_name) + " (" + id + ")";
}

Peer peer_of_socket(int fd) {
  Peer peer;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    peer.uid = static_cast<uid_t>(-1);
    peer.gid = static_cast<gid_t>(-1);
    return peer;
  }
  peer.pid = cred.pid;
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  // SO_PEERGROUPS answers ERANGE with the size it needs when the buffer is too small; NGROUPS_MAX
  // is 65536, so two rounds suffice.
  std::vector<gid_t> groups(64);
  for (int round = 0; round < 2; ++round) {
    socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
      groups.resize(bytes / sizeof(gid_t));
      peer.groups = std::move(groups);
      return peer;
    }
    if (errno != ERANGE) break;
    groups.resize(bytes / sizeof(gid_t) + 1);
  }
  // No group list: only the uid and primary group count (an admin by a supplementary group is
  // refused rather than guessed at).
  return peer;
}

}  // namespace backy
