// open_directory_nofollow: the mount point's openat2 fallback under the shipped unit's seccomp
// filter (RestrictSUIDSGID=yes: openat2 is ENOSYS there) refuses links as openat2 does.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "mount/revision_mount.h"
#include "scratch_dir.h"

namespace fs = std::filesystem;
using backy::open_directory_nofollow;

TEST_CASE("open_directory_nofollow opens a directory and refuses links and files on the way",
          "[mount]") {
  backy::test::ScratchDir scratch;
  const fs::path top = fs::canonical(scratch.dir);
  fs::create_directories(top / "a" / "b");
  fs::create_directory_symlink(top / "a", top / "link");
  fs::create_directory_symlink(top / "a" / "b", top / "a" / "blink");
  {
    std::FILE* f = std::fopen((top / "file").c_str(), "w");
    REQUIRE(f);
    std::fclose(f);
  }

  const backy::UniqueFd fd = open_directory_nofollow((top / "a" / "b").string());
  REQUIRE(fd);
  struct stat opened {
  }, wanted{};
  REQUIRE(::fstat(fd.get(), &opened) == 0);
  REQUIRE(::stat((top / "a" / "b").c_str(), &wanted) == 0);
  CHECK(opened.st_ino == wanted.st_ino);
  CHECK(opened.st_dev == wanted.st_dev);
  CHECK((::fcntl(fd.get(), F_GETFL) & O_PATH) == 0);  // a real open: the caller lists it

  errno = 0;
  CHECK_FALSE(open_directory_nofollow((top / "link" / "b").string()));  // a link on the way
  CHECK(errno == ELOOP);
  errno = 0;
  CHECK_FALSE(open_directory_nofollow((top / "a" / "blink").string()));  // the last one a link
  CHECK(errno == ELOOP);
  errno = 0;
  CHECK_FALSE(open_directory_nofollow((top / "file").string()));
  CHECK(errno == ENOTDIR);
  errno = 0;
  CHECK_FALSE(open_directory_nofollow((top / "missing").string()));
  CHECK(errno == ENOENT);
}
