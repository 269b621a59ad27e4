#include "daemon_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "util/error.h"

namespace backy {

DaemonLock DaemonLock::acquire(const std::filesystem::path& base_dir) {
  std::error_code ec;
  std::filesystem::create_directories(base_dir, ec);
  if (ec) throw Error("cannot create base-dir " + base_dir.string() + ": " + ec.message());
  const auto path = base_dir / ".backyd.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) throw sys_error("cannot open " + path.string());
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) throw sys_error("cannot lock " + path.string());
    char buf[32] = {};
    const ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    throw Error("another backyd" + (pid.empty() ? std::string() : " (pid " + pid + ")") +
                " is already running on base-dir " + base_dir.string() + " (lock " + path.string() +
                ")");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 ||
      ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    throw sys_error("cannot write " + path.string());
  return DaemonLock(std::move(fd));
}

}  // namespace backy
