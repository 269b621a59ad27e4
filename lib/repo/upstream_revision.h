// UpstreamRevision: a <uuid>.rev written by upstream backy (flyingcircusio/backy up to 2.4.3),
// read so that backyd can adopt its revision (repo/adopt.h) or say why it cannot.
//
// Upstream's file is YAML too, but not ours: no `size`, `source` or `complete`; a 22-character
// shortuuid as its name; `timestamp` as PyYAML writes a datetime ("2016-03-04 10:11:12.123456"
// with or without "+00:00", or a float of seconds since the epoch in early versions); `parent`
// null for a full backup; `backend_type` "cowfile" (or absent: upstream's rule for the files
// before it had the key) for a raw image <uuid> beside it, or "chunked" for a chunks/ store
// backyd cannot read. The text is bytes from disk: read as strictly as ours (UTF-8, no
// duplicate keys, names that are revision uuids), only in upstream's spellings.
//
// Pure; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "repo/revision.h"
#include "util/time.h"

namespace backy {

struct UpstreamRevision {
  std::string uuid;
  TimePoint timestamp;
  std::string parent;  // empty: a full backup
  std::set<std::string> tags;
  Trust trust = Trust::trusted;
  std::string backend_type;  // "cowfile" when the file has none
  uint64_t bytes_written = 0;
  double duration = 0;
};

// Whether `text` is a .rev of upstream's rather than one of ours: a YAML mapping with `uuid`
// and `timestamp` and without the `complete` key every .rev of ours has. False for text that
// is no YAML mapping at all (that is a malformed file, whoever wrote it).
bool written_by_upstream(const std::string& text);

// Throws backy::Error naming `where` and the rule it breaks when `text` is not an upstream .rev.
UpstreamRevision upstream_revision_from_yaml(const std::string& text, const std::string& where);

// A timestamp as upstream's files hold it: "YYYY-MM-DD HH:MM:SS[.ffffff][offset]" (or with a
// 'T'), where a missing offset means UTC (upstream localizes naive times to UTC) and an offset is
// "Z", "+HH", "+HH:MM" or "-HH:MM", optionally after a space. nullopt if malformed.
std::optional<TimePoint> parse_upstream_time(const std::string& s);

}  // namespace backy
