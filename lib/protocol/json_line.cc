#include "protocol/json_line.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace backy::protocol {

namespace {

constexpr std::size_t npos = std::string_view::npos;

// A string token of at least long_string bytes: the bytes between its quotes are
// text[begin, end); it is the `ordinal`-th string token of the line (keys included, from 0).
struct LongString {
  std::size_t ordinal = 0;
  std::size_t begin = 0, end = 0;
  std::string decoded;
};

struct Scan {
  bool deeper = false;  // brackets nest deeper than kMaxNesting (see scan)
  std::vector<LongString> long_strings;
};

// The index of the quote that closes the string opened by the quote at text[open], or npos.
// A quote closes the string when an even number of backslashes precedes it: the run of
// backslashes before it pairs up into escaped backslashes, and an odd one out escapes it. The
// run never reaches past the opening quote, and each run is counted once (runs are separated by
// the quotes they precede), so this is linear; memchr makes it fast on a string of megabytes.
std::size_t closing_quote(std::string_view text, std::size_t open) {
  std::size_t from = open + 1;
  for (;;) {
    const void* hit = std::memchr(text.data() + from, '"', text.size() - from);
    if (hit == nullptr) return npos;
    const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(hit) - text.data());
    std::size_t backslashes = 0;
    while (text[at - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return at;
    from = at + 1;
  }
}

// One pass over `text` as a lexer sees it, strings apart from the rest: whether its brackets
// (outside strings) nest deeper than kMaxNesting, and the string tokens of at least
// `long_string` bytes. For text that is not JSON the answers are those of the text up to where
// a parser would give up, or beyond: an unterminated string runs to the end, and a stray
// closing bracket counts. Stops at the first bracket too deep.
Scan scan(std::string_view text, std::size_t long_string) {
  Scan s;
  int depth = 0;
  std::size_t ordinal = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      const std::size_t close = closing_quote(text, i);
      if (close == npos) break;
      if (close - i - 1 >= long_string) s.long_strings.push_back({ordinal, i + 1, close, {}});
      ++ordinal;
      i = close;
    } else if (c == '[' || c == '{') {
      if (depth++ >= kMaxNesting) {
        s.deeper = true;
        break;
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return s;
}

// The length of the run at the start of [p, end) of bytes that stand for themselves in a JSON
// string and that decode_simple takes: printable ASCII (0x20-0x7f) but '"' and '\\'. Eight bytes
// at a time where it can: a word's bytes below 0x20, equal to '"' or '\\', or with the high bit
// set are marked in its high bits (the classic "has zero byte" trick; a borrow can mark a byte
// after a marked one, never before, so the lowest mark is exact).
std::size_t plain_run(const char* p, const char* const end) {
  const char* const start = p;
  if constexpr (std::endian::native == std::endian::little) {
    constexpr uint64_t ones = 0x0101010101010101, highs = 0x8080808080808080;
    auto zero_bytes = [&](uint64_t x) { return (x - ones) & ~x & highs; };
    for (; end - p >= 8; p += 8) {
      uint64_t x;
      std::memcpy(&x, p, 8);
      const uint64_t special = ((x - ones * 0x20) & ~x & highs) | zero_bytes(x ^ (ones * '"')) |
                               zero_bytes(x ^ (ones * '\\')) | (x & highs);
      if (special != 0) return static_cast<std::size_t>(p - start) + std::countr_zero(special) / 8;
    }
  }
  for (; p != end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
  }
  return static_cast<std::size_t>(p - start);
}

// What the escape \c stands for, if decode_simple takes it (not \u); 0 otherwise.
char unescaped(char c) {
  switch (c) {
    case '"':
    case '\\':
    case '/':
      return c;
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    default:
      return 0;
  }
}

// Decodes the bytes between a string token's quotes into `out` as nlohmann's lexer would, if
// they hold only printable ASCII (0x20-0x7f, as the lexer takes them) and the escapes
// \" \\ \/ \b \f \n \r \t; false for anything else. Runs of plain bytes are copied whole.
bool decode_simple(std::string_view raw, std::string& out) {
  out.clear();
  out.reserve(raw.size());  // a decoded string is never longer than its token
  const char* p = raw.data();
  const char* const end = p + raw.size();
  while (p != end) {
    const std::size_t run = plain_run(p, end);
    out.append(p, run);
    p += run;
    if (p == end) break;
    if (*p != '\\' || end - p < 2) return false;
    const char c = unescaped(p[1]);
    if (c == 0) return false;
    out += c;
    p += 2;
  }
  return true;
}

// Json::parse's tree, built from nlohmann's SAX events as its own builder (json_sax_dom_parser)
// builds it, except that the string events of the long strings' empty stand-ins take the
// decoded strings instead. A line's string tokens come as string and key events in the line's
// order, one each, so the n-th event is the n-th token.
class TreeBuilder {
 public:
  TreeBuilder(Json& root, std::vector<LongString>& long_strings)
      : root_(root), long_strings_(long_strings) {}

  bool null() { return value(nullptr); }
  bool boolean(bool b) { return value(b); }
  bool number_integer(Json::number_integer_t n) { return value(n); }
  bool number_unsigned(Json::number_unsigned_t n) { return value(n); }
  bool number_float(Json::number_float_t x, const std::string&) { return value(x); }
  // nlohmann's SAX interface: "It is safe to move the passed string value."
  bool string(std::string& s) { return value(std::move(next_string(s))); }
  bool binary(Json::binary_t& b) { return value(std::move(b)); }
  bool start_object(std::size_t) {
    open_.push_back(place(Json(Json::value_t::object)));
    return true;
  }
  bool key(std::string& k) {
    // As nlohmann's builder: a repeated key's later value replaces the earlier one.
    member_ = &open_.back()->get_ref<Json::object_t&>()[std::move(next_string(k))];
    return true;
  }
  bool end_object() {
    open_.pop_back();
    return true;
  }
  bool start_array(std::size_t) {
    open_.push_back(place(Json(Json::value_t::array)));
    return true;
  }
  bool end_array() {
    open_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const Json::exception&) {
    failed_ = true;
    return false;
  }

  bool failed() const { return failed_; }

 private:
  std::string& next_string(std::string& read) {
    const std::size_t ordinal = strings_seen_++;
    if (next_long_ < long_strings_.size() && long_strings_[next_long_].ordinal == ordinal)
      return long_strings_[next_long_++].decoded;
    return read;
  }

  template <typename V>
  bool value(V&& v) {
    place(Json(std::forward<V>(v)));
    return true;
  }

  // Puts `v` where the next value goes (the root, the end of the open array, the member whose
  // key came last); returns where it is now. An open array grows only after its open child has
  // closed, so the pointers in open_ stay valid.
  Json* place(Json v) {
    if (open_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    if (open_.back()->is_array()) {
      auto& array = open_.back()->get_ref<Json::array_t&>();
      array.push_back(std::move(v));
      return &array.back();
    }
    *member_ = std::move(v);
    return member_;
  }

  Json& root_;
  std::vector<LongString>& long_strings_;
  std::vector<Json*> open_;  // the arrays and objects not yet closed, innermost last
  Json* member_ = nullptr;
  std::size_t strings_seen_ = 0;
  std::size_t next_long_ = 0;
  bool failed_ = false;
};

// The parse of `text` with its long strings decoded by decode_simple, or nullopt when one of
// them holds what it does not take. The rest of the line, each long string emptied, is a valid
// line exactly where `text` is: what a string token holds changes neither the tokens around it
// nor the grammar, and a long string that would not lex has been declined.
std::optional<Json> parse_around(std::string_view text, std::vector<LongString>& long_strings) {
  std::size_t kept = text.size();
  for (auto& l : long_strings) {
    if (!decode_simple(text.substr(l.begin, l.end - l.begin), l.decoded)) return std::nullopt;
    kept -= l.end - l.begin;
  }
  std::string rest;
  rest.reserve(kept);
  std::size_t from = 0;
  for (const auto& l : long_strings) {
    rest.append(text.substr(from, l.begin - from));  // up to the opening quote, included
    from = l.end;                                    // from the closing quote
  }
  rest.append(text.substr(from));
  Json root;
  TreeBuilder builder(root, long_strings);
  const bool parsed = Json::sax_parse(rest, &builder);
  if (!parsed || builder.failed()) return Json(Json::value_t::discarded);
  return root;
}

}  // namespace

Json parse_line(std::string_view text, bool& too_deep, std::size_t long_string) {
  too_deep = false;
  Scan s = scan(text, long_string);
  if (!s.deeper) {
    if (!s.long_strings.empty())
      if (auto parsed = parse_around(text, s.long_strings)) return std::move(*parsed);
    return Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  }
  // Too deep for the plain parser's tree, if the text is JSON that far: drop every array or
  // object nested deeper than kMaxNesting (the parser itself is iterative) and say so. The
  // callback parser calls a std::function per value (on a status answer of megabytes that was
  // a large part of backyctl's time), so only text whose brackets nest that deep comes here.
  return Json::parse(
      text.begin(), text.end(),
      [&](int depth, Json::parse_event_t event, Json&) {
        const bool opens =
            event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start;
        if (opens && depth >= kMaxNesting) too_deep = true;
        return !too_deep;
      },
      /*allow_exceptions=*/false);
}

}  // namespace backy::protocol
