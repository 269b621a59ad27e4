// Fuzzes the .rev parser with arbitrary text: revision_from_yaml either returns a revision or
// throws backy::Error, nothing else. A revision it returns must survive to_yaml and come back
// the same (that is how tag changes, scrubs and the end of its run rewrite it). The same text
// goes through upstream backy's .rev parser (repo/upstream_revision.h), which may only return or
// throw backy::Error. The fast reader (repo/rev_fast_reader.h) may return a revision only for a
// text the careful reader (yaml-cpp) accepts, and exactly the same one.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "repo/rev_fast_reader.h"
#include "repo/revision.h"
#include "repo/upstream_revision.h"
#include "util/error.h"

namespace {

void expect(bool ok) {
  if (!ok) std::abort();
}

// The phases are written to the microsecond: they come back within that.
bool same_phases(const backy::PhaseSeconds& a, const backy::PhaseSeconds& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [phase, secs] : a) {
    const auto it = b.find(phase);
    if (it == b.end() || std::fabs(it->second - secs) > 1e-6 * std::max(1.0, secs)) return false;
  }
  return true;
}

bool same(const backy::Revision& a, const backy::Revision& b) {
  return same_phases(a.stats.phases, b.stats.phases) && a.uuid == b.uuid &&
         a.timestamp == b.timestamp && a.parent == b.parent && a.tags == b.tags &&
         a.trust == b.trust && a.source == b.source && a.size == b.size &&
         a.stats.bytes_read == b.stats.bytes_read &&
         a.stats.bytes_written == b.stats.bytes_written &&
         a.stats.verified_blocks == b.stats.verified_blocks && a.bad_blocks == b.bad_blocks &&
         a.scrubbed == b.scrubbed;
}

// Both readers, field by field and exactly.
bool identical(const backy::Revision& a, const backy::Revision& b) {
  return a.stats.phases == b.stats.phases && a.stats.duration == b.stats.duration &&
         a.consistency == b.consistency && same(a, b);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    if (backy::written_by_upstream(text)) backy::upstream_revision_from_yaml(text, "fuzz.rev");
  } catch (const backy::Error&) {
  }
  const std::optional<backy::Revision> fast = backy::read_rev_fast(text);
  backy::Revision r;
  try {
    r = backy::revision_from_yaml_careful(text, "fuzz.rev");
  } catch (const backy::Error&) {
    expect(!fast);
    return 0;
  }
  expect(!fast || identical(*fast, r));
  const backy::Revision back = backy::revision_from_yaml(backy::to_yaml(r), "fuzz.rev (again)");
  expect(same(r, back));
  return 0;
}
