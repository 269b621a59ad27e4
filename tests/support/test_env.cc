#include "support/test_env.h"

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

namespace fs = std::filesystem;

namespace backy::test {

TempDir::TempDir(const fs::path& base, const std::string& prefix) {
  fs::create_directories(base);
  std::string tmpl = (base / (prefix + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl + " failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  // Revisions are 0440: removal needs write permission on the directory only, which we have.
  fs::remove_all(path_, ec);
}

fs::path xfs_mount() {
  const char* dir = std::getenv("BACKY_TEST_XFS");
  if (!dir || !*dir)
    FAIL(
        "BACKY_TEST_XFS is not set: run the tests through script/test, which mounts an XFS "
        "loop filesystem with reflinks (needs root)");
  return dir;
}

fs::path non_reflink_dir() {
  fs::path p = "/var/tmp/backy-tests";
  fs::create_directories(p);
  return p;
}

namespace {

std::vector<char*> cstrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

void apply_env(const std::map<std::string, std::string>& env) {
  for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
}

// In a forked child: stdin, stdout and stderr from `in`, `out` and `err`, `env` set, then `argv`
// run in place of the child (exit status 127 when it cannot be).
[[noreturn]] void exec_child(int in, int out, int err, const std::vector<std::string>& argv,
                             const std::map<std::string, std::string>& env) {
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  apply_env(env);
  auto args = cstrings(argv);
  ::execvp(args[0], args.data());
  ::_exit(127);
}

std::string drain(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

int decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ProcessResult run(const std::vector<std::string>& argv, const std::string& input,
                  const std::map<std::string, std::string>& env) {
  // stdout/stderr go to temp files: no pipe deadlock however much the child prints.
  char out_name[] = "/tmp/backy-test-out-XXXXXX";
  char err_name[] = "/tmp/backy-test-err-XXXXXX";
  char in_name[] = "/tmp/backy-test-in-XXXXXX";
  int out_fd = ::mkstemp(out_name), err_fd = ::mkstemp(err_name), in_fd = ::mkstemp(in_name);
  REQUIRE((out_fd >= 0 && err_fd >= 0 && in_fd >= 0));
  ::unlink(out_name);
  ::unlink(err_name);
  ::unlink(in_name);
  REQUIRE(::write(in_fd, input.data(), input.size()) == static_cast<ssize_t>(input.size()));
  ::lseek(in_fd, 0, SEEK_SET);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) exec_child(in_fd, out_fd, err_fd, argv, env);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ProcessResult r;
  r.exit_code = decode(status);
  ::lseek(out_fd, 0, SEEK_SET);
  ::lseek(err_fd, 0, SEEK_SET);
  r.out = drain(out_fd);
  r.err = drain(err_fd);
  ::close(out_fd);
  ::close(err_fd);
  ::close(in_fd);
  return r;
}

Child::Child(const std::vector<std::string>& argv, const fs::path& log_file,
             const std::map<std::string, std::string>& env) {
  int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  REQUIRE(log_fd >= 0);
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) exec_child(::open("/dev/null", O_RDONLY), log_fd, log_fd, argv, env);
  ::close(log_fd);
}

Child::~Child() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
}

void Child::signal(int signo) {
  if (!status_) ::kill(pid_, signo);
}

std::optional<int> Child::wait(double seconds) {
  if (status_) return status_;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = decode(status);
      return status_;
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void write_random(const fs::path& file, uint64_t offset, uint64_t len, uint64_t seed) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> buf(1 << 17);  // 1 MiB
  uint64_t done = 0;
  while (done < len) {
    for (auto& w : buf) w = rng();
    size_t n = static_cast<size_t>(std::min<uint64_t>(len - done, buf.size() * 8));
    REQUIRE(::pwrite(fd, buf.data(), n, static_cast<off_t>(offset + done)) ==
            static_cast<ssize_t>(n));
    done += n;
  }
  ::close(fd);
}

void make_sparse(const fs::path& file, uint64_t size) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
  ::close(fd);
}

bool same_content(const fs::path& a, const fs::path& b) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa || !fb) return false;
  std::vector<char> ba(1 << 20), bb(1 << 20);
  for (;;) {
    fa.read(ba.data(), static_cast<std::streamsize>(ba.size()));
    fb.read(bb.data(), static_cast<std::streamsize>(bb.size()));
    if (fa.gcount() != fb.gcount()) return false;
    if (std::memcmp(ba.data(), bb.data(), static_cast<size_t>(fa.gcount())) != 0) return false;
    if (fa.gcount() == 0) return true;
  }
}

void for_each_extent(const fs::path& file, const std::function<void(const fiemap_extent&)>& f) {
  int fd = ::open(file.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  constexpr unsigned kExtents = 512;
  std::vector<char> buf(sizeof(fiemap) + kExtents * sizeof(fiemap_extent));
  uint64_t start = 0;
  for (bool last = false; !last;) {
    auto* fm = reinterpret_cast<fiemap*>(buf.data());
    std::memset(buf.data(), 0, buf.size());
    fm->fm_start = start;
    fm->fm_length = FIEMAP_MAX_OFFSET - start;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = kExtents;
    REQUIRE(::ioctl(fd, FS_IOC_FIEMAP, fm) == 0);
    if (fm->fm_mapped_extents == 0) break;
    for (unsigned i = 0; i < fm->fm_mapped_extents; ++i) {
      const fiemap_extent& e = fm->fm_extents[i];
      f(e);
      start = e.fe_logical + e.fe_length;
      if (e.fe_flags & FIEMAP_EXTENT_LAST) last = true;
    }
  }
  ::close(fd);
}

uint64_t shared_bytes(const fs::path& file) {
  uint64_t shared = 0;
  for_each_extent(file, [&](const fiemap_extent& e) {
    if (e.fe_flags & FIEMAP_EXTENT_SHARED) shared += e.fe_length;
  });
  return shared;
}

uint64_t allocated_bytes(const fs::path& file) {
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

fs::path write_config(const fs::path& dir, const std::string& yaml) {
  fs::path p = dir / "backy.yaml";
  std::ofstream(p) << yaml;
  return p;
}

bool eventually(double seconds, const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

uint64_t test_seed(const std::string& what) {
  const char* fixed = std::getenv("BACKY_TEST_SEED");
  const uint64_t seed = fixed && *fixed ? std::stoull(fixed) : std::random_device{}();
  std::fprintf(stderr, "%s: seed %llu (BACKY_TEST_SEED=%llu replays it)\n", what.c_str(),
               static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  return seed;
}

}  // namespace backy::test
