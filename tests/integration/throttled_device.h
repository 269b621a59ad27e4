// A block device whose reads the kernel really throttles, for tests that need a backup that is
// slow for real: a loop device over an image file, and a blkio cgroup (v1) whose
// read_bps_device limits that device for the processes in the group.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/test_env.h"

namespace backy::test {

inline void write_line(const std::filesystem::path& file, const std::string& line) {
  std::ofstream out(file);
  out << line << '\n';
  out.flush();
  REQUIRE(out.good());
}

// A loop device over `image` whose reads are throttled for the processes of a blkio cgroup of its
// own; join() moves a process in (its children are born in it). The destructor moves whatever is
// left back to the root group, removes the group and detaches the device.
class ThrottledDevice {
 public:
  ThrottledDevice(const std::filesystem::path& image, uint64_t bytes_per_second)
      : group_(std::filesystem::path("/sys/fs/cgroup/blkio") /
               ("backy-test-" + std::to_string(::getpid()))) {
    ProcessResult attach = run({"losetup", "--find", "--show", image.string()});
    INFO(attach.err);
    REQUIRE(attach.exit_code == 0);
    device_ = attach.out.substr(0, attach.out.find('\n'));
    struct stat st {};
    REQUIRE(::stat(device_.c_str(), &st) == 0);
    std::filesystem::create_directory(group_);
    write_line(group_ / "blkio.throttle.read_bps_device",
               std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev)) + " " +
                   std::to_string(bytes_per_second));
  }
  ~ThrottledDevice() {
    std::ifstream procs(group_ / "cgroup.procs");
    for (std::string pid; std::getline(procs, pid);) leave(pid);
    std::error_code ec;
    std::filesystem::remove(group_, ec);
    run({"losetup", "-d", device_});
  }
  ThrottledDevice(const ThrottledDevice&) = delete;
  ThrottledDevice& operator=(const ThrottledDevice&) = delete;

  const std::string& device() const { return device_; }
  void join(pid_t pid) { write_line(group_ / "cgroup.procs", std::to_string(pid)); }
  static void leave(const std::string& pid) {
    std::ofstream("/sys/fs/cgroup/blkio/cgroup.procs") << pid << '\n';
  }
  // Drops the device's cached pages: the next run reads (slowly) again.
  void drop_cache() const {
    const int fd = ::open(device_.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }

 private:
  std::filesystem::path group_;
  std::string device_;
};

}  // namespace backy::test
