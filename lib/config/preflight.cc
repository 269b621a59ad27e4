#include "config/preflight.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include "config/key_positions.h"
#include "util/error.h"
#include "util/fd.h"

namespace backy {

namespace fs = std::filesystem;

namespace {

// Findings at the positions parse_config kept: where the file names what they concern.
class Positions {
 public:
  explicit Positions(const Config& config) : file_(config.file.string()), keys_(config.positions) {}

  // `message` at the value of root[path[0]][path[1]]..., or at the deepest key that exists.
  ConfigError at(const std::vector<std::string>& path, const std::string& message) const {
    const KeyPosition p = keys_ ? keys_->at(path) : KeyPosition{};
    return ConfigError{file_, p.line, p.column, message};
  }

 private:
  std::string file_;
  std::shared_ptr<const KeyPositions> keys_;
};

std::string errno_text(int err) {
  return std::strerror(err);
}

// Under the unit's ProtectSystem=strict a path outside ReadWritePaths= is read-only.
std::string sandbox_hint(int err, const fs::path& dir) {
  if (err != EROFS) return "";
  return " (under systemd: `systemctl daemon-reload && systemctl restart backyd` lets "
         "backyd-generator add " +
         dir.string() + " to the sandbox's ReadWritePaths=)";
}

void check_base_dir(const Config& c, const Positions& at, PreflightReport& r) {
  const fs::path& dir = c.global.base_dir;
  const auto where = std::vector<std::string>{"global", "base-dir"};
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    r.errors.push_back(at.at(where, "base-dir " + dir.string() + ": " + errno_text(errno)));
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    r.errors.push_back(at.at(where, "base-dir " + dir.string() + " is not a directory"));
    return;
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    const int err = errno;
    r.errors.push_back(at.at(where, "base-dir " + dir.string() + " is not writable: " +
                                        errno_text(err) + sandbox_hint(err, dir)));
    return;
  }
  // The probe clone: two unnamed files, nothing to clean up, nothing another prober can meet.
  UniqueFd a(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  UniqueFd b(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!a || !b) {
    r.warnings.push_back(at.at(
        where, "base-dir " + dir.string() + ": cannot probe for reflinks: " + errno_text(errno)));
    return;
  }
  if (::pwrite(a.get(), "probe", 5, 0) != 5 || ::ioctl(b.get(), FICLONE, a.get()) != 0)
    r.warnings.push_back(at.at(where, "base-dir " + dir.string() +
                                          " does not support reflinks: every revision costs its "
                                          "full size (use XFS with reflink=1 or btrfs)"));
}

void check_admin_group(const Config& c, const Positions& at, PreflightReport& r) {
  const std::string& name = c.global.admin_group;
  if (name.empty()) return;
  struct group grp {};
  struct group* found = nullptr;
  std::vector<char> buf(16384);
  const int err = ::getgrnam_r(name.c_str(), &grp, buf.data(), buf.size(), &found);
  if (err != 0 || !found)
    r.warnings.push_back(
        at.at({"global", "admin-group"},
              "admin-group '" + name + "' does not exist: only root can run changing commands"));
}

void check_callback(const std::string& key, const std::string& program, const Positions& at,
                    PreflightReport& r) {
  if (program.empty()) return;
  const auto where = std::vector<std::string>{"global", key};
  struct stat st {};
  if (!fs::path(program).is_absolute())
    r.errors.push_back(at.at(where, key + " " + program + " must be an absolute path"));
  else if (::stat(program.c_str(), &st) != 0)
    r.errors.push_back(at.at(where, key + " " + program + ": " + errno_text(errno)));
  else if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0 || ::access(program.c_str(), X_OK))
    r.errors.push_back(at.at(where, key + " " + program + " is not an executable file"));
}

void check_metrics_dir(const Config& c, const Positions& at, PreflightReport& r) {
  if (c.global.metrics_file.empty()) return;
  const fs::path dir = fs::path(c.global.metrics_file).parent_path();
  const auto where = std::vector<std::string>{"global", "metrics-file"};
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    r.errors.push_back(at.at(where, "metrics-file: directory " + dir.string() + " does not exist"));
  else if (::access(dir.c_str(), W_OK) != 0) {
    const int err = errno;
    r.errors.push_back(at.at(where, "metrics-file: directory " + dir.string() +
                                        " is not writable: " + errno_text(err) +
                                        sandbox_hint(err, dir)));
  }
}

// A file source exists, is a regular file or block device, and opens for reading. Returns its
// identity (device and inode, or the device number of a block device) for the duplicate check.
std::optional<std::string> check_file_source(const JobConfig& job, const Positions& at,
                                             PreflightReport& r) {
  const std::string& file = job.source.filename;
  const auto where = std::vector<std::string>{"jobs", job.name, "source", "filename"};
  const std::string what = "job '" + job.name + "': file source " + file;
  // stat before open: opening a character device or FIFO can have effects of its own (a
  // watchdog arms, a tape rewinds), and neither is a valid source anyway.
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    r.errors.push_back(at.at(where, what + ": " + errno_text(errno)));
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    r.errors.push_back(at.at(where, what + " is neither a regular file nor a block device"));
    return std::nullopt;
  }
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    r.errors.push_back(at.at(where, what + ": " + errno_text(errno)));
    return std::nullopt;
  }
  if (S_ISBLK(st.st_mode)) return "blk:" + std::to_string(st.st_rdev);
  return "file:" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

void check_sources(const Config& c, const Positions& at, PreflightReport& r) {
  std::map<std::string, std::string> first;  // source identity -> first job naming it
  for (const auto& [name, job] : c.jobs) {
    // Two jobs on one RBD image are a parse error already (config.cc); files are compared by
    // what they are on this host, which only a preflight can see.
    if (job.source.type != SourceConfig::Type::file) continue;
    const std::optional<std::string> id = check_file_source(job, at, r);
    if (!id) continue;
    auto [it, inserted] = first.emplace(*id, name);
    if (!inserted)
      r.errors.push_back(at.at({"jobs", name, "source"},
                               "jobs '" + it->second + "' and '" + name +
                                   "' name the same source: their revisions would interleave"));
  }
}

}  // namespace

PreflightReport preflight(const Config& config) {
  const Positions at(config);
  PreflightReport report;
  check_base_dir(config, at, report);
  check_admin_group(config, at, report);
  check_callback("backup-completed-callback", config.global.backup_completed_callback, at, report);
  check_callback("run-callback", config.global.run_callback, at, report);
  check_metrics_dir(config, at, report);
  check_sources(config, at, report);
  return report;
}

void check_images(const Config& config, const ImageCheck& check, PreflightReport& report) {
  const Positions at(config);
  for (const auto& [name, job] : config.jobs) {
    if (job.source.type != SourceConfig::Type::ceph_rbd) continue;
    try {
      if (auto why = check(job.source))
        report.errors.push_back(
            at.at({"jobs", name, "source", "image"}, "job '" + name + "': " + *why));
    } catch (const Error& e) {
      report.errors.push_back(
          at.at({"ceph"}, std::string("cannot reach the cluster: ") + e.what()));
      return;
    }
  }
}

}  // namespace backy
