#include "mount/loop_device.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace backy {

LoopDevice LoopDevice::attach(int backing, uint64_t offset, uint64_t size, bool read_only) {
  UniqueFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!control) throw sys_error("cannot open /dev/loop-control");
  // Another process may take the free device between GET_FREE and CONFIGURE: try again.
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int n = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (n < 0) throw sys_error("no free loop device");
    const std::string path = "/dev/loop" + std::to_string(n);
    UniqueFd fd(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!fd) throw sys_error("cannot open " + path);
    loop_config config;
    std::memset(&config, 0, sizeof config);
    config.fd = static_cast<uint32_t>(backing);
    config.info.lo_offset = offset;
    config.info.lo_sizelimit = size;
    config.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
    if (::ioctl(fd.get(), LOOP_CONFIGURE, &config) == 0) return LoopDevice(path, std::move(fd));
    if (errno != EBUSY) throw sys_error("cannot configure " + path);
  }
  throw Error("cannot attach a loop device: every free one was taken by others meanwhile");
}

}  // namespace backy
