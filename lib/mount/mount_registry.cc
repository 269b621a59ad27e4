#include "mount/mount_registry.h"

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/uuid.h"

namespace backy {

namespace {

constexpr size_t kMaxRecordBytes = 64 * 1024;
const char* const kSuffix = ".mount";

MountRecord parse(const std::string& text, const std::string& name) {
  const auto j = nlohmann::json::parse(text);
  MountRecord r;
  r.id = j.at("id").get<std::string>();
  r.job = j.at("job").get<std::string>();
  r.uuid = j.at("uuid").get<std::string>();
  r.dir = j.at("dir").get<std::string>();
  r.partition = j.value("partition", 0);
  r.loop = j.value("loop", "");
  r.fstype = j.value("fstype", "");
  r.state = j.value("state", "");
  r.daemon_run = j.value("daemon_run", "");
  r.since = j.value("since", int64_t{0});
  if (!is_uuid(r.id) || name != r.id + kSuffix || !is_revision_uuid(r.uuid) || r.dir.empty() ||
      r.dir.front() != '/' || !is_plain_name(r.job))
    throw Error("malformed mount record");
  return r;
}

}  // namespace

Dir MountRegistry::dir() const {
  Dir base = Dir::open(base_, true);
  auto d = base.sub(".mounts", true);
  if (!d) throw Error("cannot create " + (base_ / ".mounts").string());
  return std::move(*d);
}

std::vector<MountRecord> MountRegistry::list(std::vector<std::string>* problems) const {
  std::vector<MountRecord> out;
  auto base = Dir::open_existing(base_);
  if (!base) return out;
  auto d = base->sub(".mounts", false);
  if (!d) return out;
  for (const auto& name : d->list()) {
    if (!name.ends_with(kSuffix)) continue;
    try {
      out.push_back(parse(d->read(name, kMaxRecordBytes), name));
    } catch (const std::exception& e) {
      if (problems) problems->push_back(d->where(name) + ": " + e.what());
    }
  }
  return out;
}

std::optional<MountRecord> MountRegistry::find_by_dir(const std::string& dir) const {
  for (auto& r : list())
    if (r.dir == dir) return r;
  return std::nullopt;
}

std::set<std::string> MountRegistry::holds(const std::string& job) const {
  std::set<std::string> out;
  for (const auto& r : list())
    if (r.job == job) out.insert(r.uuid);
  return out;
}

void MountRegistry::save(const MountRecord& r) const {
  const nlohmann::json j{{"id", r.id},
                         {"job", r.job},
                         {"uuid", r.uuid},
                         {"dir", r.dir},
                         {"partition", r.partition},
                         {"loop", r.loop},
                         {"fstype", r.fstype},
                         {"state", r.state},
                         {"daemon_run", r.daemon_run},
                         {"since", r.since}};
  dir().write_atomic(r.id + kSuffix, j.dump(2) + "\n", 0600);
}

void MountRegistry::remove(const MountRecord& r) const {
  Dir d = dir();
  d.remove(clone_name(r));
  d.sync();
  d.remove(r.id + kSuffix);
  d.sync();
}

}  // namespace backy
