// Random (version 4) UUIDs, the names of revisions.
#pragma once

#include <string>

namespace backy {

// 36 characters, lower-case hex, from the kernel's random source.
std::string new_uuid();
bool is_uuid(const std::string& s);

// People name a revision by the start of its uuid: tables show kShownUuidChars, and any
// kMinUuidPrefix or more that name one revision are a revision spec (Repository::select).
inline constexpr size_t kMinUuidPrefix = 6;
inline constexpr size_t kShownUuidChars = 8;
inline std::string short_uuid(const std::string& uuid) {
  return uuid.substr(0, kShownUuidChars);
}

}  // namespace backy
