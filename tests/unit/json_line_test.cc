// json_line's fast path for long strings against nlohmann alone (lib/protocol/json_line.h): on
// generated replies and on damaged ones, parse_reply must give the same Reply either way, and
// parse_line the same value (or the same failure, or the same nesting verdict) as the parse it
// replaced.
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "protocol/json_line.h"
#include "protocol/message.h"

using namespace backy::protocol;

namespace {

// The parse before the fast path (message.cc's parse_bounded as it was), the reference.
Json reference_parse(std::string_view text, bool& too_deep) {
  too_deep = false;
  int depth = 0;
  bool in_string = false, escaped = false, deeper = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (depth++ >= kMaxNesting) {
        deeper = true;
        break;
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  if (!deeper) return Json::parse(text.begin(), text.end(), nullptr, false);
  return Json::parse(
      text.begin(), text.end(),
      [&](int d, Json::parse_event_t event, Json&) {
        const bool opens =
            event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start;
        if (opens && d >= kMaxNesting) too_deep = true;
        return !too_deep;
      },
      false);
}

// Json's == takes 1 and 1.0 for equal; the dump tells them apart.
std::string dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The line parsed with the fast path (strings of `long_string` bytes and more), without it, and
// as before: all the same.
void expect_same(const std::string& line, std::size_t long_string) {
  INFO("line (" << line.size() << " bytes): " << line.substr(0, 300));
  INFO("long_string " << long_string);
  const Reply fast = parse_reply(line, long_string);
  const Reply plain = parse_reply(line, kNoLongStrings);
  REQUIRE(fast.final == plain.final);
  REQUIRE(fast.ok == plain.ok);
  REQUIRE(fast.body == plain.body);
  REQUIRE(dump(fast.body) == dump(plain.body));
  REQUIRE(fast.error.has_value() == plain.error.has_value());
  if (fast.error) {
    REQUIRE(fast.error->code == plain.error->code);
    REQUIRE(fast.error->message == plain.error->message);
  }
  bool fast_deep = false, old_deep = false;
  const Json fast_json = parse_line(line, fast_deep, long_string);
  const Json old_json = reference_parse(line, old_deep);
  REQUIRE(fast_deep == old_deep);
  if (!old_deep) {
    REQUIRE(fast_json.is_discarded() == old_json.is_discarded());
    REQUIRE(dump(fast_json) == dump(old_json));
  }
}

// Random replies with strings around a threshold, written token by token so that every escape
// (\/ too, which nlohmann never writes) and every kind of byte can come.
class ReplyMaker {
 public:
  ReplyMaker(unsigned seed, std::size_t long_string) : rng_(seed), long_(long_string) {}

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  // A string token, quotes included, of exactly `length` bytes between them. `simple`: only what
  // the fast path takes; otherwise now and then what it declines but nlohmann takes.
  std::string string_token(std::size_t length, bool simple) {
    static const std::vector<std::string> escapes{"\\\"", "\\\\", "\\/", "\\b",     "\\f",
                                                  "\\n",  "\\r",  "\\t", "\\\\\\\""};
    static const std::vector<std::string> others{
        "\\u00e9",      "\\u0041", "\\uD83D\\uDE00",  "\xc3\xa9",
        "\xe2\x82\xac", "\\u0000", "\xf0\x9f\x98\x80"};
    std::string raw;
    while (raw.size() < length) {
      std::string piece;
      const int kind = pick(10);
      if (kind < 5)
        piece = std::string(1, static_cast<char>(0x20 + pick(0x60)));
      else if (kind < 9 || simple)
        piece = escapes[static_cast<std::size_t>(pick(static_cast<int>(escapes.size())))];
      else
        piece = others[static_cast<std::size_t>(pick(static_cast<int>(others.size())))];
      if (piece == "\"" || piece == "\\") piece = "x";
      if (raw.size() + piece.size() > length) piece = "y";
      raw += piece;
    }
    return '"' + raw + '"';
  }

  // A string token: short, or within a few bytes of the threshold, or well past it.
  std::string any_string() {
    switch (pick(6)) {
      case 0:
        return string_token(static_cast<std::size_t>(pick(8)), pick(2) == 0);
      case 1:
      case 2: {
        const std::size_t below = long_ >= 2 ? long_ - 2 : 0;
        return string_token(below + static_cast<std::size_t>(pick(5)), pick(4) != 0);
      }
      case 3:
        return string_token(long_ * 2 + static_cast<std::size_t>(pick(50)), pick(4) != 0);
      default:
        return string_token(static_cast<std::size_t>(pick(static_cast<int>(long_))), true);
    }
  }

  std::string space() { return pick(6) == 0 ? std::string(" \t\r\n").substr(0, 1 + pick(3)) : ""; }

  std::string value(int depth) {
    static const std::vector<std::string> scalars{"0",
                                                  "-1",
                                                  "1.0",
                                                  "1e5",
                                                  "-0",
                                                  "18446744073709551615",
                                                  "9223372036854775807",
                                                  "-9223372036854775808",
                                                  "3.25",
                                                  "true",
                                                  "false",
                                                  "null",
                                                  "1E-2",
                                                  "2.5e+3"};
    const int kind = depth > 0 ? pick(8) : pick(5);
    if (kind < 3) return any_string();
    if (kind < 5) return scalars[static_cast<std::size_t>(pick(static_cast<int>(scalars.size())))];
    if (kind < 6) {
      std::string a = "[";
      const int n = pick(4);
      for (int i = 0; i < n; ++i) a += (i ? "," : "") + space() + value(depth - 1) + space();
      return a + "]";
    }
    return object(depth - 1);
  }

  std::string object(int depth) {
    std::string o = "{";
    const int n = pick(5);
    std::string last_key;
    for (int i = 0; i < n; ++i) {
      // Now and then a key again: the later member wins, in both parses.
      std::string key = !last_key.empty() && pick(5) == 0 ? last_key : any_string();
      last_key = key;
      o += (i ? "," : "") + space() + key + space() + ":" + space() + value(depth) + space();
    }
    return o + "}";
  }

  // A reply envelope around generated bodies, its members in a random order.
  std::string reply() {
    std::vector<std::string> members{"\"v\":1"};
    switch (pick(4)) {
      case 0:
        members.push_back("\"type\":\"progress\"");
        members.push_back("\"progress\":" + value(3));
        break;
      case 1:
        members.push_back("\"type\":\"response\"");
        members.push_back("\"ok\":false");
        members.push_back("\"error\":{\"code\":\"not_found\",\"message\":" + any_string() + "}");
        break;
      default:
        members.push_back("\"type\":\"response\"");
        members.push_back("\"ok\":true");
        {
          // {"text": ..., more members}
          const std::string more = object(2);
          members.push_back("\"result\":{\"text\":" + any_string() +
                            (more == "{}" ? "}" : "," + more.substr(1)));
        }
        if (pick(6) == 0) members.push_back("\"result\":" + value(2));  // a second result
    }
    std::shuffle(members.begin(), members.end(), rng_);
    std::string line = "{";
    for (std::size_t i = 0; i < members.size(); ++i) line += (i ? "," : "") + members[i];
    return line + "}";
  }

  // `line` damaged in one of the ways a broken daemon or a bad pipe could.
  std::string damage(std::string line) {
    if (line.empty()) return line;
    const auto at = static_cast<std::size_t>(pick(static_cast<int>(line.size())));
    static const char kBytes[] = "\"\\[]{}:,\n\0\x01\x1f\x7f\x80\xff u/";
    static const std::string bytes(kBytes, sizeof kBytes - 1);  // the \0 included
    switch (pick(8)) {
      case 0:
        return line.substr(0, at);  // truncated
      case 1:
        line[at] = bytes[static_cast<std::size_t>(pick(static_cast<int>(bytes.size())))];
        return line;
      case 2:
        return line.insert(at, "\\x");  // a bad escape
      case 3:
        return line.insert(at, "\\u12");
      case 4:
        return line.insert(at, 1, static_cast<char>(pick(0x20)));  // a raw control byte
      case 5:
        return line.insert(at, "\xc3");  // broken UTF-8
      case 6:
        return line + (pick(2) ? " x" : "}");  // trailing garbage
      default: {
        // A long string left open: its closing quote gone.
        const auto close = line.rfind('"');
        return close == std::string::npos ? line : line.erase(close, 1);
      }
    }
  }

 private:
  std::mt19937 rng_;
  std::size_t long_;
};

}  // namespace

TEST_CASE("json_line: replies with long strings parse as nlohmann parses them", "[protocol]") {
  for (const std::size_t threshold : {std::size_t{1}, std::size_t{4}, std::size_t{16}}) {
    ReplyMaker maker(7 + static_cast<unsigned>(threshold), threshold);
    for (int i = 0; i < 1500; ++i) expect_same(maker.reply(), threshold);
  }
}

TEST_CASE("json_line: damaged replies fail or parse as nlohmann makes them", "[protocol]") {
  for (const std::size_t threshold : {std::size_t{1}, std::size_t{8}, std::size_t{16}}) {
    ReplyMaker maker(99 + static_cast<unsigned>(threshold), threshold);
    for (int i = 0; i < 2000; ++i) {
      std::string line = maker.reply();
      const int times = 1 + maker.pick(3);
      for (int d = 0; d < times; ++d) line = maker.damage(std::move(line));
      expect_same(line, threshold);
    }
  }
}

TEST_CASE("json_line: strings just below, at and above kLongString", "[protocol]") {
  ReplyMaker maker(3, kLongString);
  for (const std::size_t length : {kLongString - 1, kLongString, kLongString + 1}) {
    for (const bool simple : {true, false}) {
      const std::string s = maker.string_token(length, simple);
      const std::string result = R"({"v":1,"type":"response","ok":true,"result":{"text":)" + s;
      expect_same(result + "}}", kLongString);
      expect_same(result + R"(,"x":)" + s + "}}", kLongString);              // two of them
      expect_same(result + "," + s + R"(:[)" + s + "]}}", kLongString);      // as a key too
      expect_same(result + "}", kLongString);                                // one brace short
      expect_same(result.substr(0, result.size() - 1) + "}}", kLongString);  // unterminated
      const std::string error =
          R"({"v":1,"type":"response","ok":false,"error":{"code":"failed","message":)" + s + "}}";
      expect_same(error, kLongString);
      expect_same(R"({"v":1,"type":"progress","progress":{"line":)" + s + "}}", kLongString);
    }
  }
  // Through the default path, as backyctl calls it.
  const std::string s = maker.string_token(kLongString + 100, true);
  const std::string line = R"({"v":1,"type":"response","ok":true,"result":{"text":)" + s + "}}";
  const Reply r = parse_reply(line);
  REQUIRE(r.ok);
  CHECK(r.body["text"] == Json::parse(s).get<std::string>());
}

TEST_CASE("json_line: the nesting limit holds with long strings in the way", "[protocol]") {
  ReplyMaker maker(11, 8);
  // Brackets inside long strings do not count; those around them do.
  const std::string inside = "\"" + std::string(40, '[') + "\\\\\\\"" + std::string(40, '{') + "\"";
  for (int levels = kMaxNesting - 3; levels <= kMaxNesting + 3; ++levels) {
    for (int variant = 0; variant < 4; ++variant) {
      std::string body = variant % 2 ? maker.string_token(64, true) : inside;
      for (int l = 0; l < levels; ++l)
        body = variant < 2 ? "[" + body + "," + inside + "]" : "{" + inside + ":" + body + "}";
      const std::string line = R"({"v":1,"type":"progress","progress":)" + body + "}";
      expect_same(line, 8);
      expect_same(line.substr(0, line.size() / 2), 8);
    }
  }
}

TEST_CASE("json_line: every escape the fast path takes decodes as nlohmann decodes it",
          "[protocol]") {
  // \\ right before a closing quote too: that quote closes the string.
  const std::string raw = R"(a\"b\\c\/d\be\ff\ng\rh\ti\\\"\\)" + std::string(1, '\x7f') + R"(~ \\)";
  const std::string line = R"({"v":1,"type":"response","ok":true,"result":{"text":")" + raw +
                           R"(","x":")" + raw + "\"}}";
  const Reply r = parse_reply(line, 1);
  REQUIRE(r.ok);
  const std::string decoded("a\"b\\c/d\be\ff\ng\rh\ti\\\"\\\x7f~ \\");
  CHECK(r.body["text"] == decoded);
  CHECK(r.body["x"] == decoded);
  expect_same(line, 1);
}
