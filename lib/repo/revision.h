// Revision: the metadata of one backup of one job (the <uuid>.rev file, YAML).
//
// A .rev file exists only for a complete revision: it is written last, after the image and its
// checksums are durable, so its presence is the commit. After that only `tags`, `trust` and the
// scrub result ever change.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "util/time.h"

namespace backy {

// trusted: written and sample-verified; verified: a full scrub found it intact;
// distrusted: a scrub or check found it damaged; never used as a parent.
enum class Trust { trusted, distrusted, verified };
std::string to_string(Trust t);

// How consistent the image is: frozen when a pre-snapshot hook froze the guest's filesystems
// for the snapshot (backup/snapshot_hooks.h); crash (what a power cut would leave) otherwise,
// and for every .rev written before the key existed.
enum class Consistency { crash, frozen };
std::string to_string(Consistency c);

// The parts of a run, in the order it takes them (backup/backup.h says what each holds). Every
// moment of a run belongs to exactly one: the phases sum to its duration.
enum class Phase { prepare, snapshot, read, write, flush, verify, commit, cleanup };
inline constexpr std::array<Phase, 8> kPhases = {Phase::prepare, Phase::snapshot, Phase::read,
                                                 Phase::write,   Phase::flush,    Phase::verify,
                                                 Phase::commit,  Phase::cleanup};
// The phase's name in the .rev and on the wire ("prepare", "snapshot", ...).
std::string_view to_string(Phase p);
// nullopt for a name that is none of them.
std::optional<Phase> phase_named(std::string_view name);
// Seconds per phase; empty for a run recorded before phases were (a .rev without them).
using PhaseSeconds = std::map<Phase, double>;

struct RevisionStats {
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  // Seconds of the whole run: from its first step (the job's lock) to the end of the source's
  // clean-up after the commit. A .rev of a run that crashed after its commit keeps the figures
  // of the commit's moment; one written before phases existed, its start to before its commit.
  double duration = 0;
  uint64_t verified_blocks = 0;
  PhaseSeconds phases;  // sums to `duration`
};

struct Revision {
  std::string uuid;
  TimePoint timestamp;  // when the run began
  std::string parent;   // empty: a full backup
  std::set<std::string> tags;
  Trust trust = Trust::trusted;
  std::map<std::string, std::string> source;  // type and where: filename, or pool/image/snapshot
  Consistency consistency = Consistency::crash;
  uint64_t size = 0;  // virtual image size in bytes
  RevisionStats stats;
  std::vector<uint64_t> bad_blocks;  // from the last scrub
  std::string scrubbed;              // ISO 8601 time of the last scrub, empty if never
};

// The order of a job's history, oldest first: by timestamp, then by uuid.
bool older(const Revision& a, const Revision& b);

std::string to_yaml(const Revision& r);
// Throws backy::Error naming `where` if the text is not a revision. The layout to_yaml writes
// is read by a fast path (repo/rev_fast_reader.h), any other text by yaml-cpp: the same result.
Revision revision_from_yaml(const std::string& text, const std::string& where);
// The same through yaml-cpp alone, for every text: the reference the fast path is held to.
Revision revision_from_yaml_careful(const std::string& text, const std::string& where);

}  // namespace backy
