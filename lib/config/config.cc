// Validation walks the YAML tree once and collects every error instead of stopping at the first,
// so an operator fixes a broken file in one pass. yaml-cpp exceptions end at this file's edge.
#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "config/key_positions.h"
#include "schedule/schedule.h"
#include "util/text.h"
#include "util/yaml_keys.h"

namespace backy {

namespace {

constexpr Seconds kMaxDuration{int64_t{36500} * 86400};
constexpr uint64_t kMinReadLimit = 64 * 1024;

class Validator {
 public:
  explicit Validator(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Node& at, const std::string& msg) {
    const YAML::Mark m = at.Mark();
    errors_.push_back({file_, m.is_null() ? 0 : m.line + 1, m.is_null() ? 0 : m.column + 1, msg});
  }
  void error(const YAML::Mark& m, const std::string& msg) {
    errors_.push_back({file_, m.line + 1, m.column + 1, msg});
  }
  void error(int line, int column, const std::string& msg) {
    errors_.push_back({file_, line, column, msg});
  }
  void warn(const YAML::Node& at, const std::string& msg) {
    const YAML::Mark m = at.Mark();
    warnings_.push_back({file_, m.is_null() ? 0 : m.line + 1, m.is_null() ? 0 : m.column + 1, msg});
  }

  // Reports every key of `map` that is not in `known`; returns false if `map` is not a mapping.
  // A key of `ignored` (upstream backy's, which backyd has no use for) is a warning with its
  // reason instead, and the caller leaves its value alone.
  bool check_map(const YAML::Node& map, const std::string& where,
                 const std::set<std::string>& known,
                 const std::map<std::string, std::string>& ignored = {}) {
    if (!map.IsMap()) {
      error(map, where + " must be a mapping");
      return false;
    }
    for (const auto& kv : map) {
      const std::string key = kv.first.Scalar();
      if (auto i = ignored.find(key); i != ignored.end()) {
        warn(kv.first, "'" + key + "' in " + where + " is ignored: " + i->second);
      } else if (!known.contains(key)) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        error(kv.first, "unknown key '" + key + "' in " + where + " (known: " + list + ")");
      }
    }
    return true;
  }

  std::optional<std::string> string(const YAML::Node& n, const std::string& key) {
    if (!n.IsScalar()) {
      error(n, "'" + key + "' must be a string");
      return std::nullopt;
    }
    // Strings become paths, names and argv: a NUL ("\0" in a quoted YAML string) would cut
    // them short where the kernel or librados reads them.
    if (n.Scalar().find('\0') != std::string::npos) {
      error(n, "'" + key + "' contains a NUL byte");
      return std::nullopt;
    }
    return n.Scalar();
  }

  // Every integer of the configuration is stored in an int: a larger one is an error, not a
  // value cut to its low 32 bits (keep: 4294967297 would keep 1).
  std::optional<int64_t> integer(const YAML::Node& n, const std::string& key) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
      bool digits = i < s.size();
      for (size_t j = i; j < s.size(); ++j) digits = digits && std::isdigit((unsigned char)s[j]);
      if (digits && s.size() < 18) {
        const int64_t value = std::stoll(s);
        if (value >= std::numeric_limits<int>::min() && value <= std::numeric_limits<int>::max())
          return value;
      }
      if (digits) {
        error(n, "'" + key + "' is out of range: " + s);
        return std::nullopt;
      }
    }
    error(n, "'" + key + "' must be an integer");
    return std::nullopt;
  }

  std::optional<bool> boolean(const YAML::Node& n, const std::string& key) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "true" || s == "yes" || s == "on") return true;
      if (s == "false" || s == "no" || s == "off") return false;
    }
    error(n, "'" + key + "' must be true or false");
    return std::nullopt;
  }

  // Durations are added to clocks that count nanoseconds in 64 bits (292 years): a century is
  // the most any of them may be.
  // A share of a filesystem: "10%" or 10, from 0 to 100, at most two decimals.
  std::optional<double> percent(const YAML::Node& n, const std::string& key) {
    if (n.IsScalar()) {
      std::string s = n.Scalar();
      if (!s.empty() && s.back() == '%') s.pop_back();
      size_t dots = 0, digits = 0;
      bool plain = !s.empty() && s.size() <= 6;
      for (char c : s) {
        dots += c == '.';
        digits += std::isdigit(static_cast<unsigned char>(c)) != 0;
        plain = plain && (c == '.' || std::isdigit(static_cast<unsigned char>(c)));
      }
      if (plain && dots <= 1 && digits > 0) {
        const double value = std::stod(s);
        if (value <= 100) return value;
      }
    }
    error(n, "'" + key + "' must be a percentage from 0 to 100 (e.g. 10%), got '" +
                 (n.IsScalar() ? n.Scalar() : std::string("a collection")) + "'");
    return std::nullopt;
  }

  std::optional<Seconds> duration(const YAML::Node& n, const std::string& key) {
    if (n.IsScalar()) {
      if (auto d = parse_duration(n.Scalar())) {
        if (*d <= kMaxDuration) return d;
        error(n, "'" + key + "': duration '" + n.Scalar() + "' is out of range (at most " +
                     format_duration(kMaxDuration) + ")");
        return std::nullopt;
      }
      error(n, "'" + key + "': bad duration '" + n.Scalar() +
                   "' (expected seconds, or a number with s, m, h, d or w, e.g. 90s, 1d)");
    } else {
      error(n, "'" + key + "' must be a duration (e.g. 1d)");
    }
    return std::nullopt;
  }

  // A byte rate: "20MiB", "100M" (util/text.h parse_bytes), from 64 KiB/s (a 4 MiB block a
  // minute) up; below that a run would crawl for days.
  std::optional<uint64_t> byte_rate(const YAML::Node& n, const std::string& key) {
    const std::string text = n.IsScalar() ? n.Scalar() : std::string("a collection");
    const auto rate = n.IsScalar() ? parse_bytes(text) : std::nullopt;
    if (!rate) {
      error(n, "'" + key + "' must be bytes per second, e.g. 20MiB or 100M, got '" + text + "'");
      return std::nullopt;
    }
    if (*rate < kMinReadLimit) {
      error(n, "'" + key + "' must be at least 64KiB (per second), got '" + text + "'");
      return std::nullopt;
    }
    return rate;
  }

  std::optional<IoPriority> io_priority(const YAML::Node& n, const std::string& key) {
    if (n.IsScalar())
      if (auto p = parse_io_priority(n.Scalar())) return p;
    error(n, "'" + key + "' must be idle, best-effort or realtime, optionally with a level 0-7 " +
                 "(best-effort:4), got '" + (n.IsScalar() ? n.Scalar() : "a collection") + "'");
    return std::nullopt;
  }

  // A list of pool names: each a non-empty string without '/' (that separates the namespace and
  // image in rbd:POOL/IMAGE), no duplicates. An empty list is allowed: no pool.
  std::optional<std::vector<std::string>> pool_list(const YAML::Node& n, const std::string& key) {
    if (!n.IsSequence()) {
      error(n, "'" + key + "' must be a list of pool names, e.g. [rbd, restore]");
      return std::nullopt;
    }
    std::vector<std::string> pools;
    bool ok = true;
    for (const auto& e : n) {
      auto s = string(e, key);
      if (!s) {
        ok = false;
      } else if (s->empty() || s->find('/') != std::string::npos) {
        error(e, "'" + key + "': '" + *s + "' is no pool name (empty, or contains '/')");
        ok = false;
      } else if (std::find(pools.begin(), pools.end(), *s) != pools.end()) {
        error(e, "'" + key + "': pool '" + *s + "' is listed twice");
        ok = false;
      } else {
        pools.push_back(*s);
      }
    }
    if (!ok) return std::nullopt;
    return pools;
  }

  std::vector<ConfigError> take_errors() { return std::move(errors_); }
  std::vector<ConfigError> take_warnings() { return std::move(warnings_); }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
  std::vector<ConfigError> warnings_;
};

// Upstream backy's keys that mean nothing to backyd: accepted, so that an upstream configuration
// loads, with a warning that says what backyd does instead (docs/config.md, "Coming from
// upstream backy").
const std::map<std::string, std::string> kUpstreamTopLevel = {
    {"api",
     "upstream backy's HTTP API; backyd is controlled through its own control socket (global "
     "'socket', backyctl)"},
    {"peers", "upstream backy's replication between backup servers, which backyd does not do"}};
const std::map<std::string, std::string> kUpstreamGlobal = {
    {"status-file",
     "upstream backy's status file; backyd answers `backyctl status --json` and writes "
     "'metrics-file'"},
    {"status-interval", "upstream backy's status file interval; see 'metrics-file'"},
    {"telnet-addrs", "upstream backy's telnet console; backyctl talks to global 'socket'"},
    {"telnet-port", "upstream backy's telnet console; backyctl talks to global 'socket'"}};

const std::set<std::string> kHookKeys = {"pre-snapshot", "post-snapshot", "hook-timeout",
                                         "pre-snapshot-failure"};

// The keys of `global` and of a job besides the hooks' (kHookKeys), which both take.
const std::set<std::string> kGlobalKeys = {"base-dir",
                                           "worker-limit",
                                           "socket",
                                           "backup-completed-callback",
                                           "callback-timeout",
                                           "log-level",
                                           "admin-group",
                                           "metrics-file",
                                           "restore-pools",
                                           "run-callback",
                                           "retry-after",
                                           "free-space-warning",
                                           "free-space-critical",
                                           "fast-lane-threshold",
                                           "read-limit",
                                           "io-priority"};
const std::set<std::string> kJobKeys = {"schedule",      "source",     "verify",
                                        "restore-pools", "read-limit", "io-priority"};

std::set<std::string> with_hook_keys(std::set<std::string> keys) {
  keys.insert(kHookKeys.begin(), kHookKeys.end());
  return keys;
}

// A hook command: one absolute path, or a list (argv) whose first element is one. No shell and
// no PATH search: the daemon runs it as root.
std::optional<std::vector<std::string>> hook_command(Validator& v, const YAML::Node& n,
                                                     const std::string& key) {
  std::vector<std::string> argv;
  if (n.IsScalar()) {
    if (auto s = v.string(n, key)) argv.push_back(*s);
  } else if (n.IsSequence()) {
    for (const auto& e : n)
      if (auto s = v.string(e, key)) argv.push_back(*s);
    if (argv.size() != n.size()) return std::nullopt;
  } else {
    v.error(n, "'" + key + "' must be a path or a list (the program's path and its arguments)");
    return std::nullopt;
  }
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    v.error(n, "'" + key + "' must start with an absolute path to the program, got '" +
                   (argv.empty() ? std::string() : argv[0]) + "'");
    return std::nullopt;
  }
  return argv;
}

// One of kHookKeys into `hooks`.
void parse_hook_key(Validator& v, const std::string& key, const YAML::Node& val,
                    SnapshotHookConfig& hooks) {
  if (key == "pre-snapshot") {
    if (auto argv = hook_command(v, val, key)) hooks.pre_snapshot = *argv;
  } else if (key == "post-snapshot") {
    if (auto argv = hook_command(v, val, key)) hooks.post_snapshot = *argv;
  } else if (key == "hook-timeout") {
    if (auto d = v.duration(val, key)) {
      if (d->count() < 1 || d->count() > 3600)
        v.error(val, "'hook-timeout' must be from 1s to 1h, got " + format_duration(*d));
      hooks.timeout = *d;
    }
  } else if (key == "pre-snapshot-failure") {
    const std::string s = val.IsScalar() ? val.Scalar() : "";
    if (s != "fail" && s != "continue")
      v.error(val, "'pre-snapshot-failure' must be fail or continue, got '" + s + "'");
    hooks.continue_on_pre_failure = s == "continue";
  }
}

void parse_global(Validator& v, const YAML::Node& n, GlobalConfig& g) {
  if (!v.check_map(n, "global", with_hook_keys(kGlobalKeys), kUpstreamGlobal)) return;
  bool has_base = false;
  std::optional<YAML::Node> critical_at;
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    const YAML::Node& val = kv.second;
    if (key == "base-dir") {
      if (auto s = v.string(val, key)) {
        has_base = true;
        if (s->empty() || (*s)[0] != '/')
          v.error(val, "'base-dir' must be an absolute path, got '" + *s + "'");
        g.base_dir = *s;
      }
    } else if (key == "worker-limit") {
      if (auto i = v.integer(val, key)) {
        if (*i < 1) v.error(val, "'worker-limit' must be at least 1, got " + std::to_string(*i));
        g.worker_limit = static_cast<int>(*i);
      }
    } else if (key == "fast-lane-threshold") {
      if (auto d = v.duration(val, key)) g.fast_lane_threshold = *d;
    } else if (key == "socket") {
      if (auto s = v.string(val, key)) g.socket = *s;
    } else if (kHookKeys.contains(key)) {
      parse_hook_key(v, key, val, g.hooks);
    } else if (key == "backup-completed-callback") {
      if (auto s = v.string(val, key)) g.backup_completed_callback = *s;
    } else if (key == "run-callback") {
      if (auto s = v.string(val, key)) g.run_callback = *s;
    } else if (key == "callback-timeout") {
      if (auto d = v.duration(val, key)) g.callback_timeout = *d;
    } else if (key == "retry-after") {
      if (auto d = v.duration(val, key)) {
        if (d->count() < 1) v.error(val, "'retry-after' must be at least 1s");
        g.retry_after = *d;
      }
    } else if (key == "log-level") {
      if (auto s = v.string(val, key)) {
        static const std::set<std::string> levels = {"trace", "debug", "info",     "warning",
                                                     "warn",  "error", "critical", "off"};
        if (!levels.contains(*s))
          v.error(val,
                  "'log-level' must be one of trace, debug, info, warning, error, critical, "
                  "off; got '" +
                      *s + "'");
        g.log_level = *s;
      }
    } else if (key == "admin-group") {
      if (auto s = v.string(val, key)) g.admin_group = *s;
    } else if (key == "metrics-file") {
      if (auto s = v.string(val, key)) g.metrics_file = *s;
    } else if (key == "restore-pools") {
      g.restore_pools = v.pool_list(val, key);
    } else if (key == "free-space-warning") {
      if (auto p = v.percent(val, key)) g.free_space_warning = *p;
    } else if (key == "free-space-critical") {
      if (auto p = v.percent(val, key)) g.free_space_critical = *p;
      critical_at = val;
    } else if (key == "read-limit") {
      if (auto r = v.byte_rate(val, key)) g.read_limit = *r;
    } else if (key == "io-priority") {
      if (auto p = v.io_priority(val, key)) g.io_priority = *p;
    }
  }
  if (!has_base) v.error(n, "global: 'base-dir' is required");
  if (g.free_space_critical > g.free_space_warning)
    v.error(critical_at ? *critical_at : n, "'free-space-critical' (" +
                                                format_percent(g.free_space_critical) +
                                                ") must not exceed 'free-space-warning' (" +
                                                format_percent(g.free_space_warning) + ")");
}

void parse_ceph(Validator& v, const YAML::Node& n, CephConfig& c) {
  if (!v.check_map(n, "ceph", {"conf", "client", "keyring", "timeout"})) return;
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    if (key == "conf") {
      if (auto s = v.string(kv.second, key)) c.conf = *s;
    } else if (key == "client") {
      if (auto s = v.string(kv.second, key)) c.client = *s;
    } else if (key == "keyring") {
      if (auto s = v.string(kv.second, key)) c.keyring = *s;
    } else if (key == "timeout") {
      if (auto d = v.duration(kv.second, key)) c.timeout = *d;
    }
  }
}

void parse_schedules(Validator& v, const YAML::Node& n, std::map<std::string, Schedule>& out) {
  if (!n.IsMap()) {
    v.error(n, "'schedules' must be a mapping of schedule name to tags");
    return;
  }
  for (const auto& sched : n) {
    const std::string name = sched.first.Scalar();
    Schedule s;
    if (!sched.second.IsMap() || sched.second.size() == 0) {
      v.error(sched.second, "schedule '" + name + "' must map tag names to {interval, keep}");
      continue;
    }
    for (const auto& tag : sched.second) {
      const std::string tname = tag.first.Scalar();
      const std::string where = "tag '" + tname + "' of schedule '" + name + "'";
      if (tname.starts_with("manual:"))
        v.error(tag.first, where + ": 'manual:' tags are for ad-hoc runs, not schedules");
      else if (!is_valid_tag(tname))
        v.error(tag.first, where + ": a tag name is 1 to 64 of A-Z a-z 0-9 _ . : -");
      if (!v.check_map(tag.second, where, {"interval", "keep"})) continue;
      TagSpec spec;
      bool has_interval = false, has_keep = false;
      for (const auto& kv : tag.second) {
        const std::string key = kv.first.Scalar();
        if (key == "interval") {
          if (auto d = v.duration(kv.second, key)) spec.interval = *d;
          has_interval = true;
        } else if (key == "keep") {
          if (auto k = v.integer(kv.second, key)) {
            if (*k < 1) v.error(kv.second, "'keep' must be at least 1, got " + std::to_string(*k));
            spec.keep = static_cast<int>(*k);
          }
          has_keep = true;
        }
      }
      if (!has_interval) v.error(tag.second, where + ": 'interval' is required");
      if (!has_keep) v.error(tag.second, where + ": 'keep' is required");
      s[tname] = spec;
    }
    out[name] = std::move(s);
  }
}

void parse_source(Validator& v, const YAML::Node& n, const std::string& job, SourceConfig& src) {
  const std::string where = "source of job '" + job + "'";
  if (!v.check_map(n, where,
                   {"type", "filename", "pool", "image", "namespace", "full-always",
                    "reads-in-flight", "cow", "vm", "consul_acl_token"}))
    return;
  const YAML::Node type = n["type"];
  if (!type) {
    v.error(n, where + ": 'type' is required (file or ceph-rbd)");
    return;
  }
  std::string t = type.IsScalar() ? type.Scalar() : "";
  // Upstream backy's names: `flyingcircus` (2.x) and `rbd` (3.x) are RBD images too.
  const bool upstream_rbd = t == "flyingcircus" || t == "rbd";
  if (t == "file") {
    src.type = SourceConfig::Type::file;
  } else if (t == "ceph-rbd" || upstream_rbd) {
    src.type = SourceConfig::Type::ceph_rbd;
  } else {
    std::string hint = "expected file or ceph-rbd";
    if (t == "ceph") hint = "an RBD image is 'type: ceph-rbd'";
    if (t == "s3") hint = "upstream backy's S3 source; backyd backs up files and RBD images only";
    if (t.ends_with(",")) hint = "a stray ',' after the type?";
    v.error(type, where + ": unknown source type '" + t + "' (" + hint + ")");
    return;
  }
  auto need = [&](const char* key, std::string& into) {
    const YAML::Node val = n[key];
    if (!val) {
      v.error(n, where + ": '" + key + "' is required for type " + t);
    } else if (auto s = v.string(val, key)) {
      if (s->empty()) v.error(val, where + ": '" + key + "' must not be empty");
      into = *s;
    }
  };
  auto forbid = [&](const char* key) {
    if (n[key]) v.error(n[key], where + ": '" + std::string(key) + "' does not apply to type " + t);
  };
  if (src.type == SourceConfig::Type::file) {
    need("filename", src.filename);
    for (const char* k :
         {"pool", "image", "namespace", "full-always", "reads-in-flight", "vm", "consul_acl_token"})
      forbid(k);
    // Upstream's `cow: false` copied each revision in full; backyd always shares unchanged
    // blocks with the parent through reflinks, which only saves space.
    if (n["cow"])
      if (auto b = v.boolean(n["cow"], "cow"); b && !*b)
        v.warn(n["cow"], where +
                             ": 'cow: false' is ignored: backyd always shares unchanged "
                             "blocks with the parent revision (reflinks)");
  } else {
    need("pool", src.pool);
    need("image", src.image);
    forbid("filename");
    forbid("cow");
    if (!upstream_rbd) {
      forbid("vm");
      forbid("consul_acl_token");
    }
    for (const char* k : {"vm", "consul_acl_token"})
      if (n[k]) v.string(n[k], k);  // accepted, not used: at least a string
    // Upstream froze the VM's filesystems around the snapshot through its host agent (consul);
    // backyd has none, and says so rather than silently taking crash-consistent snapshots.
    if (t == "flyingcircus" || n["vm"])
      v.warn(type, where + ": source type '" + t + "'" + (t == "rbd" ? " with 'vm'" : "") +
                       " is backed up as ceph-rbd " + src.pool + "/" + src.image +
                       "; upstream froze the VM through its host agent (consul), which backyd "
                       "does not have: set the job's 'pre-snapshot'/'post-snapshot' hooks to "
                       "freeze and thaw it, else the snapshot is crash-consistent");
    if (n["namespace"])
      if (auto s = v.string(n["namespace"], "namespace")) src.rbd_namespace = *s;
    if (n["full-always"])
      if (auto b = v.boolean(n["full-always"], "full-always")) src.full_always = *b;
    if (n["reads-in-flight"])
      if (auto i = v.integer(n["reads-in-flight"], "reads-in-flight")) {
        if (*i < 1 || *i > 1024)
          v.error(n["reads-in-flight"], "'reads-in-flight' must be between 1 and 1024");
        src.reads_in_flight = static_cast<int>(*i);
      }
  }
}

void parse_verify(Validator& v, const YAML::Node& n, VerifyConfig& out) {
  if (!v.check_map(n, "verify", {"fraction", "min-blocks", "max-time"})) return;
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    if (key == "fraction") {
      double f = -1;
      try {
        f = kv.second.as<double>();
      } catch (const YAML::Exception&) {
      }
      if (!(f >= 0 && f <= 1))  // also NaN
        v.error(kv.second, "'fraction' must be a number from 0 to 1");
      out.fraction = f;
    } else if (key == "min-blocks") {
      if (auto i = v.integer(kv.second, key)) {
        if (*i < 0) v.error(kv.second, "'min-blocks' must not be negative");
        out.min_blocks = static_cast<int>(*i);
      }
    } else if (key == "max-time") {
      if (auto d = v.duration(kv.second, key)) out.max_time = *d;
    }
  }
}

// Hooks freeze a guest around its RBD snapshot: a ceph-rbd job gets the global settings, each
// overridden by its own; a file job has no snapshot to freeze for, so its own hook keys are an
// error and the global ones do not apply.
void parse_job_hooks(Validator& v, const YAML::Node& n, const std::string& where,
                     const SnapshotHookConfig& global, JobConfig& job) {
  const bool rbd = job.source.type == SourceConfig::Type::ceph_rbd;
  if (rbd) job.hooks = global;
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    if (!kHookKeys.contains(key)) continue;
    if (!rbd)
      v.error(kv.first, where + ": '" + key +
                            "' applies to ceph-rbd jobs only (hooks run around the RBD snapshot)");
    else
      parse_hook_key(v, key, kv.second, job.hooks);
  }
}

void parse_jobs(Validator& v, const YAML::Node& n, Config& cfg) {
  if (!n.IsMap()) {
    v.error(n, "'jobs' must be a mapping of job name to job");
    return;
  }
  // Snapshots belong to their job: two jobs on one RBD image would remove each other's.
  std::map<std::string, std::pair<std::string, int>> rbd_images;  // spec -> (job, line)
  for (const auto& kv : n) {
    const std::string name = kv.first.Scalar();
    if (!is_safe_job_name(name))
      v.error(kv.first, "job name '" + name +
                            "' is not safe as a directory name (use letters, digits, '.', '_', "
                            "'-'; start with a letter or digit; at most 128 characters)");
    JobConfig job;
    job.name = name;
    const std::string where = "job '" + name + "'";
    if (!v.check_map(kv.second, where, with_hook_keys(kJobKeys))) continue;
    const YAML::Node sched = kv.second["schedule"];
    if (!sched) {
      v.error(kv.second, where + ": 'schedule' is required");
    } else if (auto s = v.string(sched, "schedule")) {
      job.schedule = *s;
      if (!cfg.schedules.contains(*s))
        v.error(sched, where + " names schedule '" + *s + "', which is not defined in 'schedules'");
    }
    const YAML::Node src = kv.second["source"];
    if (!src)
      v.error(kv.second, where + ": 'source' is required");
    else
      parse_source(v, src, name, job.source);
    if (src && job.source.type == SourceConfig::Type::ceph_rbd && !job.source.image.empty()) {
      const std::string spec =
          job.source.pool + "/" +
          (job.source.rbd_namespace.empty() ? "" : job.source.rbd_namespace + "/") +
          job.source.image;
      auto [it, first] = rbd_images.emplace(spec, std::make_pair(name, src.Mark().line + 1));
      if (!first)
        v.error(src, where + " backs up RBD image " + spec + ", as job '" + it->second.first +
                         "' (line " + std::to_string(it->second.second) +
                         ") does: two jobs on one image would delete each other's snapshots");
    }
    if (kv.second["verify"]) parse_verify(v, kv.second["verify"], job.verify);
    if (kv.second["restore-pools"])
      job.restore_pools = v.pool_list(kv.second["restore-pools"], "restore-pools");
    if (kv.second["read-limit"])
      if (auto r = v.byte_rate(kv.second["read-limit"], "read-limit")) job.read_limit = *r;
    job.io_priority = cfg.global.io_priority;
    if (const YAML::Node prio = kv.second["io-priority"]) {
      if (auto p = v.io_priority(prio, "io-priority")) job.io_priority = *p;
      // Only a file source's reads are this host's disk I/O; librbd's go over the network.
      if (src && job.source.type == SourceConfig::Type::ceph_rbd)
        v.error(prio, where + ": 'io-priority' applies to file sources only");
    }
    parse_job_hooks(v, kv.second, where, cfg.global.hooks, job);
    cfg.jobs.emplace(name, std::move(job));
  }
}

}  // namespace

std::string ConfigError::to_string() const {
  if (line == 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

std::string warning_text(const ConfigError& w) {
  ConfigError e = w;
  e.message = "warning: " + w.message;
  return e.to_string();
}

bool is_safe_job_name(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

std::vector<std::string> restore_pools(const Config& config, const JobConfig& job) {
  if (job.restore_pools) return *job.restore_pools;
  if (config.global.restore_pools) return *config.global.restore_pools;
  if (job.source.type == SourceConfig::Type::ceph_rbd) return {job.source.pool};
  return {};
}

std::string to_string(SourceConfig::Type t) {
  return t == SourceConfig::Type::file ? "file" : "ceph-rbd";
}

ConfigLoad parse_config(const std::string& text, const std::string& file) {
  Validator v(file);
  ConfigLoad result;
  Config cfg;
  cfg.file = file;
  // The duplicate-key pass is a second scan of the whole text by yaml-cpp's scanner, as slow as
  // the parse itself (0.3-0.45 s each for 10,000 jobs) and independent of it: on a thread of its
  // own it costs the daemon's start no wall time. Joined below, or by the future's destructor.
  auto duplicates = std::async(std::launch::async, [&text] { return find_duplicate_keys(text); });
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    v.error(e.mark, "YAML syntax error: " + e.msg);
    result.errors = v.take_errors();
    return result;
  }
  if (!root.IsMap()) {
    result.errors.push_back({file, 1, 1,
                             "the configuration must be a mapping with keys global, "
                             "ceph, schedules, jobs"});
    return result;
  }
  try {
    // Every mapping, at every level: lookups see only a key's first occurrence, and a silently
    // shadowed job or section would be a lost backup.
    for (const DuplicateKey& d : duplicates.get())
      v.error(d.line, d.column,
              "duplicate key '" + d.key + "' (first at line " + std::to_string(d.first_line) + ")");
    v.check_map(root, "the top level", {"global", "ceph", "schedules", "jobs"}, kUpstreamTopLevel);
    if (root["global"])
      parse_global(v, root["global"], cfg.global);
    else
      v.error(root, "'global' is required (with at least 'base-dir')");
    if (root["ceph"]) parse_ceph(v, root["ceph"], cfg.ceph);
    if (root["schedules"])
      parse_schedules(v, root["schedules"], cfg.schedules);
    else
      v.error(root, "'schedules' is required");
    // `jobs:` with nothing but comments under it (a fresh install) is a host with no jobs yet.
    if (root["jobs"] && !root["jobs"].IsNull()) parse_jobs(v, root["jobs"], cfg);
  } catch (const YAML::Exception& e) {
    v.error(e.mark, "invalid configuration: " + e.msg);
  }
  result.errors = v.take_errors();
  result.warnings = v.take_warnings();
  // In file order, whatever order the checks ran in.
  auto by_position = [](const ConfigError& a, const ConfigError& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  };
  std::stable_sort(result.errors.begin(), result.errors.end(), by_position);
  std::stable_sort(result.warnings.begin(), result.warnings.end(), by_position);
  if (result.errors.empty()) {
    cfg.positions = std::make_shared<const KeyPositions>(root);
    result.config = std::move(cfg);
  }
  return result;
}

ConfigLoad load_config(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) {
    ConfigLoad r;
    r.errors.push_back({file.string(), 0, 0, "cannot read configuration file"});
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  ConfigLoad r = parse_config(ss.str(), file.string());
  if (r.config) r.config->file = std::filesystem::absolute(file);
  return r;
}

}  // namespace backy
