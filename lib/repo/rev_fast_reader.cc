#include "repo/rev_fast_reader.h"

#include <charconv>
#include <string>
#include <system_error>

#include "util/time.h"
#include "util/uuid.h"

namespace backy {

namespace {

// yaml-cpp refuses a simple key longer than 1024 characters; source keys stay well below.
constexpr size_t kMaxKey = 256;

bool scalar_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '_':
    case '.':
    case '/':
    case '+':
    case '@':
    case '-':
      return true;
    default:
      return false;
  }
}

// Whether yaml-cpp reads the plain scalar `v` as the string `v`: it must not begin with an
// indicator ('-', '.' and the like are left to the careful reader) nor be a word that yaml-cpp
// makes a null node (whose string is "null").
bool plain_as_written(std::string_view v) {
  if (v.empty()) return false;
  const char c = v.front();
  const bool first_ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '/' || c == '_';
  return first_ok && v != "null" && v != "Null" && v != "NULL";
}

// A cursor over the text; every read either consumes what it names or reports failure (the
// whole read is then declined, so a half-consumed cursor is never used again).
class Cursor {
 public:
  explicit Cursor(std::string_view text) : rest_(text) {}

  bool done() const { return rest_.empty(); }
  bool at(std::string_view lit) const { return rest_.starts_with(lit); }
  bool eat(std::string_view lit) {
    if (!at(lit)) return false;
    rest_.remove_prefix(lit.size());
    return true;
  }

  // The plain scalar here: nullopt if there is none that yaml-cpp reads as written. A value may
  // hold ':' before another scalar character ("manual:x", "rbd:pool/img"): yaml-cpp's scalar
  // ends only at a ':' before a space, a line break, the end or a flow indicator. A key (in a
  // block or a flow mapping) holds none: its ':' is the one that ends it.
  std::optional<std::string_view> plain(bool key = false) {
    size_t n = 0;
    while (n < rest_.size() &&
           (scalar_char(rest_[n]) ||
            (!key && rest_[n] == ':' && n + 1 < rest_.size() && scalar_char(rest_[n + 1]))))
      ++n;
    const std::string_view v = rest_.substr(0, n);
    if (!plain_as_written(v) || (key && v.size() > kMaxKey)) return std::nullopt;
    rest_.remove_prefix(n);
    return v;
  }

  // A plain value and the end of its line.
  std::optional<std::string_view> line() {
    auto v = plain();
    if (!v || !eat("\n")) return std::nullopt;
    return v;
  }

 private:
  std::string_view rest_;
};

// A count as yaml-cpp reads it into a uint64_t, in the one spelling that cannot mean anything
// else (its stream would read "010" as octal and "0x10" as hex).
std::optional<uint64_t> count_of(std::string_view v) {
  if (v.empty() || v.size() > 20 || (v.size() > 1 && v.front() == '0')) return std::nullopt;
  for (char c : v)
    if (c < '0' || c > '9') return std::nullopt;
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
  return n;
}

// Seconds: digits, an optional fraction, an optional exponent. Both this and yaml-cpp's stream
// (strtod) round the decimal correctly, so they agree; anything that overflows or underflows
// is declined rather than reasoned about.
std::optional<double> seconds_of(std::string_view v) {
  size_t i = 0;
  auto digits = [&] {
    const size_t from = i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
    return i > from;
  };
  if (!digits()) return std::nullopt;
  if (i < v.size() && v[i] == '.' && (++i, !digits())) return std::nullopt;
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
    if (!digits()) return std::nullopt;
  }
  if (i != v.size()) return std::nullopt;
  double d = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
  return d;
}

std::optional<uint64_t> count_line(Cursor& c, std::string_view key) {
  if (!c.eat(key)) return std::nullopt;
  const auto v = c.line();
  return v ? count_of(*v) : std::nullopt;
}

// `[a, b, c]` or `[]` and the end of the line; `each` takes every element's text.
template <typename Each>
bool flow_sequence_line(Cursor& c, Each each) {
  if (!c.eat("[")) return false;
  if (!c.eat("]")) {
    do {
      const auto v = c.plain();
      if (!v || !each(*v)) return false;
    } while (c.eat(", "));
    if (!c.eat("]")) return false;
  }
  return c.eat("\n");
}

bool read_source(Cursor& c, std::map<std::string, std::string>& source) {
  if (c.eat("  {}\n")) return true;
  std::string_view last;
  while (c.eat("  ")) {
    const auto key = c.plain(true);
    // Ascending, as the emitter writes a std::map: no key twice (yaml-cpp would keep the first).
    if (!key || (!source.empty() && *key <= last) || !c.eat(": ")) return false;
    const auto value = c.line();
    if (!value) return false;
    source.emplace(*key, *value);
    last = *key;
  }
  return !source.empty();
}

// `{prepare: 0.1, read: 2}`: known phases in their order, each once.
bool read_phases(Cursor& c, PhaseSeconds& phases) {
  if (!c.eat("{")) return false;
  do {
    const auto name = c.plain(true);
    const auto phase = name ? phase_named(*name) : std::nullopt;
    if (!phase || (!phases.empty() && *phase <= phases.rbegin()->first) || !c.eat(": "))
      return false;
    const auto secs = c.plain();
    const auto s = secs ? seconds_of(*secs) : std::nullopt;
    if (!s) return false;
    phases.emplace(*phase, *s);
  } while (c.eat(", "));
  return c.eat("}\n");
}

bool read_stats(Cursor& c, RevisionStats& stats) {
  const auto read = count_line(c, "  bytes_read: ");
  const auto written = count_line(c, "  bytes_written: ");
  if (!read || !written || !c.eat("  duration: ")) return false;
  const auto duration_text = c.line();
  const auto duration = duration_text ? seconds_of(*duration_text) : std::nullopt;
  const auto verified = duration ? count_line(c, "  verified_blocks: ") : std::nullopt;
  if (!verified) return false;
  stats.bytes_read = *read;
  stats.bytes_written = *written;
  stats.duration = *duration;
  stats.verified_blocks = *verified;
  return !c.eat("  phases: ") || read_phases(c, stats.phases);
}

bool read_scrub(Cursor& c, Revision& r) {
  if (!c.eat("  time: ")) return false;
  const auto time = c.line();
  if (!time || !parse_iso8601(std::string(*time))) return false;
  r.scrubbed = *time;
  if (!c.eat("  bad_blocks: ")) return false;
  return flow_sequence_line(c, [&](std::string_view v) {
    const auto block = count_of(v);
    if (block) r.bad_blocks.push_back(*block);
    return block.has_value();
  });
}

// One of `values`, spelled as to_string spells it (as the writer wrote it), then the end of the
// line.
template <typename Enum, size_t N>
std::optional<Enum> word_line(Cursor& c, const Enum (&values)[N]) {
  const auto v = c.line();
  for (size_t i = 0; v && i < N; ++i)
    if (*v == to_string(values[i])) return values[i];
  return std::nullopt;
}

}  // namespace

std::optional<Revision> read_rev_fast(std::string_view text) {
  Cursor c(text);
  Revision r;
  if (!c.eat("uuid: ")) return std::nullopt;
  const auto uuid = c.line();
  if (!uuid) return std::nullopt;
  r.uuid = *uuid;
  if (!is_revision_uuid(r.uuid)) return std::nullopt;

  if (!c.eat("timestamp: ")) return std::nullopt;
  const auto ts_text = c.line();
  const auto ts = ts_text ? parse_iso8601(std::string(*ts_text)) : std::nullopt;
  if (!ts) return std::nullopt;
  r.timestamp = *ts;

  if (!c.eat("parent: ")) return std::nullopt;
  if (!c.eat("\"\"\n")) {
    const auto parent = c.line();
    if (!parent) return std::nullopt;
    r.parent = *parent;
    if (!is_revision_uuid(r.parent)) return std::nullopt;
  }

  if (!c.eat("tags: ") || !flow_sequence_line(c, [&](std::string_view t) {
        r.tags.emplace(t);
        return true;
      }))
    return std::nullopt;

  static constexpr Trust kTrust[] = {Trust::trusted, Trust::distrusted, Trust::verified};
  if (!c.eat("trust: ")) return std::nullopt;
  const auto trust = word_line(c, kTrust);
  if (!trust) return std::nullopt;
  r.trust = *trust;

  if (!c.eat("source:\n") || !read_source(c, r.source)) return std::nullopt;

  static constexpr Consistency kConsistency[] = {Consistency::crash, Consistency::frozen};
  if (c.eat("consistency: ")) {
    const auto consistency = word_line(c, kConsistency);
    if (!consistency) return std::nullopt;
    r.consistency = *consistency;
  }

  const auto size = count_line(c, "size: ");
  if (!size) return std::nullopt;
  r.size = *size;

  if (!c.eat("stats:\n") || !read_stats(c, r.stats)) return std::nullopt;
  if (c.eat("scrub:\n") && !read_scrub(c, r)) return std::nullopt;
  if (!c.eat("complete: true\n") || !c.done()) return std::nullopt;
  return r;
}

}  // namespace backy
