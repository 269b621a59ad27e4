// Random (version 4) UUIDs, the names of revisions.
#pragma once

#include <string>

namespace backy {

// 36 characters, lower-case hex, from the kernel's random source.
std::string new_uuid();
bool is_uuid(const std::string& s);

}  // namespace backy
