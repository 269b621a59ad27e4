// `backyctl restore` to files, devices and stdout against a real backyd on the real XFS mount:
// backyctl writes the target with its own rights from the image the daemon passes, and refuses
// what would hurt: the repository itself, symlinks, existing files without --force, mounted
// devices, files the caller may not write. A failed or interrupted restore leaves neither the
// target nor a temp file.
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "integration/ctl_support.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace backy::test;

namespace {

constexpr unsigned kTestUid = 61017;  // no passwd entry needed: setpriv takes numbers
constexpr unsigned kNoGroup = 65534;

// A loop device on an image file, optionally with an ext4 filesystem mounted from it.
class LoopDevice {
 public:
  LoopDevice(const fs::path& image, uint64_t size) {
    make_sparse(image, size);
    ProcessResult r = run({"losetup", "-f", "--show", image.string()});
    REQUIRE(r.exit_code == 0);
    device_ = r.out.substr(0, r.out.find('\n'));
  }
  ~LoopDevice() {
    if (!mount_point_.empty()) run({"umount", mount_point_.string()});
    run({"losetup", "-d", device_});
  }
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;

  void mkfs_and_mount(const fs::path& at) {
    REQUIRE(run({"mkfs.ext4", "-q", "-F", device_}).exit_code == 0);
    fs::create_directories(at);
    REQUIRE(run({"mount", device_, at.string()}).exit_code == 0);
    mount_point_ = at;
  }
  void unmount() {
    REQUIRE(run({"umount", mount_point_.string()}).exit_code == 0);
    mount_point_.clear();
  }
  const std::string& path() const { return device_; }

 private:
  std::string device_;
  fs::path mount_point_;
};

// Names in `dir` (temp files of an unfinished restore start with '.').
std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

std::string read_all(const fs::path& p, uint64_t limit = UINT64_MAX) {
  std::ifstream in(p, std::ios::binary);
  std::string s(std::istreambuf_iterator<char>(in), {});
  if (s.size() > limit) s.resize(limit);
  return s;
}

// A daemon with job vm1 backed up once; the revision's uuid and image.
struct OneRevision {
  explicit OneRevision(const std::string& extra_global = "", uint64_t seed = 31)
      : src(xfs_mount(), "restore-src"),
        img(source_image(src.path(), "vm1.img", seed)),
        d({{"vm1", img}}, extra_global) {
    fs::permissions(src.path(), fs::perms(0755));
    REQUIRE(d.wait_revisions("vm1", 1));
    // The revision is listed at its commit; the run then rewrites its .rev with the whole run's
    // figures (<uuid>.rev.tmp, renamed). Tests that compare the job directory before and after
    // a command start once the run has ended.
    REQUIRE(d.wait_idle("vm1"));
    uuid = d.ctl_json({"status", "vm1"})["revisions"][0]["uuid"];
    image = d.image("vm1", uuid);
  }
  // `restore vm1 0 TARGET`, without and with --force: refused each time, saying `why`.
  void check_refused(const fs::path& target, const std::string& why) {
    for (bool force : {false, true}) {
      std::vector<std::string> args{"restore", "vm1", "0", target.string()};
      if (force) args.push_back("--force");
      ProcessResult p = d.ctl(args);
      INFO(p.err);
      CHECK(p.exit_code == 1);
      CHECK(p.err.find(why) != std::string::npos);
    }
  }
  TempDir src;
  std::string img;
  CtlTestDaemon d;
  std::string uuid;
  fs::path image;
};

}  // namespace

TEST_CASE("restore onto base-dir/JOB/latest is refused and the revision stays intact",
          "[restore]") {
  OneRevision r;
  const fs::path latest = r.image.parent_path() / "latest";
  const std::string before = read_all(r.image);
  r.check_refused(latest, "inside base-dir");
  CHECK(fs::is_symlink(latest));
  CHECK(read_all(r.image) == before);
  CHECK(same_content(r.image, r.img));
  ProcessResult scrub = r.d.ctl({"scrub", "vm1"});
  CHECK(scrub.exit_code == 0);
  CHECK(scrub.out.find(r.uuid + ": verified") != std::string::npos);
}

TEST_CASE("restore into base-dir through another path to it is refused", "[restore]") {
  OneRevision r;
  // A symlink outside base-dir to the job directory: the path does not look like base-dir, the
  // directory is.
  const fs::path alias = r.src / "alias";
  fs::create_directory_symlink(r.image.parent_path(), alias);
  // Without the records of the source's state (<uuid>.snapshot): the source cleaner forgets
  // them on its own thread after a run, whenever it gets to it.
  auto job_entries = [&] {
    std::set<std::string> out = entries(r.image.parent_path());
    std::erase_if(out, [](const std::string& name) { return name.ends_with(".snapshot"); });
    return out;
  };
  const auto before = job_entries();
  ProcessResult p = r.d.ctl({"restore", "vm1", "0", (alias / "new.img").string(), "--force"});
  INFO(p.err);
  CHECK(p.exit_code == 1);
  CHECK(p.err.find("inside base-dir") != std::string::npos);
  CHECK(job_entries() == before);
  CHECK(same_content(r.image, r.img));
}

TEST_CASE("restore to a dangling symlink is refused and nothing appears at its destination",
          "[restore]") {
  OneRevision r;
  const fs::path victim = r.src / "victim.img", link = r.src / "link.img";
  fs::create_symlink(victim, link);
  r.check_refused(link, "symbolic link");
  CHECK_FALSE(fs::exists(fs::symlink_status(victim)));
  CHECK(fs::is_symlink(link));
  CHECK(entries(r.src.path()) == std::set<std::string>{"link.img", "vm1.img"});
}

TEST_CASE("restore to an existing file needs --force and then replaces it whole", "[restore]") {
  OneRevision r;
  const fs::path target = r.src / "existing.img";
  std::ofstream(target) << "keep me";
  ProcessResult refused = r.d.ctl({"restore", "vm1", "0", target.string()});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("exists; use --force") != std::string::npos);
  CHECK(read_all(target) == "keep me");

  ProcessResult forced = r.d.ctl({"restore", "vm1", "0", target.string(), "--force"});
  INFO(forced.err);
  REQUIRE(forced.exit_code == 0);
  CHECK(same_content(target, r.image));
  CHECK(entries(r.src.path()) == std::set<std::string>{"existing.img", "vm1.img"});
  // A new file keeps the revision's holes.
  const fs::path fresh = r.src / "fresh.img";
  REQUIRE(r.d.ctl({"restore", "vm1", "0", fresh.string()}).exit_code == 0);
  CHECK(same_content(fresh, r.image));
  CHECK(allocated_bytes(fresh) <= 6u << 20);  // 5 MiB of data in 32 MiB
}

TEST_CASE("restore to a file on the repository's XFS is a reflink, elsewhere a sparse copy",
          "[restore]") {
  OneRevision r;  // 5 MiB of data in 32 MiB
  const fs::path same_fs = r.src / "reflinked.img";
  ProcessResult p = r.d.ctl({"restore", "vm1", "0", same_fs.string()});
  INFO(p.err);
  REQUIRE(p.exit_code == 0);
  CHECK(same_content(same_fs, r.image));
  // Every data byte is shared with the revision (nothing was copied)...
  CHECK(shared_bytes(same_fs) >= 5u << 20);
  CHECK(shared_bytes(same_fs) == allocated_bytes(same_fs));
  // ...and writing to the restored file leaves the revision as it was.
  const std::string before = read_all(r.image);
  {
    std::fstream f(same_fs, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f << "overwritten";
  }
  CHECK(read_all(r.image) == before);

  TempDir other(non_reflink_dir(), "restore-copy");
  const fs::path copy = other / "copied.img";
  ProcessResult q = r.d.ctl({"restore", "vm1", "0", copy.string()});
  INFO(q.err);
  REQUIRE(q.exit_code == 0);
  CHECK(same_content(copy, r.image));
  CHECK(allocated_bytes(copy) <= 6u << 20);
}

TEST_CASE("an admin-group member restores as itself: its file, never one it may not write",
          "[restore]") {
  TestGroup group("backy-rt");
  OneRevision r("  admin-group: " + group.name() + "\n");
  REQUIRE(run({"chgrp", group.name(), r.d.socket()}).exit_code == 0);
  // Under /tmp: the user must reach the directory, and the XFS mount's parents may be private
  // (script/test mounts it under a 0700 mktemp directory).
  TempDir out("/tmp", "backy-restore-user");
  fs::permissions(out.path(), fs::perms(0755));
  REQUIRE(::chown(out.path().c_str(), kTestUid, kNoGroup) == 0);
  const std::string groups = std::to_string(group.gid());

  // Admin by a supplementary group only (primary: nogroup).
  const fs::path mine = out / "mine.img";
  ProcessResult p = r.d.ctl_as(kTestUid, kNoGroup, groups, {"restore", "vm1", "0", mine.string()});
  INFO(p.err);
  REQUIRE(p.exit_code == 0);
  struct stat st {};
  REQUIRE(::stat(mine.c_str(), &st) == 0);
  CHECK(st.st_uid == kTestUid);
  CHECK(same_content(mine, r.image));

  // stdout: the image is 0440 root, unreadable to this user; the fd from the daemon is not.
  ProcessResult stream = r.d.ctl_as(kTestUid, kNoGroup, groups, {"restore", "vm1", "0", "-"});
  REQUIRE(stream.exit_code == 0);
  CHECK(stream.out == read_all(r.image));

  // A root-owned file in the user's own directory: rename could replace it, restore must not.
  const fs::path roots = out / "roots.img";
  std::ofstream(roots) << "root's";
  fs::permissions(roots, fs::perms(0644));
  ProcessResult over =
      r.d.ctl_as(kTestUid, kNoGroup, groups, {"restore", "vm1", "0", roots.string(), "--force"});
  CHECK(over.exit_code == 1);
  CHECK(over.err.find("cannot overwrite " + roots.string()) != std::string::npos);
  CHECK(over.err.find("Permission denied") != std::string::npos);
  CHECK(read_all(roots) == "root's");
  // A directory the user may not write: nothing is created.
  ProcessResult elsewhere = r.d.ctl_as(kTestUid, kNoGroup, groups,
                                       {"restore", "vm1", "0", (r.src / "theirs.img").string()});
  CHECK(elsewhere.exit_code == 1);
  CHECK(elsewhere.err.find("Permission denied") != std::string::npos);
  CHECK_FALSE(fs::exists(r.src / "theirs.img"));
  CHECK(entries(out.path()) == std::set<std::string>{"mine.img", "roots.img"});

  // Without the group the same user is refused by the daemon (once it may connect at all).
  fs::permissions(r.d.socket(), fs::perms(0666));
  ProcessResult outsider = r.d.ctl_as(kTestUid, kNoGroup, std::to_string(kNoGroup),
                                      {"restore", "vm1", "0", (out / "no.img").string()});
  CHECK(outsider.exit_code == 1);
  CHECK(outsider.err.find("[permission_denied]") != std::string::npos);
  CHECK_FALSE(fs::exists(out / "no.img"));
}

TEST_CASE("restore stopped by SIGTERM or SIGKILL leaves no target and no temp file", "[restore]") {
  // SIGTERM: backyctl removes what it wrote; SIGKILL: nothing had a name yet (O_TMPFILE).
  const int signo = GENERATE(SIGTERM, SIGKILL);
  TempDir src(xfs_mount(), "restore-big");
  const fs::path img = src / "big.img";
  write_random(img, 0, 768u << 20, 77);
  CtlTestDaemon d({{"vm1", img.string()}});
  REQUIRE(eventually(180, [&] {
    ProcessResult st = d.ctl({"status", "vm1", "--json"});
    return st.exit_code == 0 && json::parse(st.out)["revisions"].size() == 1;
  }));
  // Not the repository's XFS: there the restore is a reflink, done before a signal could land.
  TempDir out(non_reflink_dir(), "restore-out");
  const fs::path target = out / "big-restored.img";
  Child ctl({BACKYCTL_PATH, "-s", d.socket(), "restore", "vm1", "0", target.string()},
            src / "ctl.log");
  // The first progress line comes after the first block: the copy is under way.
  REQUIRE(eventually(
      60, [&] { return read_all(src / "ctl.log").find("restore ") != std::string::npos; }));
  ctl.signal(signo);
  CHECK(ctl.wait(60) == 128 + signo);
  INFO(read_all(src / "ctl.log"));
  if (signo == SIGTERM) CHECK(read_all(src / "ctl.log").find("interrupted") != std::string::npos);
  CHECK(entries(out.path()).empty());
}

TEST_CASE("restore into a directory that fills up leaves no target and no temp file", "[restore]") {
  OneRevision r;  // 5 MiB of data: more than the small filesystem below can take
  TempDir work(xfs_mount(), "restore-full");
  LoopDevice loop(work / "small.fs", 4u << 20);
  loop.mkfs_and_mount(work / "mnt");
  ProcessResult p = r.d.ctl({"restore", "vm1", "0", (work / "mnt" / "r.img").string()});
  INFO(p.err);
  CHECK(p.exit_code == 1);
  CHECK(p.err.find("No space left") != std::string::npos);
  auto left = entries(work / "mnt");
  left.erase("lost+found");
  CHECK(left.empty());
}

TEST_CASE("restore to a mounted block device is refused, to an unmounted one it writes",
          "[restore]") {
  OneRevision r;
  TempDir work(xfs_mount(), "restore-dev");
  LoopDevice loop(work / "dev.img", 64u << 20);
  loop.mkfs_and_mount(work / "mnt");
  std::ofstream(work / "mnt" / "precious") << "data";

  ProcessResult unforced = r.d.ctl({"restore", "vm1", "0", loop.path()});
  CHECK(unforced.exit_code == 1);
  CHECK(unforced.err.find("block device") != std::string::npos);
  CHECK(unforced.err.find("--force") != std::string::npos);
  ProcessResult mounted = r.d.ctl({"restore", "vm1", "0", loop.path(), "--force"});
  INFO(mounted.err);
  CHECK(mounted.exit_code == 1);
  CHECK(mounted.err.find("in use") != std::string::npos);
  CHECK(read_all(work / "mnt" / "precious") == "data");

  loop.unmount();
  ProcessResult written = r.d.ctl({"restore", "vm1", "0", loop.path(), "--force"});
  INFO(written.err);
  REQUIRE(written.exit_code == 0);
  CHECK(read_all(loop.path(), 32u << 20) == read_all(r.image));
}
