// util/text.h: the one format for sizes, durations and counts that people read.
#include <catch2/catch.hpp>

#include "util/text.h"

using namespace backy;

TEST_CASE("sizes, durations and counts read the same everywhere", "[text]") {
  CHECK(human_bytes(0) == "0 B");
  CHECK(human_bytes(1023) == "1023 B");
  CHECK(human_bytes(1536) == "1.5 KiB");
  CHECK(human_bytes(1572864000) == "1.5 GiB");
  CHECK(human_bytes(double(uint64_t{1} << 50) * 2048) == "2048.0 PiB");

  CHECK(human_duration(0.5) == "0.5 s");
  CHECK(human_duration(-1) == "0.0 s");  // clocks step; never a negative duration
  CHECK(human_duration(59.94) == "59.9 s");
  CHECK(human_duration(59.96) == "1m00s");
  CHECK(human_duration(187) == "3m07s");
  CHECK(human_duration(7500) == "2h05m");

  CHECK(relative_time(-0.4) == "just now");
  CHECK(relative_time(-59) == "59 s ago");
  CHECK(relative_time(-3 * 3600 - 5) == "3 h ago");
  CHECK(relative_time(-47 * 3600) == "47 h ago");
  CHECK(relative_time(-3 * 86400) == "3 d ago");
  CHECK(relative_time(150) == "in 2 min");

  CHECK(format_percent(10) == "10%");
  CHECK(format_percent(7.5) == "7.5%");
  CHECK(format_percent(0.254) == "0.25%");
  CHECK(format_percent(0) == "0%");

  CHECK(count(0, "job") == "0 jobs");
  CHECK(count(1, "revision") == "1 revision");
  CHECK(count(2, "bad block") == "2 bad blocks");
}
