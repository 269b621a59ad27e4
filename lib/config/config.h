// The configuration of one backup host: a typed, validated view of backy.yaml.
//
// load_config() reads the YAML file and returns either a Config or every error found, each with
// file:line:col and the key it concerns; a Config that comes back is valid (every job names an
// existing schedule, every value is in range). Keys follow upstream backy: global, ceph,
// schedules, jobs. docs/config.md is the reference; config/backy.yaml a worked example.
//
// Plain values: copy freely, compare with == (the daemon compares old and new job configs on
// reload to decide which jobs changed).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "schedule/duration.h"
#include "util/io_priority.h"

namespace backy {

class KeyPositions;  // config/key_positions.h

struct TagSpec {
  Seconds interval{0};
  int keep = 0;
  bool operator==(const TagSpec&) const = default;
};

// tag name -> {interval, keep}
using Schedule = std::map<std::string, TagSpec>;

struct SourceConfig {
  enum class Type { file, ceph_rbd };
  Type type = Type::file;
  std::string filename;       // file
  std::string pool;           // ceph-rbd
  std::string image;          // ceph-rbd
  std::string rbd_namespace;  // ceph-rbd, optional
  bool full_always = false;   // ceph-rbd: never incremental
  int reads_in_flight = 16;   // ceph-rbd: concurrent aio reads
  bool operator==(const SourceConfig&) const = default;
};

struct VerifyConfig {
  double fraction = 0.01;  // share of the image's blocks re-read after a run
  int min_blocks = 8;
  Seconds max_time{60};  // the sample is cut short after this long
  bool operator==(const VerifyConfig&) const = default;
};

// The commands run around a ceph-rbd job's snapshot, to freeze the guest's filesystems for it
// (backup/snapshot_hooks.h). Each command is an argv whose first element is an absolute path.
struct SnapshotHookConfig {
  std::vector<std::string> pre_snapshot;   // empty: none
  std::vector<std::string> post_snapshot;  // empty: none
  Seconds timeout{60};                     // hook-timeout: a hook running longer is killed
  bool continue_on_pre_failure = false;    // pre-snapshot-failure: continue (else fail)
  bool any() const { return !pre_snapshot.empty() || !post_snapshot.empty(); }
  bool operator==(const SnapshotHookConfig&) const = default;
};

struct JobConfig {
  std::string name;
  std::string schedule;  // key into Config::schedules
  SourceConfig source;
  VerifyConfig verify;
  // Pools `restore ... rbd:POOL/IMAGE` may create images in; unset: global.restore_pools.
  std::optional<std::vector<std::string>> restore_pools;
  // Bytes per second the job's runs read at most (the source, and the verify's re-read of it);
  // 0: no limit of its own. The global read_limit applies as well.
  uint64_t read_limit = 0;
  // What a file source reads with; unset in the job: the global io_priority.
  IoPriority io_priority{};
  // The global hook settings, each overridden by the job's own; always none for a file job.
  SnapshotHookConfig hooks;
  bool operator==(const JobConfig&) const = default;
};

struct CephConfig {
  std::string conf = "/etc/ceph/ceph.conf";
  std::string client = "admin";
  std::string keyring;  // empty: librados' default search
  Seconds timeout{30};  // librados mon/osd op timeouts: a dead cluster fails a job, never hangs it
  bool operator==(const CephConfig&) const = default;
};

struct GlobalConfig {
  std::filesystem::path base_dir;
  int worker_limit = 1;  // slots per lane (daemon/lane.h)
  // A job whose newest revision took less than this runs in the fast lane.
  Seconds fast_lane_threshold{600};
  std::string socket = "/run/backy/backyd.sock";
  std::string backup_completed_callback;  // empty: none; after successful runs (upstream's)
  std::string run_callback;               // empty: none; after every run, with its outcome
  Seconds callback_timeout{60};
  Seconds retry_after{120};  // the first retry after a failed run; doubled per failure, max 6 h
  std::string log_level = "info";
  std::string admin_group;   // members may run changing commands over the socket
  std::string metrics_file;  // empty: not written
  // Default of JobConfig::restore_pools; unset: see restore_pools() below.
  std::optional<std::vector<std::string>> restore_pools;
  // Health warns, and then is critical and no backup starts, when base-dir's free space or free
  // inodes fall below these shares (percent of the filesystem).
  double free_space_warning = 10;
  double free_space_critical = 5;
  // Bytes per second all running backups together read at most; 0: no limit.
  uint64_t read_limit = 0;
  // The default of JobConfig::io_priority.
  IoPriority io_priority{};
  SnapshotHookConfig hooks;  // the default of every ceph-rbd job's
  bool operator==(const GlobalConfig&) const = default;
};

struct Config {
  std::filesystem::path file;  // where it was loaded from
  GlobalConfig global;
  CephConfig ceph;
  std::map<std::string, Schedule> schedules;
  std::map<std::string, JobConfig> jobs;
  // Where the file names what preflight reports on (config/key_positions.h); set by
  // parse_config, shared by the copies (a Config built in code has none: findings without
  // positions).
  std::shared_ptr<const KeyPositions> positions;
};

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when the error has no position (file missing)
  int column = 0;  // 1-based
  std::string message;
  // "file:line:col: message", or "file: message" without a position.
  std::string to_string() const;
};

// A warning as --check-config and the log show it: "file:line:col: warning: message".
std::string warning_text(const ConfigError& w);

struct ConfigLoad {
  std::optional<Config> config;     // set when errors is empty
  std::vector<ConfigError> errors;  // in file order
  // What loads but deserves a word, in file order: upstream backy's keys that backyd ignores or
  // reads differently (docs/config.md, "Coming from upstream backy").
  std::vector<ConfigError> warnings;
  bool ok() const { return errors.empty(); }
};

ConfigLoad load_config(const std::filesystem::path& file);
// Parses YAML text; `file` only names it in errors.
ConfigLoad parse_config(const std::string& text, const std::string& file);

// The pools a restore of `job` into a new RBD image may use: the job's `restore-pools`, else
// global `restore-pools`, else the job's own pool for a ceph-rbd job and none for a file job.
// (The daemon's Ceph client reaches every pool; who may restore should not reach them all.)
std::vector<std::string> restore_pools(const Config& config, const JobConfig& job);

// Whether `name` is safe as a job directory name: [A-Za-z0-9][A-Za-z0-9._-]{0,127}.
bool is_safe_job_name(const std::string& name);

// Source type as written in the config ("file", "ceph-rbd").
std::string to_string(SourceConfig::Type t);

}  // namespace backy
