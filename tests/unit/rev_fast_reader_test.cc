// The fast .rev reader (lib/repo/rev_fast_reader.h) against the careful one (yaml-cpp): on
// everything to_yaml writes and on every small damage to such a text, it either declines or
// returns exactly what the careful reader returns, and it never accepts a text the careful
// reader refuses.
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "repo/rev_fast_reader.h"
#include "repo/revision.h"
#include "util/error.h"
#include "util/uuid.h"

using namespace backy;

namespace {

// Every field, exactly: doubles bit for bit (no NaN can come back from either reader).
void check_same(const Revision& fast, const Revision& careful) {
  CHECK(fast.uuid == careful.uuid);
  CHECK(fast.timestamp == careful.timestamp);
  CHECK(fast.parent == careful.parent);
  CHECK(fast.tags == careful.tags);
  CHECK(fast.trust == careful.trust);
  CHECK(fast.source == careful.source);
  CHECK(fast.consistency == careful.consistency);
  CHECK(fast.size == careful.size);
  CHECK(fast.stats.bytes_read == careful.stats.bytes_read);
  CHECK(fast.stats.bytes_written == careful.stats.bytes_written);
  CHECK(fast.stats.duration == careful.stats.duration);
  CHECK(fast.stats.verified_blocks == careful.stats.verified_blocks);
  CHECK(fast.stats.phases == careful.stats.phases);
  CHECK(fast.bad_blocks == careful.bad_blocks);
  CHECK(fast.scrubbed == careful.scrubbed);
}

// The fast reader's answer on `text`, held to the contract; whether it accepted.
bool fast_agrees(const std::string& text) {
  const std::optional<Revision> fast = read_rev_fast(text);
  if (!fast) return false;
  INFO("accepted by the fast reader:\n" << text);
  Revision careful;
  try {
    careful = revision_from_yaml_careful(text, "t.rev");
  } catch (const Error& e) {
    FAIL("the careful reader refuses it: " << e.what());
  }
  check_same(*fast, careful);
  return true;
}

// Random revisions as backy writes them. `plain` says whether every string is one the fast
// reader's layout holds (then it must accept the text, or it would never be the fast path).
class RevisionMaker {
 public:
  explicit RevisionMaker(uint64_t seed) : rng_(seed) {}

  Revision make(bool& plain) {
    plain = true;
    Revision r;
    r.uuid = pick(4) == 0 ? shortuuid() : uuid();
    r.timestamp = time();
    if (pick(2)) r.parent = pick(4) == 0 ? shortuuid() : uuid();
    for (size_t n = pick(5); n > 0; --n) r.tags.insert(text(plain, kPlainTags, kOddTags));
    r.trust = static_cast<Trust>(pick(3));
    if (pick(8) != 0) {
      r.source["type"] = pick(2) ? "file" : "ceph-rbd";
      for (size_t n = pick(4); n > 0; --n) {
        bool this_plain = true;
        std::string key = text(this_plain, kPlainKeys, kOddKeys);
        std::string value = text(this_plain, kPlainValues, kOddValues);
        if (r.source.try_emplace(std::move(key), std::move(value)).second && !this_plain)
          plain = false;
      }
    }
    r.consistency = pick(2) ? Consistency::frozen : Consistency::crash;
    r.size = count();
    r.stats.bytes_read = count();
    r.stats.bytes_written = count();
    r.stats.duration = seconds();
    r.stats.verified_blocks = count();
    if (pick(3))
      for (Phase p : kPhases)
        if (pick(2)) r.stats.phases[p] = seconds();
    if (pick(2)) {
      r.scrubbed = format_iso8601(time());
      for (size_t n = pick(6); n > 0; --n) r.bad_blocks.push_back(count());
    }
    return r;
  }

 private:
  static constexpr const char* kPlainTags[] = {
      "daily", "weekly", "monthly", "hourly", "manual", "a.b",
      "x_1",   "0x10",   "1d",      "Q+2",    "yes",    "manual:before-upgrade",
      "a:b"};
  static constexpr const char* kOddTags[] = {"",     "a b",  "null", "Null", "~",   "#x", "-",
                                             "a: b", "é",    "[x]",  "a,b",  "*a",  "@x", "-5",
                                             "x\ty", "x\"y", "x'y",  ".nan", "a\nb"};
  static constexpr const char* kPlainKeys[] = {"filename", "pool", "image", "snapshot", "x_y"};
  static constexpr const char* kOddKeys[] = {"", "a b", "k:", "null", "é", "#", "-k", "~"};
  static constexpr const char* kPlainValues[] = {
      "/srv/images/vm01.img", "rbd",    "web01.root", "backy-1234", "/a/b:c",
      "rbd:pool/img@snap",    "host+x", "true",       "0x10",       "1e5"};
  static constexpr const char* kOddValues[] = {
      "",     "/a b/c", "/ä/ö",   "null",         "~",     "a:", "a: b", "#c",
      "x #y", " lead",  "trail ", "'q'",          "\"q\"", "é",  "a\nb", "tab\t",
      "-x",   "?x",     "{x}",    "\xe2\x80\xa8", "NULL",  ".5"};

  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  template <size_t P, size_t O>
  std::string text(bool& plain, const char* const (&plains)[P], const char* const (&odds)[O]) {
    if (pick(5) != 0) return plains[pick(P)];
    plain = false;
    return odds[pick(O)];
  }

  std::string uuid() {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s = "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx";
    for (char& c : s)
      if (c == 'x') c = kHex[pick(16)];
    return s;
  }

  std::string shortuuid() {
    static constexpr std::string_view kAlphabet =
        "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    std::string s(kShortUuidLength, ' ');
    for (char& c : s) c = kAlphabet[pick(kAlphabet.size())];
    return s;
  }

  TimePoint time() {
    const int64_t us = std::uniform_int_distribution<int64_t>(0, int64_t(4e15))(rng_);
    return TimePoint(std::chrono::microseconds(us));
  }

  // Every magnitude, and the edges.
  uint64_t count() {
    switch (pick(8)) {
      case 0:
        return 0;
      case 1:
        return std::numeric_limits<uint64_t>::max();
      default:
        return rng_() >> pick(64);
    }
  }

  // Seconds of every magnitude, also as the emitter writes tiny and huge ones (exponents).
  double seconds() {
    switch (pick(6)) {
      case 0:
        return 0;
      case 1:
        return double(pick(100000));
      default:
        return std::uniform_real_distribution<double>(0, 1)(rng_) *
               std::pow(10.0, int(pick(30)) - 12);
    }
  }

  std::mt19937_64 rng_;
};

std::string lines_replaced(const std::string& text, const std::string& from,
                           const std::string& to) {
  std::string s = text;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t from = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', from)) {
    out.push_back(text.substr(from, nl + 1 - from));
    from = nl + 1;
  }
  if (from < text.size()) out.push_back(text.substr(from));
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l;
  return s;
}

// Texts to damage: what a full run writes, the least a revision holds, an old backyd's.
std::vector<std::string> real_texts() {
  Revision full;
  full.uuid = "a9daf20e-4ee8-4b90-a4f7-2f01b6501816";
  full.timestamp = *parse_iso8601("2026-11-30T20:11:40.217225+00:00");
  full.parent = "80709816-d63e-4f15-8195-65c50af0d711";
  full.tags = {"daily", "weekly"};
  full.trust = Trust::distrusted;
  full.source = {{"type", "ceph-rbd"}, {"pool", "rbd"}, {"image", "web01.root"}};
  full.consistency = Consistency::frozen;
  full.size = 10737418240;
  full.stats = {65536, 4096, 0.0077590350000000001, 1, {}};
  for (Phase p : kPhases) full.stats.phases[p] = 0.001447 * (1 + int(p));
  full.scrubbed = "2026-11-29T03:00:00.000000+00:00";
  full.bad_blocks = {3, 17};
  Revision least;
  least.uuid = "1123432b-a385-4aae-8999-aecb6a09f4a4";
  least.timestamp = *parse_iso8601("2026-11-28T09:04:29.567334+00:00");
  const std::string old = R"(uuid: 1123432b-a385-4aae-8999-aecb6a09f4a4
timestamp: 2026-11-28T09:04:29.567334+00:00
parent: ""
tags: [daily]
trust: trusted
source:
  filename: /srv/images/vm01.img
  type: file
size: 65536
stats:
  bytes_read: 65536
  bytes_written: 65536
  duration: 0.0077590350000000001
  verified_blocks: 1
complete: true
)";
  return {to_yaml(full), to_yaml(least), old};
}

}  // namespace

TEST_CASE("the fast .rev reader reads what to_yaml writes, as yaml-cpp does", "[revision]") {
  RevisionMaker maker(20261130);
  size_t plain_texts = 0, accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    bool plain = false;
    const Revision r = maker.make(plain);
    const std::string text = to_yaml(r);
    INFO(text);
    REQUIRE_NOTHROW(revision_from_yaml_careful(text, "t.rev"));
    const bool took = fast_agrees(text);
    // Every text in the layout is read fast: a fast path that declined them would be no path.
    if (plain) CHECK(took);
    plain_texts += plain;
    accepted += took;
  }
  CHECK(plain_texts > 1000);
  CHECK(accepted == plain_texts);
}

TEST_CASE("the fast .rev reader declines or agrees on every damage to a real .rev", "[revision]") {
  static const std::string kBytes[] = {" ",
                                       "\t",
                                       "#",
                                       ":",
                                       "\"",
                                       "'",
                                       "\r",
                                       "\n",
                                       "x",
                                       "0",
                                       "-",
                                       ",",
                                       "[",
                                       "{",
                                       "~",
                                       "!",
                                       "&",
                                       "*",
                                       std::string(1, '\0'),
                                       "é",
                                       "\xff",
                                       ": ",
                                       " #",
                                       "\n ",
                                       ".",
                                       "+",
                                       "e"};
  size_t tried = 0, accepted = 0;
  auto attempt = [&](const std::string& text) {
    ++tried;
    accepted += fast_agrees(text);
  };
  for (const std::string& text : real_texts()) {
    REQUIRE(read_rev_fast(text));
    for (size_t at = 0; at <= text.size(); ++at) {
      attempt(text.substr(0, at));
      if (at == text.size()) break;
      attempt(std::string(text).erase(at, 1));
      attempt(std::string(text).insert(at, 1, text[at]));
      for (const std::string& b : kBytes) {
        attempt(std::string(text).replace(at, 1, b));
        attempt(std::string(text).insert(at, b));
      }
    }
    const std::vector<std::string> lines = lines_of(text);
    for (size_t i = 0; i < lines.size(); ++i) {
      auto edited = [&](auto edit) {
        std::vector<std::string> l = lines;
        edit(l);
        attempt(joined(l));
      };
      edited([&](auto& l) { l.insert(l.begin() + long(i), l[i]); });  // a key twice
      edited([&](auto& l) { l.erase(l.begin() + long(i)); });
      if (i + 1 < lines.size()) edited([&](auto& l) { std::swap(l[i], l[i + 1]); });
      edited([&](auto& l) { l[i].insert(l[i].size() - 1, " # note"); });
      edited([&](auto& l) { l[i] = " " + l[i]; });
      edited([&](auto& l) { l[i] = "\t" + l[i]; });
      edited([&](auto& l) { l[i].insert(l[i].size() - 1, " "); });
      edited([&](auto& l) { l.insert(l.begin() + long(i), "\n"); });
      edited([&](auto& l) { l.insert(l.begin() + long(i), "extra: 1\n"); });
      edited([&](auto& l) { l.insert(l.begin() + long(i), "  extra: 1\n"); });
    }
  }
  // Values in every spelling yaml-cpp might read otherwise than the text says.
  static const std::string kValues[] = {"nan",
                                        ".nan",
                                        ".NaN",
                                        "-1",
                                        "-0.5",
                                        "1e999",
                                        "1e-999",
                                        "4.9e-324",
                                        "0x10",
                                        "010",
                                        "+1",
                                        "1.",
                                        ".5",
                                        "1e5",
                                        "1E+2",
                                        "inf",
                                        ".inf",
                                        "~",
                                        "null",
                                        "Null",
                                        "NULL",
                                        "",
                                        "\"\"",
                                        "''",
                                        "'1'",
                                        "\"1\"",
                                        "18446744073709551615",
                                        "18446744073709551616",
                                        "0",
                                        "00",
                                        "true",
                                        "True",
                                        "yes",
                                        "false",
                                        "[]",
                                        "{}",
                                        "[1]",
                                        "1 # c",
                                        "1#c"};
  const std::string base = real_texts().front();
  for (const std::string& line : lines_of(base)) {
    const size_t colon = line.find(": ");
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, colon + 2);
    for (const std::string& v : kValues) attempt(lines_replaced(base, line, key + v + "\n"));
  }
  for (const char* p : {"{read: nan}", "{read: -1}", "{read: 1e999}", "{read: 0.5, read: 1}",
                        "{write: 1, read: 2}", "{bogus: 1}", "{}", "{read: 1,write: 2}",
                        "{read: 1, write: 2, }", "{read:1}", "{ read: 1}"})
    attempt(lines_replaced(
        base, base.substr(base.find("{prepare"), base.find('}') + 1 - base.find("{prepare")), p));
  for (const char* t :
       {"[daily, daily]", "[]", "[null]", "[~]", "[Null]", "[a:b]", "[a,b]", "[ daily]", "[daily ]",
        "[-x]", "[.x]", "[\"daily\"]", "[a:, b]", "[a:]", "[a: b]", "[manual:x]", "[a:,]"})
    attempt(lines_replaced(base, "[daily, weekly]", t));
  attempt(lines_replaced(base, "\n", "\r\n"));
  attempt(lines_replaced(base, "  ", "\t"));
  attempt(lines_replaced(base, "  ", "   "));
  attempt(lines_replaced(base, "complete: true\n", ""));
  attempt("---\n" + base);
  attempt(base + "...\n");
  attempt(base + "# end\n");
  attempt("\xef\xbb\xbf" + base);
  attempt(lines_replaced(base, "  image: web01.root\n", "  image: web01.root\n  image: other\n"));
  attempt(lines_replaced(base, "  image: web01.root\n", "  " + std::string(1100, 'k') + ": v\n"));
  attempt(
      lines_replaced(base, "  image: web01.root\n", "  image: " + std::string(5000, 'v') + "\n"));
  CHECK(tried > 50000);
  // Damage that keeps the layout (a digit for a digit, a letter for a letter) is still read fast.
  CHECK(accepted > 100);
}

TEST_CASE("the fast .rev reader leaves every other layout to yaml-cpp", "[revision]") {
  const std::string base = real_texts().back();
  REQUIRE(read_rev_fast(base));
  const std::vector<std::string> declined = {
      lines_replaced(base, "\n", "\r\n"),
      lines_replaced(base, "complete: true\n", ""),
      lines_replaced(base, "complete: true\n", "complete: yes\n"),
      lines_replaced(base, "tags: [daily]", "tags: [\"daily\"]"),
      lines_replaced(base, "tags: [daily]", "tags:\n  - daily"),
      lines_replaced(base, "source:\n", "# a note\nsource:\n"),
      lines_replaced(base, "size: 65536", "size: 065536"),
      lines_replaced(base, "duration: 0.0077590350000000001", "duration: .nan"),
      lines_replaced(base, "duration: 0.0077590350000000001", "duration: -1"),
      lines_replaced(base, "parent: \"\"", "parent: ~"),
      lines_replaced(base, "parent: \"\"", "parent:"),
      lines_replaced(base, "  type: file\n", "  type: file\n  type: rbd\n"),
      lines_replaced(base, "trust: trusted\n", "trust: trusted\nnote: hand-made\n"),
      base + "\n",
  };
  for (const std::string& text : declined) {
    INFO(text);
    CHECK_FALSE(read_rev_fast(text));
  }
  // Declined, the text still reads (or fails) as before: through yaml-cpp, with its message.
  CHECK(revision_from_yaml(declined[0], "crlf.rev").uuid == "1123432b-a385-4aae-8999-aecb6a09f4a4");
  CHECK(revision_from_yaml(declined[6], "octal.rev").size == 27486);  // yaml-cpp reads octal
  CHECK_THROWS_WITH(revision_from_yaml(declined[1], "/j/x.rev"), "/j/x.rev is not complete");
  CHECK_THROWS_WITH(revision_from_yaml(declined[11], "/j/x.rev"),
                    Catch::Contains("duplicate key 'type' at line 9 (first at line 8)"));
}
