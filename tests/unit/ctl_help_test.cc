// backyctl --help (ctl/args.cc's usage(), from the command table) and the man page backyctl(8)
// (docs/man/backyctl.8.scd) are written separately; this keeps them from disagreeing: every option
// and command synopsis of the help appears verbatim in the man page, and every one the man page
// lists is in the help.
#include <catch2/catch.hpp>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "args.h"

namespace {

// The synopses of the help's "Options:" and "Commands:" sections: each indented line's text up
// to the first run of two spaces ("run JOB... [--tags T1,T2] [--wait]").
std::set<std::string> help_synopses() {
  std::set<std::string> out;
  std::istringstream in(backy::ctl::usage());
  std::string line;
  bool listed = false;
  while (std::getline(in, line)) {
    if (line == "Options:" || line == "Commands:") {
      listed = true;
      continue;
    }
    if (line.rfind("  ", 0) != 0) {
      listed = false;
      continue;
    }
    if (!listed) continue;
    const size_t begin = line.find_first_not_of(' ');
    const size_t end = line.find("  ", begin);
    out.insert(line.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
  }
  return out;
}

// The man page's source without scdoc's emphasis marks.
std::string man_text() {
  std::ifstream in(std::string(BACKY_SOURCE_DIR) + "/docs/man/backyctl.8.scd");
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  std::erase(text, '*');
  std::erase(text, '_');
  return text;
}

// The man page's listed items: in "# OPTIONS" and "# COMMANDS", the lines before a tab-indented
// description.
std::set<std::string> man_synopses(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string line, previous;
  bool listed = false;
  while (std::getline(in, line)) {
    if (line.rfind("# ", 0) == 0) listed = line == "# OPTIONS" || line == "# COMMANDS";
    if (listed && line.rfind("\t", 0) == 0 && !previous.empty() && previous[0] != '\t')
      out.insert(previous);
    previous = line;
  }
  return out;
}

}  // namespace

TEST_CASE("backyctl --help and backyctl(8) name the same commands and options", "[ctl]") {
  const std::set<std::string> help = help_synopses();
  const std::string man = man_text();
  REQUIRE(help.size() >= 15);
  for (const auto& synopsis : help) {
    INFO("in backyctl --help but not in docs/man/backyctl.8.scd: " << synopsis);
    CHECK(man.find(synopsis) != std::string::npos);
  }
  const std::set<std::string> listed = man_synopses(man);
  CHECK(listed.size() == help.size());
  for (const auto& synopsis : listed) {
    INFO("in docs/man/backyctl.8.scd but not in backyctl --help: " << synopsis);
    CHECK(help.count(synopsis) == 1);
  }
  // The line explaining REV is the same in both.
  const std::string usage = backy::ctl::usage();
  const size_t rev = usage.find("REV: ");
  REQUIRE(rev != std::string::npos);
  CHECK(man.find(usage.substr(rev, usage.find('\n', rev) - rev)) != std::string::npos);
}
