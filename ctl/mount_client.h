// backyctl's half of mount, umount and mounts (docs/restore.md, docs/protocol.md).
//
// The mount is made here, in the caller's mount namespace, so the admin sees it where they look;
// backyd's own namespace is private under the shipped unit. The daemon makes the reflink clone
// and the record that holds the revision, and passes the clone's fd; this attaches a loop device
// to that fd (never a path under base-dir), mounts, and confirms on the same connection. Until
// the confirmation the daemon owns the record: if backyctl fails or dies first, the daemon
// removes record and clone, and the loop device (autoclear) goes with backyctl's fd. Between the
// mount and its confirmation SIGINT, SIGTERM, SIGHUP and SIGQUIT wait; a failed confirmation
// unmounts again.
//
// umount unmounts first (here, where the mount is), then asks the daemon to release the record.
// mounts adds to each record whether its directory is mounted from its loop device here, and
// with --prune releases those that are not (a reboot or a manual umount took them).
//
// Each returns the reply to render. Called from main(), on the main thread; blocking.
#pragma once

#include <functional>
#include <string>

#include "protocol/message.h"

namespace backy::ctl {

// With BACKYCTL_TEST_STOP_BEFORE_MOUNT set in the environment, mount stops itself (SIGSTOP) once
// its loop device is attached, before mount(2): the tests' one way to kill it there.
protocol::Reply mount(const std::string& socket, const protocol::Request& request,
                      const std::function<void(const protocol::Json&)>& progress);
protocol::Reply umount(const std::string& socket, const protocol::Request& request);
protocol::Reply mounts(const std::string& socket, const protocol::Request& request);

}  // namespace backy::ctl
