// Duplicate keys in YAML text (lib/util/yaml_keys.h).
#include <catch2/catch.hpp>
#include <string>

#include "util/yaml_keys.h"

using namespace backy;

TEST_CASE("duplicate keys are found in every mapping with both positions", "[yaml]") {
  const auto d = find_duplicate_keys(
      "a: 1\n"
      "b:\n"
      "  x: {k: 1, k: 2}\n"
      "  x: [ {m: 1}, {m: 2, m: 3} ]\n"
      "a: 2\n");
  REQUIRE(d.size() == 4);
  CHECK((d[0].key == "k" && d[0].line == 3 && d[0].column == 13 && d[0].first_line == 3 &&
         d[0].first_column == 7));
  CHECK((d[1].key == "x" && d[1].line == 4 && d[1].column == 3 && d[1].first_line == 3));
  CHECK((d[2].key == "m" && d[2].line == 4 && d[2].first_line == 4));
  CHECK((d[3].key == "a" && d[3].line == 5 && d[3].column == 1 && d[3].first_line == 1));
}

TEST_CASE("the same key in sibling mappings, values and sequences is no duplicate", "[yaml]") {
  CHECK(find_duplicate_keys("a: {k: 1}\nb: {k: 1}\nc: [k, k]\nd: k\ne: k\n").empty());
  // Keys that are collections are not compared; a value that equals a key is no key.
  CHECK(find_duplicate_keys("? [a]\n: 1\n? [a]\n: 2\nx: x\n").empty());
}

TEST_CASE("aliases are not followed, also when a node contains itself", "[yaml]") {
  // yaml-cpp builds a cycle for this: a walk over the node tree would never end.
  CHECK(find_duplicate_keys("a: &x {k: *x}\nb: *x\n").empty());
  const auto d = find_duplicate_keys("a: &x {k: 1}\nb: *x\nb: *x\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key == "b");
}

TEST_CASE("null keys count as one key", "[yaml]") {
  const auto d = find_duplicate_keys("~: 1\nnull: 2\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key == "~");
}
