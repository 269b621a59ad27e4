#include "repo/repository.h"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "util/error.h"
#include "util/file_io.h"
#include "util/uuid.h"

namespace fs = std::filesystem;

namespace backy {

std::optional<Repository::Lock> Repository::try_lock() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error("cannot create job directory " + dir_.string() + ": " + ec.message());
  UniqueFd fd = open_file(dir_ / ".lock", O_RDWR | O_CREAT, 0600);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return std::nullopt;
    throw sys_error("lock " + (dir_ / ".lock").string());
  }
  return Lock(std::move(fd));
}

Repository::Lock Repository::lock() {
  auto l = try_lock();
  if (!l) throw Error("job directory " + dir_.string() + " is locked by another process");
  return std::move(*l);
}

std::vector<Revision> Repository::revisions(std::vector<std::string>* problems) const {
  std::vector<Revision> out;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".rev") || !is_uuid(name.substr(0, name.size() - 4))) continue;
    try {
      Revision r = revision_from_yaml(read_file(entry.path()), entry.path().string());
      out.push_back(std::move(r));
    } catch (const Error& e) {
      if (problems) problems->push_back(e.what());
    }
  }
  std::sort(out.begin(), out.end(), [](const Revision& a, const Revision& b) {
    return std::tie(a.timestamp, a.uuid) < std::tie(b.timestamp, b.uuid);
  });
  return out;
}

std::vector<Revision> Repository::select(const std::string& spec) const {
  std::vector<Revision> all = revisions();
  std::vector<Revision> out;
  if (spec == "all") {
    out = all;
  } else if (spec == "latest") {
    if (!all.empty()) out.push_back(all.back());
  } else if (spec.starts_with("tag:")) {
    const std::string tag = spec.substr(4);
    for (const auto& r : all)
      if (r.tags.contains(tag)) out.push_back(r);
  } else if (!spec.empty() && std::all_of(spec.begin(), spec.end(), ::isdigit)) {
    if (spec.size() > 9) throw Error("revision number " + spec + " is out of range");
    size_t n = std::stoul(spec);
    if (n < all.size()) out.push_back(all[all.size() - 1 - n]);
  } else if (is_uuid(spec)) {
    for (const auto& r : all)
      if (r.uuid == spec) out.push_back(r);
  } else {
    throw Error("unknown revision spec '" + spec +
                "' (expected a uuid, a number (0 = newest), latest, all or tag:NAME)");
  }
  if (out.empty())
    throw Error("no revision matches '" + spec + "' in " + dir_.string() + " (" +
                std::to_string(all.size()) + " revisions)");
  return out;
}

Revision Repository::find(const std::string& spec) const {
  std::vector<Revision> found = select(spec);
  if (found.size() != 1)
    throw Error("'" + spec + "' matches " + std::to_string(found.size()) +
                " revisions; name exactly one");
  return found.front();
}

std::vector<std::string> Repository::remove_leftovers(const Lock&) {
  std::vector<std::string> removed;
  std::set<std::string> complete;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".rev") && is_uuid(name.substr(0, name.size() - 4)))
      complete.insert(name.substr(0, 36));
  }
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    // Only names this program writes: <uuid>, <uuid>.sums, <uuid>.*.tmp, latest.tmp.
    bool ours = name.size() >= 36 && is_uuid(name.substr(0, 36));
    bool leftover = (ours && (!complete.contains(name.substr(0, 36)) || name.ends_with(".tmp"))) ||
                    name == "latest.tmp";
    if (!leftover) continue;
    fs::remove(entry.path(), ec);
    if (ec) throw Error("cannot remove leftover " + entry.path().string() + ": " + ec.message());
    removed.push_back(name);
  }
  if (!removed.empty()) fsync_dir(dir_);
  return removed;
}

void Repository::commit(const Lock&, const Revision& rev) {
  write_file_atomic(rev_path(rev.uuid), to_yaml(rev), 0640);
  update_latest();
}

void Repository::update(const Lock&, const Revision& rev) {
  write_file_atomic(rev_path(rev.uuid), to_yaml(rev), 0640);
}

void Repository::remove(const Lock&, const std::string& uuid) {
  std::error_code ec;
  for (const fs::path& p : {rev_path(uuid), sums_path(uuid), image_path(uuid)}) {
    fs::remove(p, ec);
    if (ec) throw Error("cannot remove " + p.string() + ": " + ec.message());
  }
  fsync_dir(dir_);
  // Only the newest revision is `latest`; removing an older one (expiry) leaves it alone, so
  // expiring n revisions does not reread every .rev n times.
  const fs::path target = fs::read_symlink(dir_ / "latest", ec);
  if (ec || target == uuid) update_latest();
}

void Repository::discard(const Lock&, const std::string& uuid) {
  std::error_code ec;
  for (const fs::path& p : {image_path(uuid), sums_path(uuid), fs::path(sums_path(uuid)) += ".tmp",
                            fs::path(rev_path(uuid)) += ".tmp"})
    fs::remove(p, ec);
}

void Repository::update_latest() {
  std::vector<Revision> all = revisions();
  const fs::path link = dir_ / "latest";
  std::error_code ec;
  if (all.empty()) {
    fs::remove(link, ec);
    return;
  }
  // A relative target keeps the directory movable; rename makes the switch atomic.
  const fs::path tmp = dir_ / "latest.tmp";
  fs::remove(tmp, ec);
  fs::create_symlink(all.back().uuid, tmp, ec);
  if (ec) throw Error("cannot create " + tmp.string() + ": " + ec.message());
  fs::rename(tmp, link, ec);
  if (ec) throw Error("cannot replace " + link.string() + ": " + ec.message());
  fsync_dir(dir_);
}

}  // namespace backy
