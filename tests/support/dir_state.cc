#include "support/dir_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <memory>
#include <vector>

namespace fs = std::filesystem;

namespace backy::test {

namespace {

std::string hex(const XXH128_hash_t& h) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

std::string describe(const EntryState& e) {
  return "mode " + std::to_string(e.mode) + ", size " + std::to_string(e.size) + ", mtime " +
         std::to_string(e.mtime_ns) + ", content " + e.content;
}

}  // namespace

std::string content_digest(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  INFO(file);
  REQUIRE(fd >= 0);
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                 &XXH3_freeState);
  XXH3_128bits_reset(state.get());
  std::vector<char> buf(1 << 20);
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0)
    XXH3_128bits_update(state.get(), buf.data(), static_cast<size_t>(n));
  ::close(fd);
  REQUIRE(n == 0);
  return hex(XXH3_128bits_digest(state.get()));
}

std::string content_digest(std::span<const char> bytes) {
  return hex(XXH3_128bits(bytes.data(), bytes.size()));
}

DirState dir_state(const fs::path& dir) {
  DirState out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    struct stat st {};
    REQUIRE(::lstat(entry.path().c_str(), &st) == 0);
    EntryState e;
    e.mode = st.st_mode;
    e.size = static_cast<uint64_t>(st.st_size);
    e.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (S_ISLNK(st.st_mode))
      e.content = fs::read_symlink(entry.path()).string();
    else if (S_ISREG(st.st_mode))
      e.content = content_digest(entry.path());
    out[entry.path().filename().string()] = e;
  }
  return out;
}

std::string dir_changes(const DirState& before, const DirState& after) {
  std::string out;
  for (const auto& [name, e] : before) {
    auto it = after.find(name);
    if (it == after.end())
      out += "vanished: " + name + "\n";
    else if (!(it->second == e))
      out += "changed: " + name + ": " + describe(e) + " -> " + describe(it->second) + "\n";
  }
  for (const auto& [name, e] : after)
    if (!before.contains(name)) out += "appeared: " + name + " (" + describe(e) + ")\n";
  return out;
}

}  // namespace backy::test
