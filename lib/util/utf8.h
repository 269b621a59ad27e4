// Whether bytes are well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF). YAML and JSON text is UTF-8 by definition; yaml-cpp does not check what it reads,
// and its emitter replaces what is not, so a file must be checked before it is trusted to
// round-trip. Pure; any thread.
#pragma once

#include <cstddef>
#include <string_view>

namespace backy {

// The offset of the first byte that does not belong to a well-formed sequence, or npos.
size_t invalid_utf8_at(std::string_view s);

}  // namespace backy
