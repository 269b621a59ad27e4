// Restore targets named by a path (lib/restore/file_target.cc) in a scratch directory: symlinks
// refused, new files without a name until complete, --force, base-dir, and nothing left by a
// failure.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <stop_token>

#include "restore/restore.h"
#include "scratch_dir.h"
#include "util/error.h"
#include "util/file_io.h"

using namespace backy;
namespace fs = std::filesystem;

namespace {

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// A 1 MiB image: 64 KiB of 'a', a hole, 64 KiB of 'b' at the end.
fs::path make_image(const fs::path& dir) {
  const fs::path p = dir / "image";
  UniqueFd fd = open_file(p, O_WRONLY | O_CREAT | O_TRUNC, 0440);
  REQUIRE(::ftruncate(fd.get(), 1 << 20) == 0);
  pwrite_full(fd.get(), std::string(65536, 'a'), 0, "image");
  pwrite_full(fd.get(), std::string(65536, 'b'), (1 << 20) - 65536, "image");
  return p;
}

}  // namespace

TEST_CASE("file target: a new file appears only when complete", "[restore]") {
  test::ScratchDir s;
  const fs::path image = make_image(s.dir);
  fs::create_directory(s.dir / "out");
  const fs::path target = s.dir / "out" / "r.img";
  auto t = open_file_target(target.string(), 1 << 20, false);
  // The file has no name until finish() (O_TMPFILE): a killed restore leaves nothing to clean.
  CHECK(entries(s.dir / "out").empty());
  restore_image(image, 1 << 20, *t);
  CHECK(entries(s.dir / "out") == std::set<std::string>{"r.img"});
  CHECK(read_file(target) == read_file(image));
}

TEST_CASE("file target: a failed or cancelled restore leaves nothing", "[restore]") {
  test::ScratchDir s;
  const fs::path image = make_image(s.dir);
  fs::create_directory(s.dir / "out");
  const fs::path target = s.dir / "out" / "r.img";
  {
    auto t = open_file_target(target.string(), 1 << 20, false);
    std::stop_source stop;
    stop.request_stop();
    CHECK_THROWS_AS(restore_image(image, 1 << 20, *t, {}, stop.get_token()), Cancelled);
  }
  CHECK(entries(s.dir / "out").empty());
  {
    // The image cannot be read: an error in the middle of the copy.
    auto t = open_file_target(target.string(), 1 << 20, false);
    fs::permissions(image, fs::perms(0600));
    UniqueFd unreadable = open_file(image, O_WRONLY);
    CHECK_THROWS_WITH(restore_image(unreadable.get(), "image", 1 << 20, *t),
                      Catch::Contains("read image"));
  }
  CHECK(entries(s.dir / "out").empty());
  // An existing file replaced with --force but abandoned: the old one stays as it was.
  std::ofstream(target) << "old";
  {
    auto t = open_file_target(target.string(), 1 << 20, true);
    t->write(0, std::string(10, 'x'));
  }
  CHECK(entries(s.dir / "out") == std::set<std::string>{"r.img"});
  CHECK(read_file(target) == "old");
}

TEST_CASE("file target: symlinks are refused, dangling or not, with --force too", "[restore]") {
  test::ScratchDir s;
  std::ofstream(s.dir / "real") << "real";
  fs::create_symlink(s.dir / "real", s.dir / "link");
  fs::create_symlink(s.dir / "nowhere", s.dir / "dangling");
  for (const char* name : {"link", "dangling"})
    for (bool force : {false, true})
      CHECK_THROWS_WITH(open_file_target((s.dir / name).string(), 4096, force),
                        Catch::Contains("is a symbolic link"));
  CHECK(read_file(s.dir / "real") == "real");
  CHECK_FALSE(fs::exists(fs::symlink_status(s.dir / "nowhere")));
  CHECK(entries(s.dir) == std::set<std::string>{"real", "link", "dangling"});
}

TEST_CASE("file target: an existing file needs --force, a directory is refused", "[restore]") {
  test::ScratchDir s;
  const fs::path image = make_image(s.dir);
  const fs::path target = s.dir / "r.img";
  std::ofstream(target) << "old";
  fs::permissions(target, fs::perms(0640));
  CHECK_THROWS_WITH(open_file_target(target.string(), 1 << 20, false),
                    Catch::Contains("exists; use --force"));
  auto t = open_file_target(target.string(), 1 << 20, true);
  restore_image(image, 1 << 20, *t);
  CHECK(read_file(target) == read_file(image));
  CHECK((fs::status(target).permissions() & fs::perms::all) == fs::perms(0640));  // kept
  CHECK_THROWS_WITH(open_file_target(s.dir.string(), 4096, true),
                    Catch::Contains("neither a regular file nor a block device"));
  CHECK_THROWS_WITH(open_file_target((s.dir / ".").string(), 4096, true),
                    Catch::Contains("names a directory"));
}

TEST_CASE("file target: nothing inside the refused directory, however it is spelled", "[restore]") {
  test::ScratchDir s;
  const fs::path base = s.dir / "base";
  fs::create_directories(base / "job");
  fs::create_directory_symlink(base / "job", s.dir / "alias");
  FileTargetOptions options;
  options.refuse_inside = base;
  for (const fs::path& target :
       {base / "x.img", base / "job" / "latest", s.dir / "alias" / "x", base / "job" / ".." / "y"})
    CHECK_THROWS_WITH(open_file_target(target.string(), 4096, true, options),
                      Catch::Contains("is inside base-dir"));
  CHECK(entries(base / "job").empty());
  CHECK_NOTHROW(open_file_target((s.dir / "fine.img").string(), 4096, false, options));
}
