// util/fs_space.h: a filesystem's free share, and what is short below a threshold.
#include <catch2/catch.hpp>

#include "util/error.h"
#include "util/fs_space.h"

using namespace backy;

TEST_CASE("free space and inodes below a threshold say what is short", "[space]") {
  FsSpace s;
  s.total_bytes = 100ull << 30;
  s.free_bytes = 3ull << 30;
  s.total_inodes = 1000;
  s.free_inodes = 900;
  CHECK(s.free_percent() == Approx(3));
  CHECK(space_below(s, 5) == "3.0 GiB free of 100.0 GiB (3%)");
  CHECK(space_below(s, 3) == std::nullopt);  // at the threshold is not below it

  s.free_bytes = 50ull << 30;
  s.free_inodes = 20;
  CHECK(space_below(s, 5) == "20 of 1000 inodes free (2%)");
  s.total_inodes = 0;  // no fixed inode count: never short of inodes
  CHECK(s.free_inode_percent() == 100);
  CHECK(space_below(s, 5) == std::nullopt);
}

TEST_CASE("a missing directory is asked about through its nearest ancestor", "[space]") {
  const FsSpace root = fs_space("/");
  CHECK(root.total_bytes > 0);
  const FsSpace missing = fs_space("/nonexistent-backy-dir/base/job");
  CHECK(missing.total_bytes == root.total_bytes);
  CHECK_THROWS_AS(fs_space("/proc/self/fd/0/x"), Error);  // ENOTDIR: not "missing"
}
