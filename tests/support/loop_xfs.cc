#include "support/loop_xfs.h"

#include <sys/mount.h>
#include <sys/statvfs.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

namespace fs = std::filesystem;

namespace backy::test {

LoopXfs::LoopXfs(const fs::path& base, uint64_t size) : dir_(base, "loop-xfs") {
  try {
    const fs::path image = dir_ / "xfs.img";
    make_sparse(image, size);
    ProcessResult mkfs = run({"mkfs.xfs", "-q", "-f", "-m", "reflink=1", image.string()});
    INFO(mkfs.err);
    REQUIRE(mkfs.exit_code == 0);
    ProcessResult attach = run({"losetup", "--find", "--show", image.string()});
    INFO(attach.err);
    REQUIRE(attach.exit_code == 0);
    device_ = attach.out.substr(0, attach.out.find('\n'));
    mount_ = dir_ / "mnt";
    fs::create_directory(mount_);
    ProcessResult m = run({"mount", "-t", "xfs", device_, mount_.string()});
    INFO(m.err);
    REQUIRE(m.exit_code == 0);
    mounted_ = true;
  } catch (...) {
    release();
    throw;
  }
}

LoopXfs::~LoopXfs() {
  release();
}

void LoopXfs::release() noexcept {
  // A process that just exited may still hold the mount for a moment: retry, then detach lazily.
  if (mounted_) {
    bool done = false;
    for (int i = 0; i < 50 && !done; ++i) {
      done = ::umount(mount_.c_str()) == 0;
      if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!done) ::umount2(mount_.c_str(), MNT_DETACH);
    mounted_ = false;
  }
  if (!device_.empty()) {
    try {
      run({"losetup", "-d", device_});
    } catch (...) {
      // A failed assertion inside run(): nothing more to do here.
    }
    device_.clear();
  }
}

uint64_t LoopXfs::free_bytes() const {
  struct statvfs st {};
  REQUIRE(::statvfs(mount_.c_str(), &st) == 0);
  return uint64_t(st.f_bavail) * st.f_frsize;
}

}  // namespace backy::test
