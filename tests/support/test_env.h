// Helpers for the integration tests: scratch directories on the real XFS mount, child processes,
// image files with known content, and extent sharing as the filesystem reports it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <linux/fiemap.h>

namespace backy::test {

// A fresh directory removed (recursively) on destruction.
class TempDir {
 public:
  // Under `base` (created if missing).
  explicit TempDir(const std::filesystem::path& base, const std::string& prefix = "t");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// The XFS (reflink) mount that script/test provides in BACKY_TEST_XFS. Fails the test with a
// clear message when it is missing: CI must run these tests, never skip them.
std::filesystem::path xfs_mount();
// A directory on a filesystem without reflinks (/var/tmp, ext4 here), for the fallback tests.
std::filesystem::path non_reflink_dir();

struct ProcessResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// Runs argv[0] with the arguments, waits, captures output. `input` goes to stdin.
ProcessResult run(const std::vector<std::string>& argv, const std::string& input = "",
                  const std::map<std::string, std::string>& env = {});

// A child process running in the background; killed (SIGKILL) and reaped on destruction.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::filesystem::path& log_file,
        const std::map<std::string, std::string>& env = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  int pid() const { return pid_; }
  void signal(int signo);
  // Waits up to `seconds` for the exit; the exit code (128+N if killed), nullopt on time-out.
  std::optional<int> wait(double seconds);

 private:
  int pid_ = -1;
  std::optional<int> status_;
};

// Writes `len` pseudo-random bytes (from `seed`) at `offset`; extends the file if needed.
void write_random(const std::filesystem::path& file, uint64_t offset, uint64_t len, uint64_t seed);
// Creates a sparse file of `size` bytes.
void make_sparse(const std::filesystem::path& file, uint64_t size);
bool same_content(const std::filesystem::path& a, const std::filesystem::path& b);
// Calls `f` for every extent FIEMAP reports for `file`, in order.
void for_each_extent(const std::filesystem::path& file,
                     const std::function<void(const struct fiemap_extent&)>& f);
// Bytes of `file` in extents the filesystem marks shared (FIEMAP_EXTENT_SHARED).
uint64_t shared_bytes(const std::filesystem::path& file);
// Bytes actually allocated (st_blocks * 512).
uint64_t allocated_bytes(const std::filesystem::path& file);
// Writes a config file and returns its path.
std::filesystem::path write_config(const std::filesystem::path& dir, const std::string& yaml);
// Waits until `pred` is true or `seconds` pass; returns pred().
bool eventually(double seconds, const std::function<bool()>& pred);
// The seed of a randomised test: BACKY_TEST_SEED when set (to replay a failure), else a fresh
// one. Printed to stderr with `what`, so that a failure can be reproduced.
uint64_t test_seed(const std::string& what);

}  // namespace backy::test
