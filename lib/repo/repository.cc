#include "repo/repository.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "repo/pending_revision.h"
#include "repo/upstream_revision.h"
#include "util/error.h"
#include "util/text.h"
#include "util/uuid.h"

namespace backy {

namespace {

constexpr size_t kUuidLength = 36;
// A number names a revision by age (0 = newest). Up to five digits: six or more hex digits are a
// uuid prefix, and no job keeps 100,000 revisions.
bool is_revision_number(const std::string& spec) {
  return !spec.empty() && spec.size() < kMinUuidPrefix &&
         std::all_of(spec.begin(), spec.end(), [](unsigned char c) { return std::isdigit(c); });
}

constexpr const char* kLatest = "latest";

// A name that begins with a revision uuid, split there: {uuid, the rest}. A shortuuid must be
// followed by nothing or a '.' (upstream's own names, and what adoption adds).
std::optional<std::pair<std::string, std::string>> split_revision_name(const std::string& name) {
  if (name.size() >= kUuidLength && is_uuid(name.substr(0, kUuidLength)))
    return std::pair(name.substr(0, kUuidLength), name.substr(kUuidLength));
  if (name.size() >= kShortUuidLength && is_shortuuid(name.substr(0, kShortUuidLength)) &&
      (name.size() == kShortUuidLength || name[kShortUuidLength] == '.'))
    return std::pair(name.substr(0, kShortUuidLength), name.substr(kShortUuidLength));
  return std::nullopt;
}

// "<uuid><suffix>" -> uuid, when `name` has that form.
std::optional<std::string> uuid_with_suffix(const std::string& name, const std::string& suffix) {
  auto split = split_revision_name(name);
  if (!split || split->second != suffix) return std::nullopt;
  return split->first;
}

// Whether repair() may remove `name`, a file of revision `uuid` named `uuid + rest`, when that
// revision has no .rev (or `rest` is a temp file). Everything of a run of ours begins with a
// uuid. A shortuuid is upstream backy's: of its files only what adoption writes is ours
// (repo/adopt.h), never the image, whatever happened to its .rev.
bool ours_to_remove(const std::string& uuid, const std::string& rest, bool complete) {
  if (rest == ".snapshot") return false;  // outlives its run on purpose
  if (is_uuid(uuid)) return !complete || rest.ends_with(".tmp");
  static const std::set<std::string> kAdoption = {".sums", ".rev.upstream"};
  static const std::set<std::string> kAdoptionTemps = {".sums.tmp", ".rev.tmp",
                                                       ".rev.upstream.tmp"};
  return (!complete && kAdoption.contains(rest)) || kAdoptionTemps.contains(rest);
}

bool is_regular(const std::optional<struct stat>& st) {
  return st && S_ISREG(st->st_mode);
}

}  // namespace

const Dir& Repository::locked(const Lock& lock) const {
  if (!lock.held())
    throw std::logic_error("a released (moved-from) lock used for " + dir_.string());
  if (lock.of_ != dir_)
    throw std::logic_error("the lock of " + lock.of_.string() + " used for " + dir_.string());
  return lock.dir_;
}

std::optional<Dir> Repository::open_dir() const {
  auto base = Dir::open_existing(dir_.parent_path(), *fs_);
  if (!base) return std::nullopt;
  return base->sub(dir_.filename().string(), false);
}

std::optional<Repository::Lock> Repository::try_lock() {
  Dir base = Dir::open(dir_.parent_path(), true, *fs_);
  Dir dir = std::move(*base.sub(dir_.filename().string(), true));
  UniqueFd fd = dir.open_file(".lock", O_RDWR | O_CREAT, 0600);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return std::nullopt;
    throw sys_error("lock " + dir.where(".lock"));
  }
  return Lock(dir_, std::move(dir), std::move(fd));
}

Repository::Lock Repository::lock() {
  auto l = try_lock();
  if (!l) throw Error("job directory " + dir_.string() + " is locked by another process");
  return std::move(*l);
}

std::vector<Revision> Repository::revisions_in(const Dir& dir,
                                               const std::vector<Dir::Entry>& entries,
                                               std::vector<std::string>* problems) {
  std::vector<Revision> out;
  auto problem = [&](std::string why) {
    if (problems) problems->push_back(std::move(why));
  };
  // A revision's image and .sums must be regular files: the listing says so for most file
  // systems without a stat each; where it does not know (DT_UNKNOWN), lstat decides.
  std::unordered_map<std::string_view, unsigned char> types;
  for (const Dir::Entry& e : entries) types.emplace(e.name, e.type);
  auto is_regular_file = [&](const std::string& name) {
    const auto it = types.find(name);
    if (it == types.end()) return false;
    if (it->second != DT_UNKNOWN) return it->second == DT_REG;
    return is_regular(dir.stat(name));
  };
  size_t waiting = 0, chunked = 0;
  for (const Dir::Entry& entry : entries) {
    const std::string& name = entry.name;
    const auto uuid = uuid_with_suffix(name, ".rev");
    if (!uuid) continue;
    try {
      const std::string text = dir.read(name, kMaxRevisionFileBytes);
      Revision r;
      try {
        r = revision_from_yaml(text, dir.where(name));
      } catch (const Error&) {
        if (!written_by_upstream(text)) throw;
        // Not a revision of ours (yet): `adopt` takes it over, or says why not.
        const UpstreamRevision u = upstream_revision_from_yaml(text, dir.where(name));
        ++(u.backend_type == "cowfile" ? waiting : chunked);
        continue;
      }
      // The uuid names files: it must be the file's own, never a path of someone's choosing.
      if (r.uuid != *uuid) throw Error(dir.where(name) + " names another revision: " + r.uuid);
      if (!r.parent.empty() && !is_revision_uuid(r.parent))
        throw Error(dir.where(name) + ": parent '" + r.parent + "' is no uuid");
      if (!is_regular_file(*uuid) || !is_regular_file(*uuid + ".sums"))
        throw Error("revision " + *uuid + " in " + dir.path().string() +
                    " lacks its image or checksum file");
      out.push_back(std::move(r));
    } catch (const Error& e) {
      problem(e.what());
    }
  }
  const std::string job = dir.path().filename().string();
  if (waiting)
    problem(count(waiting, "revision") + " of upstream backy " + (waiting == 1 ? "waits" : "wait") +
            " for `backyctl adopt " + job + "`");
  if (chunked)
    problem(count(chunked, "revision") + " of upstream backy in its chunked format cannot be " +
            "adopted (left alone; see docs/storage.md)");
  std::sort(out.begin(), out.end(), older);
  return out;
}

std::vector<UpstreamRevision> Repository::upstream_revisions(
    std::vector<std::string>* problems) const {
  std::vector<UpstreamRevision> out;
  std::optional<Dir> dir = open_dir();
  if (!dir) return out;
  for (const std::string& name : dir->list()) {
    const auto uuid = uuid_with_suffix(name, ".rev");
    if (!uuid) continue;
    try {
      const std::string text = dir->read(name, kMaxRevisionFileBytes);
      if (!written_by_upstream(text)) continue;
      UpstreamRevision u = upstream_revision_from_yaml(text, dir->where(name));
      if (u.uuid != *uuid) throw Error(dir->where(name) + " names another revision: " + u.uuid);
      out.push_back(std::move(u));
    } catch (const Error& e) {
      if (problems) problems->push_back(e.what());
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.timestamp, a.uuid) < std::tie(b.timestamp, b.uuid);
  });
  return out;
}

void Repository::commit_adopted(const Lock& lock, const Revision& rev, const BlockSums& sums) {
  const Dir& dir = locked(lock);
  if (!is_revision_uuid(rev.uuid)) throw Error("'" + rev.uuid + "' is no revision uuid");
  const std::string rev_name = rev.uuid + ".rev";
  const std::string upstream_text = dir.read(rev_name, kMaxRevisionFileBytes);
  if (!written_by_upstream(upstream_text))
    throw Error(dir.where(rev_name) + " is no longer upstream backy's");
  dir.write_atomic(rev.uuid + ".sums", sums.serialize(), 0440);
  // Upstream's own words, kept: its .rev can be put back from this copy (docs/storage.md).
  dir.write_atomic(rev.uuid + ".rev.upstream", upstream_text, 0440);
  UniqueFd image = dir.open_file(rev.uuid, O_RDONLY);
  struct stat st {};
  if (::fstat(image.get(), &st) != 0 || !S_ISREG(st.st_mode))
    throw Error(dir.where(rev.uuid) + " is not a regular file");
  if ((st.st_mode & 07777) != 0440 && dir.fs().fchmod(image.get(), 0440) != 0)
    throw sys_error("chmod " + dir.where(rev.uuid));
  // The commit: from the rename on the revision is ours.
  dir.write_atomic(rev_name, to_yaml(rev), 0640);
}

std::vector<Revision> Repository::revisions(std::vector<std::string>* problems) const {
  std::optional<Dir> dir = open_dir();
  if (!dir) return {};
  return revisions_in(*dir, dir->entries(), problems);
}

std::vector<Revision> Repository::select(const std::string& spec) const {
  auto unknown = [&] {
    return Error("unknown revision spec '" + spec + "' (expected a uuid or its first " +
                 std::to_string(kMinUuidPrefix) +
                 " or more characters, a number (0 = newest), latest, all or tag:NAME)");
  };
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
  } else if (is_revision_number(spec)) {
    size_t n = std::stoul(spec);
    if (n < all.size()) out.push_back(all[all.size() - 1 - n]);
  } else if (is_revision_uuid_prefix(spec)) {
    for (const auto& r : all)
      if (r.uuid.starts_with(spec)) out.push_back(r);
    if (out.size() > 1) {
      std::string names;
      for (const auto& r : out) names += (names.empty() ? "" : ", ") + r.uuid;
      throw Error("revision prefix '" + spec + "' is ambiguous: it matches " + names);
    }
    // Most lowercase words ("yesterday") could begin a shortuuid: one that names nothing, has
    // neither a digit nor a capital, and cannot begin a uuid is answered as what it most likely
    // is, a spec backyd does not know.
    const bool word = std::all_of(spec.begin(), spec.end(), [](char c) { return c >= 'a'; });
    if (out.empty() && word && spec.find_first_not_of("abcdef") != std::string::npos)
      throw unknown();
  } else {
    throw unknown();
  }
  if (out.empty())
    throw Error("no revision matches '" + spec + "' in " + dir_.string() + " (" +
                count(all.size(), "revision") + ")");
  return out;
}

Revision Repository::find(const std::string& spec) const {
  std::vector<Revision> found = select(spec);
  if (found.size() != 1)
    throw Error("'" + spec + "' matches " + std::to_string(found.size()) +
                " revisions; name exactly one");
  return found.front();
}

UniqueFd Repository::open_image(const std::string& uuid) const {
  if (!is_revision_uuid(uuid)) throw Error("'" + uuid + "' is no revision uuid");
  std::optional<Dir> dir = open_dir();
  if (!dir) throw Error("job directory " + dir_.string() + " does not exist");
  UniqueFd fd = dir->open_file(uuid, O_RDONLY);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    throw Error(dir->where(uuid) + " is not a regular file");
  return fd;
}

BlockSums Repository::load_sums(const std::string& uuid) const {
  if (!is_revision_uuid(uuid)) throw Error("'" + uuid + "' is no revision uuid");
  std::optional<Dir> dir = open_dir();
  if (!dir) throw Error("job directory " + dir_.string() + " does not exist");
  const std::string name = uuid + ".sums";
  return BlockSums::parse(dir->read(name, kMaxSumsFileBytes), dir->where(name));
}

Repository::Repair Repository::repair(const Lock& lock) {
  const Dir& dir = locked(lock);
  Repair out;
  const std::vector<std::string> names = dir.list();
  std::set<std::string> complete;
  for (const auto& name : names)
    if (auto uuid = uuid_with_suffix(name, ".rev")) complete.insert(*uuid);
  for (const auto& name : names) {
    // Only names this program writes: <uuid>, <uuid>.sums, <uuid>.*.tmp, latest.tmp (and, for
    // adopted revisions, what ours_to_remove() lists).
    const auto split = split_revision_name(name);
    const bool leftover =
        split ? ours_to_remove(split->first, split->second, complete.contains(split->first))
              : name == "latest.tmp";
    if (!leftover) continue;
    dir.remove(name);
    out.removed.push_back(name);
  }
  if (!out.removed.empty()) dir.sync();
  try {
    const std::vector<Revision> all = revisions_in(dir, dir.entries(), nullptr);
    const auto target = dir.read_symlink(kLatest);
    if (all.empty() ? dir.stat(kLatest).has_value() : target != all.back().uuid)
      point_latest(dir, all.empty() ? nullptr : &all.back());
  } catch (const Error& e) {
    out.warnings.push_back(e.what());
  }
  return out;
}

PendingRevision Repository::begin(const Lock& lock, const std::string& uuid) {
  if (!is_uuid(uuid)) throw Error("'" + uuid + "' is no revision uuid");
  return PendingRevision(*this, locked(lock), uuid);
}

void Repository::update(const Lock& lock, const Revision& rev) {
  const Dir& dir = locked(lock);
  if (!is_revision_uuid(rev.uuid) || !dir.stat(rev.uuid + ".rev"))
    throw Error("revision " + rev.uuid + " does not exist in " + dir_.string());
  dir.write_atomic(rev.uuid + ".rev", to_yaml(rev), 0640);
}

void Repository::remove(const Lock& lock, const std::string& uuid) {
  const Dir& dir = locked(lock);
  if (!is_revision_uuid(uuid)) throw Error("'" + uuid + "' is no revision uuid");
  // `latest` must never name a revision that is going: move it first, if it names this one.
  // Only then is the history read (expiring n revisions must not parse it n times); a `latest`
  // that names another revision names a complete one, and stays.
  if (dir.read_symlink(kLatest) == uuid) {
    std::vector<Revision> rest = revisions_in(dir, dir.entries(), nullptr);
    std::erase_if(rest, [&](const Revision& r) { return r.uuid == uuid; });
    point_latest(dir, rest.empty() ? nullptr : &rest.back());
  }
  dir.remove(uuid + ".rev");
  dir.sync();  // from here on the revision does not exist, even after a crash
  std::string failed;
  for (const std::string& name : {uuid + ".sums", uuid, uuid + ".rev.upstream"}) {
    try {
      dir.remove(name);
    } catch (const Error& e) {
      failed += (failed.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  if (!failed.empty())
    throw Error("revision " + uuid + " is removed, but not all its files (the next run removes " +
                "them): " + failed);
}

void Repository::note_source_state(const Lock& lock, const std::string& uuid) {
  const Dir& dir = locked(lock);
  dir.write_new(uuid + ".snapshot", "", 0640);
  dir.sync();
}

std::set<std::string> Repository::source_states(const Lock& lock) const {
  std::set<std::string> out;
  for (const auto& name : locked(lock).list())
    if (auto uuid = uuid_with_suffix(name, ".snapshot")) out.insert(*uuid);
  return out;
}

void Repository::forget_source_state(const Lock& lock, const std::string& uuid) {
  locked(lock).remove(uuid + ".snapshot");
}

void Repository::write_note(const Lock& lock, const std::string& name, const std::string& content) {
  locked(lock).write_atomic(name, content, 0640);
}

std::optional<std::string> Repository::read_note(const Lock& lock, const std::string& name,
                                                 size_t limit) const {
  const Dir& dir = locked(lock);
  if (!dir.stat(name)) return std::nullopt;
  return dir.read(name, limit);
}

void Repository::remove_note(const Lock& lock, const std::string& name) {
  const Dir& dir = locked(lock);
  if (dir.remove(name)) dir.sync();
}

void Repository::point_latest(const Dir& dir, const Revision* newest) {
  if (!newest) {
    // Only a link is ours to remove; anything else standing there is left alone.
    if (auto st = dir.stat(kLatest); st && S_ISLNK(st->st_mode)) {
      dir.remove(kLatest);
      dir.sync();
    }
    return;
  }
  // A relative target keeps the directory movable; rename makes the switch atomic.
  dir.replace_symlink(kLatest, newest->uuid);
}

}  // namespace backy
