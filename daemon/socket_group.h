// The control socket belongs to the admin group: a socket backyd binds itself (no socket
// activation) is created root:root 0660 by the control server; give_socket_to_group() hands it
// to global.admin-group so that its members can connect, as backyd.socket's SocketGroup= does
// for an activated one. Until then only root can connect, which is the safe side.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace backy {

// chgrp `socket_path` to `group`. An empty group does nothing; a group that does not exist or a
// failing chown is logged as a warning (root can still connect). Uses lchown: never follows a
// link. Blocking (NSS lookup); called once at startup.
void give_socket_to_group(const std::string& socket_path, const std::string& group,
                          spdlog::logger& log);

}  // namespace backy
