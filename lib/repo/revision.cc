#include "repo/revision.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <tuple>

#include "repo/rev_fast_reader.h"
#include "repo/rev_yaml.h"
#include "util/error.h"
#include "util/uuid.h"

namespace backy {

std::string to_string(Trust t) {
  switch (t) {
    case Trust::trusted:
      return "trusted";
    case Trust::distrusted:
      return "distrusted";
    case Trust::verified:
      return "verified";
  }
  return "trusted";
}

std::string to_string(Consistency c) {
  return c == Consistency::frozen ? "frozen" : "crash";
}

std::string_view to_string(Phase p) {
  switch (p) {
    case Phase::prepare:
      return "prepare";
    case Phase::snapshot:
      return "snapshot";
    case Phase::read:
      return "read";
    case Phase::write:
      return "write";
    case Phase::flush:
      return "flush";
    case Phase::verify:
      return "verify";
    case Phase::commit:
      return "commit";
    case Phase::cleanup:
      return "cleanup";
  }
  return "prepare";
}

std::optional<Phase> phase_named(std::string_view name) {
  for (Phase p : kPhases)
    if (to_string(p) == name) return p;
  return std::nullopt;
}

namespace {

// Seconds to the microsecond, without trailing zeros ("0.46", "12.000001", "0"): a person reads
// the .rev, and the emitter would write 0.46 as 0.46000000000000002.
std::string seconds_text(double s) {
  if (!std::isfinite(s) || s < 0) s = 0;  // never written by a clock; never what the reader refuses
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", s);
  std::string t = buf;
  t.erase(t.find_last_not_of('0') + 1);
  if (t.back() == '.') t.pop_back();
  return t;
}

// stats.phases: a mapping of phase names to seconds, each known, finite and not negative (a
// mangled value must not make a run look fast or slow).
PhaseSeconds phases_from_yaml(const YAML::Node& n, const std::string& where) {
  auto bad = [&](const std::string& why) {
    return Error("malformed revision file " + where + ": 'stats.phases' " + why);
  };
  if (!n.IsMap()) throw bad("is not a mapping");
  PhaseSeconds out;
  for (const auto& kv : n) {
    const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : "";
    const auto phase = phase_named(name);
    if (!phase) throw bad("names an unknown phase '" + name + "'");
    const double s = kv.second.as<double>();
    if (!std::isfinite(s) || s < 0)
      throw bad("'" + name + "' is not a number of seconds (finite, not negative)");
    out[*phase] = s;
  }
  return out;
}

}  // namespace

bool older(const Revision& a, const Revision& b) {
  return std::tie(a.timestamp, a.uuid) < std::tie(b.timestamp, b.uuid);
}

std::string to_yaml(const Revision& r) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "uuid" << YAML::Value << r.uuid;
  out << YAML::Key << "timestamp" << YAML::Value << format_iso8601(r.timestamp);
  out << YAML::Key << "parent" << YAML::Value << r.parent;
  out << YAML::Key << "tags" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const auto& t : r.tags) out << t;
  out << YAML::EndSeq;
  out << YAML::Key << "trust" << YAML::Value << to_string(r.trust);
  out << YAML::Key << "source" << YAML::Value << YAML::BeginMap;
  for (const auto& [k, v] : r.source) out << YAML::Key << k << YAML::Value << v;
  out << YAML::EndMap;
  out << YAML::Key << "consistency" << YAML::Value << to_string(r.consistency);
  out << YAML::Key << "size" << YAML::Value << r.size;
  out << YAML::Key << "stats" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "bytes_read" << YAML::Value << r.stats.bytes_read;
  out << YAML::Key << "bytes_written" << YAML::Value << r.stats.bytes_written;
  out << YAML::Key << "duration" << YAML::Value << r.stats.duration;
  out << YAML::Key << "verified_blocks" << YAML::Value << r.stats.verified_blocks;
  if (!r.stats.phases.empty()) {
    out << YAML::Key << "phases" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const auto& [phase, secs] : r.stats.phases)
      out << YAML::Key << std::string(to_string(phase)) << YAML::Value << seconds_text(secs);
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  if (!r.scrubbed.empty()) {
    out << YAML::Key << "scrub" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "time" << YAML::Value << r.scrubbed;
    out << YAML::Key << "bad_blocks" << YAML::Value << YAML::Flow << r.bad_blocks;
    out << YAML::EndMap;
  }
  out << YAML::Key << "complete" << YAML::Value << true;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

Revision revision_from_yaml(const std::string& text, const std::string& where) {
  if (std::optional<Revision> r = read_rev_fast(text)) return std::move(*r);
  return revision_from_yaml_careful(text, where);
}

Revision revision_from_yaml_careful(const std::string& text, const std::string& where) {
  auto bad = [&](const std::string& why) {
    return Error("malformed revision file " + where + ": " + why);
  };
  const YAML::Node n = load_rev_yaml(text, "malformed revision file", where);
  try {
    Revision r;
    // The uuid names the revision's files and `latest` points at it: it must be a uuid and
    // nothing that could lead out of the job directory.
    r.uuid = n["uuid"].as<std::string>();
    if (!is_revision_uuid(r.uuid)) throw bad("'uuid' is not a uuid");
    auto ts = parse_iso8601(n["timestamp"].as<std::string>());
    if (!ts) throw Error("bad timestamp in " + where);
    r.timestamp = *ts;
    if (n["parent"] && !n["parent"].IsNull()) r.parent = n["parent"].as<std::string>();
    if (!r.parent.empty() && !is_revision_uuid(r.parent)) throw bad("'parent' is not a uuid");
    for (const auto& t : n["tags"]) r.tags.insert(t.as<std::string>());
    r.trust = trust_of(n, "malformed revision file", where);
    if (n["source"])
      for (const auto& kv : n["source"])
        r.source[kv.first.as<std::string>()] = kv.second.as<std::string>();
    // A mangled value must not claim a frozen image: anything but the two words is an error.
    const std::string consistency = n["consistency"] ? n["consistency"].as<std::string>() : "crash";
    if (consistency != "crash" && consistency != "frozen")
      throw bad("unknown 'consistency' '" + consistency + "' (frozen or crash)");
    r.consistency = consistency == "frozen" ? Consistency::frozen : Consistency::crash;
    r.size = n["size"].as<uint64_t>();
    if (const YAML::Node s = n["stats"]) {
      r.stats.bytes_read = s["bytes_read"].as<uint64_t>(0);
      r.stats.bytes_written = s["bytes_written"].as<uint64_t>(0);
      r.stats.duration = s["duration"].as<double>(0);
      r.stats.verified_blocks = s["verified_blocks"].as<uint64_t>(0);
      if (const YAML::Node p = s["phases"]) r.stats.phases = phases_from_yaml(p, where);
    }
    if (const YAML::Node s = n["scrub"]) {
      r.scrubbed = s["time"].as<std::string>("");
      if (!parse_iso8601(r.scrubbed)) throw bad("'scrub' has no ISO 8601 'time'");
      for (const auto& b : s["bad_blocks"]) r.bad_blocks.push_back(b.as<uint64_t>());
    }
    if (!n["complete"] || !n["complete"].as<bool>()) throw Error(where + " is not complete");
    return r;
  } catch (const YAML::Exception& e) {
    throw bad(e.what());
  }
}

}  // namespace backy
