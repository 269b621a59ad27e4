// backyctl's `status JOB` (ctl/render.h) under the revision table: where the newest run's time
// went, in the run's order; nothing for a revision recorded before phases were.
#include <catch2/catch.hpp>
#include <sstream>

#include "protocol/message.h"
#include "render.h"

using backy::protocol::Json;

namespace {

Json revision(double duration) {
  return Json{{"uuid", "1123432b-a385-4aae-8999-aecb6a09f4a4"},
              {"time", "2026-11-28T09:04:29.567334+00:00"},
              {"tags", Json::array({"daily"})},
              {"duration", duration}};
}

std::string status_job(const Json& revisions) {
  std::ostringstream out;
  CHECK(backy::ctl::render("status", Json{{"revisions", revisions}, {"problems", Json::array()}},
                           out) == 0);
  return out.str();
}

}  // namespace

TEST_CASE("status JOB prints the newest run's phases in the run's order", "[render]") {
  Json older = revision(9);
  older["phases"] = Json{{"read", 8.0}, {"write", 1.0}};
  Json newest = revision(1.234);
  // JSON objects come sorted by name; the line is in the order the run took them.
  newest["phases"] = Json{{"cleanup", 0.1}, {"commit", 0.02},  {"flush", 0.2},    {"prepare", 0.01},
                          {"read", 0.5},    {"snapshot", 0.3}, {"verify", 0.004}, {"write", 0.1}};
  const std::string text = status_job(Json::array({older, newest}));
  INFO(text);
  CHECK(text.find("\nnewest run 1.23 s: prepare 0.01 s, snapshot 0.30 s, read 0.50 s, write 0.10 "
                  "s, flush 0.20 s, verify 0.00 s, commit 0.02 s, cleanup 0.10 s\n") !=
        std::string::npos);
  CHECK(text.find("read 8.00 s") == std::string::npos);  // only the newest's
}

TEST_CASE("status JOB prints no phases for a run recorded without them", "[render]") {
  Json newest = revision(2);
  CHECK(status_job(Json::array({revision(1), newest})).find("newest run") == std::string::npos);
  newest["phases"] = Json{{"upload", 1.0}, {"read", "soon"}};  // a newer daemon's, or garbage
  CHECK(status_job(Json::array({newest})).find("newest run") == std::string::npos);
  CHECK(status_job(Json::array()).find("newest run") == std::string::npos);
}
