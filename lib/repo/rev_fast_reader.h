// rev_fast_reader: reads a .rev file in exactly the layout backyd writes (to_yaml in
// repo/revision.h) without yaml-cpp, or declines.
//
// Why it exists: at startup backyd reads every job's .rev files, and yaml-cpp's scanner (which
// goes over each text twice: for the node tree, then for duplicate keys) was two thirds of the
// CPU time to READY with 10,000 jobs. The files backyd wrote itself have one fixed layout; this
// reads that layout and nothing else, about 100 times faster (5 against 650 µs a file).
//
// The contract, which revision_from_yaml relies on (it tries this first and falls back to
// revision_from_yaml_careful) and tests/unit/rev_fast_reader_test.cc and
// tests/fuzz/fuzz_revision.cc check:
//   - A Revision comes back only for a text that revision_from_yaml_careful accepts too, and it
//     is exactly the one that reader returns, field by field.
//   - Anything else is declined (nullopt), never an exception: files of upstream backy, edited
//     by hand or damaged, quoted or escaped strings, non-ASCII bytes, comments, tabs, CRLF,
//     blank lines, keys unknown or out of order, numbers in any but the plainest spelling.
//     The careful reader reads those, with its exact errors.
//
// The layout: one `key: value` a line, top-level keys in to_yaml's order (uuid, timestamp,
// parent, tags, trust, source, consistency, size, stats, scrub, complete), `consistency`,
// `stats.phases` and `scrub` optional (older backyd wrote none, phases only after a run with
// them), nested keys indented by two spaces, tags and bad blocks as flow sequences, phases as
// a flow mapping in their order, source keys in ascending order, `complete: true` last, a
// newline after every line. A string is a plain scalar of [A-Za-z0-9_./+@-] and ':' before one
// of those (in a value, not a key: "manual:x"), which yaml-cpp reads as that very text: it
// begins with a letter, digit, '/' or '_' and is no null word; parent may be "" (the emitter's
// empty string). A count is decimal digits without a leading zero that fit 64 bits; seconds
// are digits with an optional fraction and exponent (never a sign).
//
// Pure; any thread.
#pragma once

#include <optional>
#include <string_view>

#include "repo/revision.h"

namespace backy {

std::optional<Revision> read_rev_fast(std::string_view text);

}  // namespace backy
