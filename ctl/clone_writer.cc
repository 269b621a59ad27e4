#include "clone_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "restore_writer.h"
#include "util/command.h"
#include "util/dir.h"
#include "util/error.h"
#include "util/fd.h"

namespace backy::ctl {

namespace {

// FILE as a new, empty file of ours (never an existing one, never through a link), outside
// base-dir; then qemu-img writes the overlay into it. Removed again if qemu-img fails.
std::string write_qcow2(const CloneOrder& order) {
  const std::filesystem::path path(order.file);
  const std::string name = path.filename().string();
  UniqueFd dir(::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) throw sys_error("cannot open the directory of " + order.file);
  if (!order.base_dir.empty() && is_below(dir.get(), order.base_dir))
    throw Error(order.file + " is inside base-dir " + order.base_dir +
                ": clone never writes into the repository");
  UniqueFd file(::openat(dir.get(), name.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!file && errno == EEXIST) throw Error(order.file + " exists; clone never overwrites");
  if (!file) throw sys_error("cannot create " + order.file);
  file.reset();
  CommandResult r = run_command({"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                                 order.image_path, order.file, std::to_string(order.size)});
  if (r.exit_code != 0) {
    ::unlinkat(dir.get(), name.c_str(), 0);
    throw Error("qemu-img create failed: " + r.summary());
  }
  return "qcow2 overlay";
}

}  // namespace

std::string write_clone(int image, const CloneOrder& order,
                        const std::function<void(const protocol::Json&)>& progress,
                        const std::function<void(const std::string&)>& warn) {
  if (order.qcow2) return write_qcow2(order);
  RestoreOrder restore{order.file, false, order.uuid, order.size, order.base_dir, true};
  bool warned = false;
  // The warning comes before the (long) copy starts, with its first progress report.
  auto report = [&](const protocol::Json& p) {
    if (!warned) {
      warn("warning: " + order.file +
           " cannot share blocks with the revision (not on base-dir's reflink filesystem): "
           "copying all of it");
      warned = true;
    }
    if (progress) progress(p);
  };
  return write_restore(image, restore, report) ? "reflink" : "copy";
}

}  // namespace backy::ctl
