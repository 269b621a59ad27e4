#include <catch2/catch.hpp>

#include "schedule/duration.h"
#include "util/time.h"
#include "util/uuid.h"

using namespace backy;

TEST_CASE("durations: seconds or one suffix of s m h d w", "[duration]") {
  struct Case {
    const char* text;
    long long seconds;  // -1: invalid
  };
  const Case cases[] = {
      {"30", 30},      {"90s", 90}, {"15m", 900}, {"1h", 3600}, {"1d", 86400},
      {"2w", 1209600}, {"1x", -1},  {"", -1},     {"0", -1},    {"-5", -1},
      {"1.5h", -1},    {"h", -1},   {"1hh", -1},  {" 1h", -1},  {"99999999999999999999", -1}};
  for (const auto& c : cases) {
    INFO(c.text);
    auto d = parse_duration(c.text);
    if (c.seconds < 0) {
      CHECK_FALSE(d.has_value());
    } else {
      REQUIRE(d.has_value());
      CHECK(d->count() == c.seconds);
      CHECK(parse_duration(format_duration(*d)) == d);
    }
  }
  CHECK(format_duration(Seconds(86400)) == "1d");
  CHECK(format_duration(Seconds(90)) == "90s");
}

TEST_CASE("ISO 8601 timestamps round-trip with microseconds", "[time]") {
  TimePoint t = TimePoint(std::chrono::microseconds(1790000000123456LL));
  std::string s = format_iso8601(t);
  CHECK(s == "2026-09-21T14:13:20.123456+00:00");
  CHECK(parse_iso8601(s) == t);
  CHECK(parse_iso8601("2026-09-21T14:13:20Z") == TimePoint(std::chrono::seconds(1790000000)));
  CHECK_FALSE(parse_iso8601("yesterday").has_value());
  CHECK_FALSE(parse_iso8601("2026-09-21T14:13:20+02:00").has_value());
}

TEST_CASE("revision uuids are random version 4 uuids", "[uuid]") {
  std::string a = new_uuid(), b = new_uuid();
  CHECK(is_uuid(a));
  CHECK(a != b);
  CHECK(a[14] == '4');
  CHECK_FALSE(is_uuid("latest"));
  CHECK_FALSE(is_uuid("0123456789abcdef0123456789abcdef0123"));
}
