// `backyctl mount/umount/mounts` and `backyctl clone` against a real backyd on the real XFS
// mount (issue "Restore in seconds"): a real disk image with a GPT table, an ext4 and an XFS
// partition holding known files, backed up once clean and once while both filesystems were
// mounted (dirty journals). Each revision's files are read back through the mounts, the
// revisions stay byte-for-byte as they were (scrub, checksums), nothing is left behind, and a
// mounted revision is neither forgotten nor expired. backyctl makes the mounts (in this test's
// mount namespace); the daemon's record holds the revision until backyctl confirms, and without
// a confirmation (backyctl killed) nothing is left.
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "integration/ctl_support.h"
#include "protocol/message.h"
#include "support/test_env.h"
#include "util/fd.h"
#include "util/fd_passing.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace backy::test;

namespace {

constexpr uint64_t kSector = 512;
constexpr uint64_t kExtStart = 2048, kExtSectors = 40 << 11;                      // 40 MiB at 1 MiB
constexpr uint64_t kXfsStart = kExtStart + kExtSectors, kXfsSectors = 310 << 11;  // 310 MiB
constexpr uint64_t kDiskBytes = (kXfsStart + kXfsSectors + 2048) * kSector;

constexpr unsigned kAdminUid = 61018;  // no passwd entry needed: setpriv takes numbers

// A loop device over a byte range of a file, detached (and unmounted) on destruction.
class TestLoop {
 public:
  TestLoop(const fs::path& file, uint64_t start, uint64_t sectors) {
    ProcessResult r = run({"losetup", "-f", "--show", "-o", std::to_string(start * kSector),
                           "--sizelimit", std::to_string(sectors * kSector), file.string()});
    REQUIRE(r.exit_code == 0);
    device_ = r.out.substr(0, r.out.find('\n'));
  }
  ~TestLoop() {
    if (!mounted_.empty()) run({"umount", mounted_.string()});
    run({"losetup", "-d", device_});
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;
  const std::string& device() const { return device_; }
  void mount(const fs::path& at, const std::string& options = "") {
    fs::create_directories(at);
    std::vector<std::string> argv{"mount"};
    if (!options.empty()) argv.insert(argv.end(), {"-o", options});
    argv.insert(argv.end(), {device_, at.string()});
    REQUIRE(run(argv).exit_code == 0);
    mounted_ = at;
  }
  void unmount() {
    REQUIRE(run({"umount", mounted_.string()}).exit_code == 0);
    mounted_.clear();
  }

 private:
  std::string device_;
  fs::path mounted_;
};

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// The files of one state of the guest, kept on the host to diff the mounts against.
void files_v1(const fs::path& dir, uint64_t seed) {
  write_text(dir / "etc/hostname", "guest\n");
  write_text(dir / "home/user/notes.txt", "first version\n");
  fs::create_directories(dir / "var");
  write_random(dir / "var/data.bin", 0, 1 << 20, seed);
}
void files_v2(const fs::path& dir, uint64_t seed) {
  write_text(dir / "home/user/notes.txt", "second version, longer than the first\n");
  write_text(dir / "home/user/new.txt", "only in the second revision\n");
  write_random(dir / "var/data.bin", 4096, 8192, seed + 1);
  fs::remove(dir / "etc/hostname");
}

// The XFS partition's files are copied in through a mount (mkfs.xfs has no -d).
void copy_into(const fs::path& from, const fs::path& mounted) {
  REQUIRE(run({"cp", "-a", (from / ".").string(), mounted.string()}).exit_code == 0);
  REQUIRE(run({"sync", "-f", mounted.string()}).exit_code == 0);
}

bool same_tree(const fs::path& expected, const fs::path& mounted) {
  ProcessResult r =
      run({"diff", "-r", "--exclude=lost+found", expected.string(), mounted.string()});
  if (r.exit_code != 0) WARN("diff " << expected << " " << mounted << ":\n" << r.out << r.err);
  return r.exit_code == 0;
}

std::string sha256(const fs::path& p) {
  ProcessResult r = run({"sha256sum", p.string()});
  REQUIRE(r.exit_code == 0);
  return r.out.substr(0, 64);
}

bool mounted_at(const fs::path& dir) {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);)
    if (line.find(" " + dir.string() + " ") != std::string::npos) return true;
  return false;
}

// Loop devices whose backing file lies under `dir` (losetup names the backing file).
size_t loops_under(const fs::path& dir) {
  ProcessResult r = run({"losetup", "-a"});
  size_t n = 0;
  for (size_t p = r.out.find(dir.string()); p != std::string::npos;
       p = r.out.find(dir.string(), p + 1))
    ++n;
  return n;
}

// Whether process `pid` is stopped (state T in /proc/PID/stat).
bool stopped(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && stat.size() > paren + 2 && stat[paren + 2] == 'T';
}

// A client of the control socket that speaks line by line, as backyctl does, keeping the
// descriptors the daemon passes.
class RawClient {
 public:
  explicit RawClient(const std::string& socket) : fd_(::socket(AF_UNIX, SOCK_STREAM, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    socket.copy(addr.sun_path, sizeof addr.sun_path - 1);
    REQUIRE(::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    timeval tv{60, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send_line(const std::string& line) {
    REQUIRE(::send(fd_.get(), line.data(), line.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(line.size()));
  }
  // The next final reply.
  backy::protocol::Reply reply() {
    for (;;) {
      const size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        auto r = backy::protocol::parse_reply(buffer_.substr(0, nl));
        buffer_.erase(0, nl + 1);
        if (r.final) return r;
        continue;
      }
      std::vector<char> chunk(4096);
      const ssize_t n = backy::receive_with_fds(fd_.get(), chunk, fds);
      REQUIRE(n > 0);
      buffer_.append(chunk.data(), static_cast<size_t>(n));
    }
  }
  std::vector<backy::UniqueFd> fds;

 private:
  backy::UniqueFd fd_;
  std::string buffer_;
};

// Whatever a failed test left mounted at these directories goes, so TempDir can remove them.
struct UnmountAtEnd {
  std::vector<fs::path> dirs;
  ~UnmountAtEnd() {
    for (const auto& d : dirs)
      if (mounted_at(d)) run({"umount", "-l", d.string()});
  }
};

// Writes the disk: GPT, partition 1 ext4 (40 MiB), partition 2 XFS (310 MiB).
void make_disk(const fs::path& disk, const fs::path& v1, uint64_t seed) {
  make_sparse(disk, kDiskBytes);
  const std::string table = "label: gpt\n" + std::to_string(kExtStart) + "," +
                            std::to_string(kExtSectors) + ",L\n" + std::to_string(kXfsStart) + "," +
                            std::to_string(kXfsSectors) + ",L\n";
  REQUIRE(run({"sfdisk", "-q", disk.string()}, table).exit_code == 0);
  files_v1(v1, seed);
  TestLoop ext(disk, kExtStart, kExtSectors), xfs(disk, kXfsStart, kXfsSectors);
  REQUIRE(run({"mkfs.ext4", "-q", "-d", v1.string(), ext.device()}).exit_code == 0);
  REQUIRE(run({"mkfs.xfs", "-q", xfs.device()}).exit_code == 0);
  xfs.mount(disk.parent_path() / "mnt-xfs");
  copy_into(v1, disk.parent_path() / "mnt-xfs");
  xfs.unmount();
}

struct Disk {
  Disk()
      : host(xfs_mount(), "mount-src"),
        seed(test_seed("mount_test")),
        disk(host / "disk.img"),
        v1(host / "v1"),
        v2(host / "v2") {
    fs::permissions(host.path(), fs::perms(0755));
    make_disk(disk, v1, seed);
  }
  TempDir host;
  uint64_t seed;
  fs::path disk, v1, v2;
};

}  // namespace

TEST_CASE("mount shows each revision's ext4 and XFS files, dirty journals replayed into a clone",
          "[mount]") {
  Disk disk;
  TestGroup admins("backy-mt");
  CtlTestDaemon d({{"vm1", disk.disk.string()}}, "  admin-group: " + admins.name() + "\n");
  REQUIRE(d.wait_revisions("vm1", 1));  // revision 1: both filesystems clean

  // Revision 2 is taken while both filesystems are mounted and written: dirty journals.
  {
    fs::copy(disk.v1, disk.v2, fs::copy_options::recursive);
    files_v2(disk.v2, disk.seed);
    TestLoop ext(disk.disk, kExtStart, kExtSectors), xfs(disk.disk, kXfsStart, kXfsSectors);
    ext.mount(disk.host / "mnt-ext");
    xfs.mount(disk.host / "mnt-xfs");
    for (const auto& m : {disk.host / "mnt-ext", disk.host / "mnt-xfs"}) {
      files_v2(m, disk.seed);  // the same changes as to v2
      REQUIRE(run({"sync", "-f", m.string()}).exit_code == 0);
    }
    REQUIRE(d.wait_idle("vm1"));
    REQUIRE(d.ctl({"run", "vm1", "--wait"}).exit_code == 0);
  }
  const json revs = d.ctl_json({"status", "vm1"})["revisions"];
  REQUIRE(revs.size() == 2);
  const std::string old_uuid = revs[0]["uuid"], new_uuid = revs[1]["uuid"];
  const std::string old_sum = sha256(d.image("vm1", old_uuid)),
                    new_sum = sha256(d.image("vm1", new_uuid));

  TempDir where(xfs_mount(), "mount-at");
  UnmountAtEnd guard{{where / "old-ext", where / "old-xfs", where / "new-ext", where / "new-xfs"}};
  for (const auto& m : guard.dirs) fs::create_directory(m);
  auto mount = [&](const std::string& rev, const fs::path& at, const std::string& part) {
    return d.ctl({"mount", "vm1", rev, at.string(), "--partition", part});
  };
  for (auto [rev, name] : {std::pair{old_uuid, "old"}, std::pair{new_uuid, "new"}}) {
    ProcessResult r = mount(rev, where / (std::string(name) + "-ext"), "1");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("ext4") && Catch::Contains("read-only"));
    r = mount(rev, where / (std::string(name) + "-xfs"), "2");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);  // both XFS at once: nouuid
  }
  CHECK(same_tree(disk.v1, where / "old-ext"));
  CHECK(same_tree(disk.v1, where / "old-xfs"));
  CHECK(same_tree(disk.v2, where / "new-ext"));  // only after the journal replay
  CHECK(same_tree(disk.v2, where / "new-xfs"));
  // Read-only, whatever the filesystem's own state.
  CHECK(::access((where / "new-ext").c_str(), W_OK) != 0);

  const json list = d.ctl_json({"mounts"})["mounts"];
  CHECK(list.size() == 4);
  for (const auto& m : list) CHECK(m["mounted"] == true);
  // Held: forget is refused, naming the mount.
  ProcessResult forget = d.ctl({"forget", "vm1", old_uuid});
  CHECK(forget.exit_code != 0);
  CHECK_THAT(forget.err, Catch::Contains("mounted at " + (where / "old-ext").string()));
  // A directory in use, not empty, or mounted by nobody is refused.
  CHECK(mount(old_uuid, where / "old-ext", "1").exit_code != 0);
  CHECK(d.ctl({"umount", where.path().string()}).exit_code != 0);
  // Not for the admin group, not for anyone but root; the list is for anyone.
  const std::string gid = std::to_string(admins.gid());
  ProcessResult admin = d.ctl_as(kAdminUid, admins.gid(), gid, {"mounts"});
  CHECK(admin.exit_code == 0);
  admin = d.ctl_as(kAdminUid, admins.gid(), gid, {"umount", (where / "old-ext").string()});
  CHECK(admin.exit_code != 0);
  CHECK_THAT(admin.err, Catch::Contains("needs root"));
  admin = d.ctl_as(kAdminUid, admins.gid(), gid,
                   {"mount", "vm1", old_uuid, (where / "spare").string()});
  CHECK_THAT(admin.err, Catch::Contains("needs root"));
  CHECK(d.ctl_as(kAdminUid, admins.gid(), gid, {"forget", "vm1", old_uuid}).exit_code != 0);

  for (const auto& m : guard.dirs) {
    ProcessResult r = d.ctl({"umount", m.string()});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK_FALSE(mounted_at(m));
  }
  CHECK(d.ctl_json({"mounts"})["mounts"].empty());
  CHECK(loops_under(d.dir()) == 0);  // the clones' loop devices went with the mounts
  CHECK(fs::is_empty(d.dir() / "base" / ".mounts"));

  // The revisions are as they were: same bytes, and their checksums agree.
  CHECK(sha256(d.image("vm1", old_uuid)) == old_sum);
  CHECK(sha256(d.image("vm1", new_uuid)) == new_sum);
  const json scrub = d.ctl_json({"scrub", "vm1", "all"});
  for (const auto& r : scrub["revisions"]) {
    CHECK(r["trust"] == "verified");
    CHECK(r["bad_blocks"].empty());
  }
  CHECK(d.ctl({"forget", "vm1", old_uuid}).exit_code == 0);  // released
}

TEST_CASE("mount chooses the largest Linux partition, and names them all when it cannot",
          "[mount]") {
  Disk disk;
  CtlTestDaemon d({{"vm1", disk.disk.string()}});
  REQUIRE(d.wait_revisions("vm1", 1));
  TempDir where(xfs_mount(), "mount-at");
  UnmountAtEnd guard{{where / "m"}};
  fs::create_directory(where / "m");
  ProcessResult r = d.ctl({"mount", "vm1", "latest", (where / "m").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("xfs") && Catch::Contains("partition 2"));
  CHECK(same_tree(disk.v1, where / "m"));
  REQUIRE(d.ctl({"umount", (where / "m").string()}).exit_code == 0);

  r = d.ctl({"mount", "vm1", "latest", (where / "m").string(), "--partition", "3"});
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains("no partition 3") && Catch::Contains("1: 40 MiB at 1 MiB") &&
                        Catch::Contains("2: 310 MiB"));
  CHECK(d.ctl_json({"mounts"})["mounts"].empty());  // nothing left of the failed attempt
  CHECK(fs::is_empty(d.dir() / "base" / ".mounts"));
  // A link on the way to DIR, or DIR inside base-dir, is refused.
  fs::create_directory_symlink(where / "m", where / "link");
  r = d.ctl({"mount", "vm1", "latest", (where / "link").string()});
  CHECK_THAT(r.err, Catch::Contains("symbolic link"));
  fs::create_directory(d.dir() / "base" / "inside");
  r = d.ctl({"mount", "vm1", "latest", (d.dir() / "base" / "inside").string()});
  CHECK_THAT(r.err, Catch::Contains("inside base-dir"));
}

TEST_CASE("expiry skips a mounted revision and deletes it once unmounted", "[mount]") {
  Disk disk;
  CtlTestDaemon d({{"vm1", disk.disk.string()}});
  REQUIRE(d.wait_revisions("vm1", 1));
  // A revision without tags that is not the newest is deleted by the next run's expiry.
  REQUIRE(d.wait_idle("vm1"));
  REQUIRE(d.ctl({"run", "vm1", "--tags", "manual:a", "--wait"}).exit_code == 0);
  const std::string held = d.ctl_json({"status", "vm1"})["revisions"][1]["uuid"];
  REQUIRE(d.ctl({"tags", "vm1", held, "--remove", "manual:a"}).exit_code == 0);
  TempDir where(xfs_mount(), "mount-at");
  UnmountAtEnd guard{{where / "m"}};
  fs::create_directory(where / "m");
  REQUIRE(d.ctl({"mount", "vm1", held, (where / "m").string()}).exit_code == 0);
  REQUIRE(d.wait_idle("vm1"));
  REQUIRE(d.ctl({"run", "vm1", "--tags", "manual:b", "--wait"}).exit_code == 0);
  auto uuids = [&] {
    std::vector<std::string> out;
    const json status = d.ctl_json({"status", "vm1"});
    for (const auto& r : status["revisions"]) out.push_back(r["uuid"]);
    return out;
  };
  auto has = [&](const std::string& u) {
    auto all = uuids();
    return std::find(all.begin(), all.end(), u) != all.end();
  };
  CHECK(has(held));
  REQUIRE(d.ctl({"umount", (where / "m").string()}).exit_code == 0);
  REQUIRE(d.wait_idle("vm1"));
  REQUIRE(d.ctl({"run", "vm1", "--tags", "manual:b", "--wait"}).exit_code == 0);
  CHECK_FALSE(has(held));
}

TEST_CASE("clone is a writable reflink of the revision, --qcow2 an overlay reading the same",
          "[mount]") {
  Disk disk;
  CtlTestDaemon d({{"vm1", disk.disk.string()}});
  REQUIRE(d.wait_revisions("vm1", 1));
  const std::string uuid = d.ctl_json({"status", "vm1"})["revisions"][0]["uuid"];
  const fs::path image = d.image("vm1", uuid);
  const std::string sum = sha256(image);
  TempDir out(xfs_mount(), "clone-out");

  const fs::path raw = out / "vm1.raw";
  ProcessResult r = d.ctl({"clone", "vm1", uuid, raw.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("reflink"));
  CHECK(shared_bytes(raw) > 0);  // shares the revision's extents
  CHECK(run({"qemu-img", "compare", "-q", "-f", "raw", "-F", "raw", raw.string(), image.string()})
            .exit_code == 0);
  CHECK(::access(raw.c_str(), W_OK) == 0);
  write_random(raw, 0, 1 << 20, 5);  // writable, and writing it leaves the revision alone
  CHECK(sha256(image) == sum);
  // Never over an existing file.
  r = d.ctl({"clone", "vm1", uuid, raw.string()});
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains("exists"));

  const fs::path qcow = out / "vm1.qcow2";
  r = d.ctl({"clone", "vm1", uuid, qcow.string(), "--qcow2"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(run({"qemu-img", "compare", "-q", "-F", "raw", qcow.string(), image.string()}).exit_code ==
        0);
  ProcessResult info = run({"qemu-img", "info", "--output=json", qcow.string()});
  CHECK(json::parse(info.out)["backing-filename"] == image.string());

  // Off base-dir's filesystem: a copy, with a warning, still equal.
  TempDir elsewhere(non_reflink_dir(), "clone-copy");
  const fs::path copy = elsewhere / "vm1.raw";
  r = d.ctl({"clone", "vm1", uuid, copy.string()});
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("warning") && Catch::Contains("copying"));
  CHECK(run({"qemu-img", "compare", "-q", "-f", "raw", "-F", "raw", copy.string(), image.string()})
            .exit_code == 0);
}

TEST_CASE("backyctl killed after the daemon answered, before confirming, leaves nothing behind",
          "[mount]") {
  Disk disk;
  CtlTestDaemon d({{"vm1", disk.disk.string()}});
  REQUIRE(d.wait_revisions("vm1", 1));
  TempDir where(xfs_mount(), "mount-at");
  UnmountAtEnd guard{{where / "m"}};
  fs::create_directory(where / "m");
  const fs::path mounts_dir = d.dir() / "base" / ".mounts";

  // backyctl stops itself once its loop device is attached to the clone, before mount(2).
  Child ctl({BACKYCTL_PATH, "-s", d.socket(), "mount", "vm1", "latest", (where / "m").string()},
            where / "ctl.log", {{"BACKYCTL_TEST_STOP_BEFORE_MOUNT", "1"}});
  REQUIRE(eventually(60, [&] { return stopped(ctl.pid()); }));
  // Meanwhile the daemon holds a pending record and a clone, and backyctl a loop device on it.
  json list = d.ctl_json({"mounts"})["mounts"];
  REQUIRE(list.size() == 1);
  CHECK(list[0]["state"] == "pending");
  CHECK(list[0]["in_flight"] == true);
  CHECK(loops_under(mounts_dir) == 1);
  // Not stale: prune leaves a mount being made alone, and so does umount.
  CHECK(d.ctl({"mounts", "--prune"}).exit_code == 0);
  CHECK(d.ctl_json({"mounts"})["mounts"].size() == 1);
  CHECK(d.ctl({"umount", (where / "m").string()}).exit_code != 0);

  ctl.signal(SIGKILL);
  CHECK(ctl.wait(10) == 128 + SIGKILL);
  // The daemon saw the connection close: record and clone go; the loop device autocleared.
  CHECK(eventually(10, [&] { return d.ctl_json({"mounts"})["mounts"].empty(); }));
  CHECK(eventually(10, [&] { return fs::is_empty(mounts_dir); }));
  CHECK(eventually(10, [&] { return loops_under(mounts_dir) == 0; }));
  CHECK_FALSE(mounted_at(where / "m"));
  // Logged just after the record goes, on the worker that removed it.
  CHECK(eventually(
      10, [&] { return d.log().find("not confirmed (the client left)") != std::string::npos; }));
  CHECK(d.ctl({"forget", "vm1", "latest", "--force"}).exit_code == 0);  // not held any more
}

TEST_CASE("mount records survive a daemon restart, and mounts --prune releases those unmounted",
          "[mount]") {
  Disk disk;
  TestGroup admins("backy-mt");
  CtlTestDaemon d({{"vm1", disk.disk.string()}}, "  admin-group: " + admins.name() + "\n");
  REQUIRE(d.wait_revisions("vm1", 1));
  TempDir where(xfs_mount(), "mount-at");
  UnmountAtEnd guard{{where / "kept", where / "gone"}};
  for (const auto& m : guard.dirs) fs::create_directory(m);
  for (const auto& m : guard.dirs) {
    ProcessResult r = d.ctl({"mount", "vm1", "latest", m.string(), "--partition", "1"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  // The daemon restarts: the host still has both mounted, and both records stay.
  d.restart();
  json list = d.ctl_json({"mounts"})["mounts"];
  REQUIRE(list.size() == 2);
  for (const auto& m : list) CHECK(m["mounted"] == true);
  CHECK(same_tree(disk.v1, where / "kept"));
  // One is unmounted behind backy's back: listed as not mounted, still held.
  REQUIRE(run({"umount", (where / "gone").string()}).exit_code == 0);
  ProcessResult shown = d.ctl({"mounts"});
  CHECK_THAT(shown.out, Catch::Contains("NOT MOUNTED"));
  CHECK(d.ctl({"forget", "vm1", "latest", "--force"}).exit_code != 0);
  // Pruning is root's: an admin may list, not release.
  const std::string gid = std::to_string(admins.gid());
  ProcessResult admin = d.ctl_as(kAdminUid, admins.gid(), gid, {"mounts", "--prune"});
  CHECK(admin.exit_code != 0);
  CHECK_THAT(admin.err,
             Catch::Contains((where / "gone").string()) && Catch::Contains("needs root"));
  CHECK(d.ctl_json({"mounts"})["mounts"].size() == 2);

  const json pruned = d.ctl_json({"mounts", "--prune"})["mounts"];
  REQUIRE(pruned.size() == 2);
  list = d.ctl_json({"mounts"})["mounts"];
  REQUIRE(list.size() == 1);
  CHECK(list[0]["dir"] == (where / "kept").string());
  CHECK(list[0]["mounted"] == true);
  CHECK(loops_under(d.dir()) == 1);
  REQUIRE(d.ctl({"umount", (where / "kept").string()}).exit_code == 0);
  CHECK_FALSE(mounted_at(where / "kept"));
  CHECK(loops_under(d.dir()) == 0);
  CHECK(fs::is_empty(d.dir() / "base" / ".mounts"));
  CHECK(d.ctl({"forget", "vm1", "latest", "--force"}).exit_code == 0);
}

TEST_CASE("a mount confirmation that is none is refused, and the record and clone go", "[mount]") {
  Disk disk;
  CtlTestDaemon d({{"vm1", disk.disk.string()}});
  REQUIRE(d.wait_revisions("vm1", 1));
  TempDir where(xfs_mount(), "mount-at");
  fs::create_directory(where / "m");
  RawClient client(d.socket());
  client.send_line(backy::protocol::encode_request(
      {"mount", json{{"job", "vm1"}, {"rev", "latest"}, {"dir", (where / "m").string()}}}));
  const auto answer = client.reply();
  INFO(answer.body.dump());
  REQUIRE(answer.ok);
  CHECK(backy::protocol::carries_fd(answer));
  CHECK(client.fds.size() == 1);  // the clone
  CHECK(answer.body["state"] == "pending");
  CHECK(answer.body["fstype"] == "xfs");
  CHECK(answer.body["partition"] == 2);
  CHECK(answer.body["offset"] == kXfsStart * kSector);
  CHECK(answer.body["length"] == kXfsSectors * kSector);
  CHECK_FALSE(fs::is_empty(d.dir() / "base" / ".mounts"));
  // The loop device must be a loop device's name.
  client.send_line(json{{"mounted", true}, {"loop", "/etc/passwd"}}.dump() + "\n");
  const auto refused = client.reply();
  REQUIRE_FALSE(refused.ok);
  CHECK(refused.error->code == backy::protocol::ErrorCode::bad_request);
  CHECK_THAT(refused.error->message, Catch::Contains("/dev/loopN"));
  CHECK(d.ctl_json({"mounts"})["mounts"].empty());
  CHECK(fs::is_empty(d.dir() / "base" / ".mounts"));
}
