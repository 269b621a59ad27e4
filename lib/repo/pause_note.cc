#include "repo/pause_note.h"

#include <yaml-cpp/yaml.h>

#include "util/dir.h"
#include "util/error.h"
#include "util/utf8.h"

namespace backy {

namespace {

// As Repository opens it: base-dir by its configured path, the job directory never through a link.
std::optional<Dir> open_job_dir(const std::filesystem::path& job_dir, bool create) {
  if (create) return Dir::open(job_dir.parent_path(), true).sub(job_dir.filename().string(), true);
  auto base = Dir::open_existing(job_dir.parent_path());
  if (!base) return std::nullopt;
  return base->sub(job_dir.filename().string(), false);
}

}  // namespace

std::optional<std::string> check_pause_reason(const std::string& reason) {
  if (reason.size() > kMaxPauseReasonBytes)
    return "the reason is " + std::to_string(reason.size()) + " bytes long; at most " +
           std::to_string(kMaxPauseReasonBytes);
  if (invalid_utf8_at(reason) != std::string::npos) return "the reason is not UTF-8 text";
  for (unsigned char c : reason)
    if (c < 0x20 || c == 0x7f) return "the reason contains a control character";
  return std::nullopt;
}

std::optional<PauseNote> read_pause_note(const std::filesystem::path& job_dir) {
  std::optional<Dir> dir = open_job_dir(job_dir, false);
  if (!dir) return std::nullopt;
  return read_pause_note(*dir);
}

std::optional<PauseNote> read_pause_note(const Dir& dir) {
  if (!dir.stat(kPauseNoteName)) return std::nullopt;
  const std::string where = dir.where(kPauseNoteName);
  const std::string text = dir.read(kPauseNoteName, kMaxPauseNoteBytes);
  auto bad = [&](const std::string& why) {
    return Error("malformed pause file " + where + ": " + why);
  };
  if (invalid_utf8_at(text) != std::string::npos) throw bad("not UTF-8 text");
  try {
    const YAML::Node n = YAML::Load(text);
    if (!n.IsMap()) throw bad("not a mapping");
    PauseNote note;
    note.by = n["by"].as<std::string>("");
    const auto since = parse_iso8601(n["since"].as<std::string>(""));
    if (!since) throw bad("'since' is no ISO 8601 time");
    note.since = *since;
    note.reason = n["reason"].as<std::string>("");
    if (auto why = check_pause_reason(note.reason)) throw bad(*why);
    if (auto why = check_pause_reason(note.by)) throw bad("'by': " + *why);
    return note;
  } catch (const YAML::Exception& e) {
    throw bad(e.what());
  }
}

void write_pause_note(const std::filesystem::path& job_dir, const PauseNote& note) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "by" << YAML::Value << note.by;
  out << YAML::Key << "since" << YAML::Value << format_iso8601(note.since);
  out << YAML::Key << "reason" << YAML::Value << note.reason;
  out << YAML::EndMap;
  open_job_dir(job_dir, true)->write_atomic(kPauseNoteName, std::string(out.c_str()) + "\n", 0640);
}

void remove_pause_note(const std::filesystem::path& job_dir) {
  std::optional<Dir> dir = open_job_dir(job_dir, false);
  if (dir && dir->remove(kPauseNoteName)) dir->sync();
}

}  // namespace backy
