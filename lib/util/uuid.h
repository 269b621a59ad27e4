// Revision names: random (version 4) UUIDs, and the shortuuids of revisions adopted from
// upstream backy (docs/storage.md, "Moving from upstream backy").
#pragma once

#include <string>

namespace backy {

// 36 characters, lower-case hex, from the kernel's random source.
std::string new_uuid();
bool is_uuid(const std::string& s);
// Upstream backy's names: 22 characters of shortuuid's alphabet (57 characters: no 0, 1, I, O,
// l). backyd never makes one; it keeps them for the revisions it adopts.
inline constexpr size_t kShortUuidLength = 22;
bool is_shortuuid(const std::string& s);
// Whether `s` names a revision: a uuid or a shortuuid. Neither can hold '/', '.' or anything
// that could lead out of a job directory.
bool is_revision_uuid(const std::string& s);
// Whether `s` (at least kMinUuidPrefix characters) is how either form can begin.
bool is_revision_uuid_prefix(const std::string& s);

// People name a revision by the start of its uuid: tables show kShownUuidChars, and any
// kMinUuidPrefix or more that name one revision are a revision spec (Repository::select).
inline constexpr size_t kMinUuidPrefix = 6;
inline constexpr size_t kShownUuidChars = 8;
inline std::string short_uuid(const std::string& uuid) {
  return uuid.substr(0, kShownUuidChars);
}

}  // namespace backy
