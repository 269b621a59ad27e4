#include "socket_group.h"

#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace backy {

void give_socket_to_group(const std::string& socket_path, const std::string& group,
                          spdlog::logger& log) {
  if (group.empty()) return;
  struct group grp {};
  struct group* found = nullptr;
  std::vector<char> buf(16384);
  if (::getgrnam_r(group.c_str(), &grp, buf.data(), buf.size(), &found) != 0 || !found) {
    log.warn("control socket {}: admin-group '{}' does not exist; only root can connect",
             socket_path, group);
    return;
  }
  if (::lchown(socket_path.c_str(), static_cast<uid_t>(-1), found->gr_gid) != 0)
    log.warn("control socket {}: chgrp {}: {}; only root can connect", socket_path, group,
             std::strerror(errno));
}

}  // namespace backy
