// How one line of the control protocol becomes a Json value: what Json::parse makes of it, with
// two guards added.
//
// Nesting: a line whose arrays and objects nest deeper than kMaxNesting (message.h) is reported
// as too deep and not built; copying or destroying a Json value recurses once per level.
//
// Long strings: the metrics answer is one JSON string of megabytes, and nlohmann's lexer reads a
// string a character at a time through its input adapter (about 70 ms for 4 MB, most of
// backyctl's time). So a string token of at least `long_string` bytes is decoded by a tight loop
// of ours instead, and nlohmann parses the rest of the line with an empty string in its place;
// the decoded string is moved into the tree where the empty one was. That loop accepts only what
// it fully understands: printable ASCII and the escapes \" \\ \/ \b \f \n \r \t. For anything
// else in a long string (a \u escape, a control byte, a byte >= 0x80) it declines, and the whole
// line goes to Json::parse as if there were no fast path. Either way the result is the same
// value, or the same failure; tests/unit/json_line_test.cc compares the two on generated and
// damaged lines.
//
// Memory: besides the result, at most one more copy of the line (the decoded strings and the
// line without them). Time: linear in the line's length.
//
// Pure: no I/O. Any thread.
#pragma once

#include <cstddef>
#include <limits>
#include <string_view>

#include "protocol/message.h"

namespace backy::protocol {

// The shortest string token (bytes between its quotes) the fast path decodes. Shorter strings are
// too cheap for nlohmann to matter; a line under this size takes Json::parse's path unchanged.
inline constexpr std::size_t kLongString = 64 * 1024;
// A long_string that turns the fast path off (Json::parse alone; the tests' reference).
inline constexpr std::size_t kNoLongStrings = std::numeric_limits<std::size_t>::max();

// The parse of `text` (one line, with or without its '\n'): the JSON value, or a discarded value
// (is_discarded()) when the text is not JSON. `too_deep` says that arrays and objects nest deeper
// than kMaxNesting; the value is then to be ignored.
Json parse_line(std::string_view text, bool& too_deep, std::size_t long_string = kLongString);

}  // namespace backy::protocol
