#include "mount_client.h"

#include <signal.h>

#include <unistd.h>

#include <cstdlib>

#include "client.h"
#include "mount/mount_table.h"
#include "mount/revision_mount.h"
#include "util/error.h"
#include "util/fd.h"

namespace backy::ctl {

using protocol::Json;
using protocol::Reply;

namespace {

constexpr int kTimeout = 120;  // s, per answer line (the daemon's side of these is quick)

// Signals that would end backyctl between its mount and the daemon's record of it wait until
// this goes (then the old mask returns, and a pending one ends backyctl as usual).
class SignalBlock {
 public:
  SignalBlock() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~SignalBlock() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;

 private:
  sigset_t old_;
};

Reply failure(protocol::ErrorCode code, std::string message) {
  Reply r;
  r.final = true;
  r.error = protocol::Error{code, std::move(message)};
  return r;
}

void unmount_quietly(const std::string& dir, const std::string& loop) {
  try {
    unmount_clone(dir, loop);
  } catch (const std::exception&) {  // the caller reports the first error
  }
}

}  // namespace

Reply mount(const std::string& socket, const protocol::Request& request,
            const std::function<void(const Json&)>& progress) {
  // Only root mounts; anyone else gets the daemon's refusal, which is also logged there.
  if (::geteuid() != 0) return call(socket, request, kTimeout, progress);
  const std::string dir = request.args["dir"];
  // Checked before the daemon clones anything, and reached through this fd from here on.
  const UniqueFd target = open_mount_point(dir);
  UniqueFd clone, connection;
  Reply answer = call(socket, request, 0, progress, &clone, &connection);
  if (!answer.ok) return answer;
  const Json& b = answer.body;
  if (!clone || !b.contains("offset") || !b.contains("length") || !b.contains("fstype"))
    throw Error("backyd's mount answer lacks the clone, its offset, length or filesystem type");
  refuse_inside(target.get(), dir, b.value("base_dir", ""));
  const int partition = b.value("partition", 0);
  const CloneMount m{.clone = clone.get(),
                     .offset = b["offset"].get<uint64_t>(),
                     .length = b["length"].get<uint64_t>(),
                     .fstype = b["fstype"],
                     .target = target.get(),
                     .dir = dir,
                     .what = (partition == 0 ? std::string("the image")
                                             : "partition " + std::to_string(partition)) +
                             " of revision " + b.value("uuid", "")};
  const SignalBlock block;
  const std::string loop = mount_clone(m, [] {
    if (std::getenv("BACKYCTL_TEST_STOP_BEFORE_MOUNT")) ::raise(SIGSTOP);
  });
  Reply confirmed;
  try {
    confirmed = follow_up(connection.get(), Json{{"mounted", true}, {"loop", loop}}, kTimeout);
  } catch (const std::exception& e) {
    unmount_quietly(dir, loop);
    throw Error(std::string("backyd did not record the mount, so it was undone: ") + e.what());
  }
  if (!confirmed.ok) unmount_quietly(dir, loop);
  return confirmed;
}

Reply umount(const std::string& socket, const protocol::Request& request) {
  if (::geteuid() != 0) return call(socket, request, kTimeout, nullptr);  // the daemon refuses
  const std::string dir = request.args["dir"];
  Reply list = call(socket, {"mounts", Json::object()}, kTimeout, nullptr);
  if (!list.ok) return list;
  for (const auto& m : list.body["mounts"]) {
    if (m.value("dir", "") != dir) continue;
    if (m.value("in_flight", false))
      return failure(protocol::ErrorCode::conflict, dir + " is being mounted right now");
    unmount_clone(dir, m.value("loop", ""));
  }
  // No record: the daemon's answer says so.
  return call(socket, request, kTimeout, nullptr);
}

Reply mounts(const std::string& socket, const protocol::Request& request) {
  Reply list = call(socket, {"mounts", Json::object()}, kTimeout, nullptr);
  if (!list.ok) return list;
  std::vector<std::string> refused;
  for (auto& m : list.body["mounts"]) {
    const std::string dir = m.value("dir", "");
    m["mounted"] = m.value("state", "") == "mounted" && is_mounted_from(dir, m.value("loop", ""));
    if (!request.args.value("prune", false) || m["mounted"] == true || m.value("in_flight", false))
      continue;
    Reply released = call(socket, {"umount", Json{{"dir", dir}}}, kTimeout, nullptr);
    m["released"] = released.ok;
    if (!released.ok) refused.push_back(dir + ": " + released.error->message);
  }
  if (!refused.empty()) {
    std::string message = "mounts --prune could not release";
    for (const auto& r : refused) message += "\n  " + r;
    return failure(protocol::ErrorCode::failed, message);
  }
  return list;
}

}  // namespace backy::ctl
