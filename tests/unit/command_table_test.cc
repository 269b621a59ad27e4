// The command table (lib/protocol/commands.h) is the one place a command is declared; these hold
// every other place to it: the daemon's handlers, backyctl's command line, --help and completion,
// and docs/protocol.md. A command missing anywhere fails here with its name.
#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "completion.h"
#include "protocol/commands.h"
#include "util/error.h"

using namespace backy::protocol;
using backy::CommandHandler;

namespace {

std::string read_doc(const std::string& relative) {
  std::ifstream in(std::string(BACKY_SOURCE_DIR) + "/" + relative);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

const ArgSpec* find_arg(const CommandSpec& c, std::string_view name) {
  for (const auto& a : c.args)
    if (a.name == name) return &a;
  return nullptr;
}

Request cli(std::vector<std::string> argv) {
  return backy::ctl::parse_args(argv).request;
}

}  // namespace

TEST_CASE("every command of the table has a daemon handler, and every handler a command",
          "[commands]") {
  CHECK(CommandHandler::unbound_commands() == std::vector<std::string>{});
}

TEST_CASE("each row is complete and consistent", "[commands]") {
  std::set<std::string_view> names;
  for (const auto& c : all_commands()) {
    INFO("command " << c.name);
    CHECK(names.insert(c.name).second);
    CHECK(c.synopsis.substr(0, c.name.size()) == c.name);
    CHECK_FALSE(c.help.empty());
    // backyctl can fill every argument the daemon requires.
    for (const auto& a : c.args) {
      if (!a.required) continue;
      INFO("argument " << a.name);
      CHECK(std::any_of(c.positionals.begin(), c.positionals.end(),
                        [&](const Positional& p) { return p.arg == a.name; }));
    }
    for (const auto& p : c.positionals) {
      INFO("positional " << p.arg);
      REQUIRE(find_arg(c, p.arg));
      CHECK_FALSE(p.completes.empty());
    }
    for (const auto& o : c.options) {
      INFO("option " << o.flag);
      const ArgSpec* a = find_arg(c, o.arg);
      REQUIRE(a);
      if (o.takes_value)
        CHECK((a->kind == ArgKind::tags || a->kind == ArgKind::string ||
               a->kind == ArgKind::partition));
      else
        CHECK(a->kind == ArgKind::boolean);
      CHECK(c.synopsis.find(o.flag) != std::string_view::npos);
    }
  }
}

TEST_CASE("an option means the same in every command that has it", "[commands]") {
  for (const auto& a : all_commands())
    for (const auto& oa : a.options)
      for (const auto& b : all_commands())
        for (const auto& ob : b.options)
          if (oa.flag == ob.flag) {
            INFO(oa.flag << " in " << a.name << " and " << b.name);
            CHECK(oa.takes_value == ob.takes_value);
          }
}

TEST_CASE("backyctl --help lists every command with its synopsis and help", "[commands]") {
  const std::string& usage = backy::ctl::usage();
  for (const auto& c : all_commands()) {
    INFO(c.name);
    const size_t at = usage.find("  " + std::string(c.synopsis) + " ");
    REQUIRE(at != std::string::npos);
    CHECK(usage.substr(at, usage.find('\n', at) - at).find(c.help) != std::string::npos);
  }
}

TEST_CASE("docs/protocol.md carries the table's command list and a section per command",
          "[commands]") {
  const std::string doc = read_doc("docs/protocol.md");
  INFO("docs/protocol.md must contain, verbatim:\n" << markdown_command_list());
  CHECK(doc.find(markdown_command_list()) != std::string::npos);
  for (const auto& c : all_commands()) {
    INFO("no \"### ... " << c.name << " ... (" << to_string(c.access) << ")\" heading");
    bool found = false;
    std::istringstream in(doc);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("### ", 0) != 0) continue;
      const std::string name(c.name);
      const bool names_it = line.find(" " + name + " ") != std::string::npos ||
                            line.find(" " + name + ",") != std::string::npos;
      if (names_it && line.find("(" + std::string(to_string(c.access)) + ")") != std::string::npos)
        found = true;
    }
    CHECK(found);
  }
}

TEST_CASE("completion offers every command, its options and its arguments", "[commands]") {
  using backy::ctl::complete;
  const auto first = complete({"backyctl", ""}, 1);
  for (const auto& c : all_commands()) {
    INFO(c.name);
    CHECK(contains(first, c.name));
    const auto options = complete({"backyctl", std::string(c.name), "-"}, 2);
    CHECK(contains(options, "--json"));
    for (const auto& o : c.options) CHECK(contains(options, o.flag));
    if (!c.positionals.empty()) {
      const auto args = complete({"backyctl", std::string(c.name), ""}, 2);
      CHECK_FALSE(args.empty());
    }
  }
  // Options and their values are skipped when finding the command and counting its arguments.
  CHECK(complete({"backyctl", "-s", "/run/x.sock", "restore", "vm1", ""}, 5) ==
        std::vector<std::string>{"latest", "0", "1", "2"});
  CHECK(contains(complete({"backyctl", "restore", "vm1", "0", ""}, 4), "@files"));
  CHECK(complete({"backyctl", "run", "--tags", ""}, 3).empty());
  CHECK(complete({"backyctl", "-c", ""}, 2) == std::vector<std::string>{"@files"});
  CHECK(contains(complete({"backyctl", "run", "a", "b", ""}, 4), "@jobs"));
  CHECK(complete({"backyctl", "forget", "vm1", "0", ""}, 4).empty());
}

TEST_CASE("backyctl's command lines become the requests of the table", "[commands]") {
  // The text table asks for its rows only (control_views.h: status_json), --json for everything.
  CHECK(cli({"status"}).args == Json{{"table", true}});
  CHECK(cli({"status", "--json"}).args == Json::object());
  CHECK(cli({"status", "vm1"}).args == Json{{"job", "vm1"}});
  CHECK(cli({"run", "a", "b", "--tags", "x,y", "--tags=z", "--wait"}).args ==
        Json{{"jobs", {"a", "b"}}, {"tags", {"x", "y", "z"}}, {"wait", true}});
  CHECK(cli({"pause", "--all"}).args == Json{{"all", true}});
  CHECK(cli({"resume", "a"}).args == Json{{"jobs", {"a"}}});
  CHECK(cli({"scrub", "vm1"}).args == Json{{"job", "vm1"}, {"rev", "all"}});
  CHECK(cli({"tags", "vm1", "0", "--add", "k", "--remove", "d"}).args ==
        Json{{"job", "vm1"}, {"rev", "0"}, {"add", {"k"}}, {"remove", {"d"}}});
  CHECK(cli({"restore", "vm1", "0", "rbd:p/i"}).args ==
        Json{{"job", "vm1"}, {"rev", "0"}, {"target", "rbd:p/i"}});
  CHECK(cli({"restore", "vm1", "0", "/tmp/a/../b", "--force"}).args ==
        Json{{"job", "vm1"}, {"rev", "0"}, {"target", "/tmp/b"}, {"force", true}, {"fd", true}});
  CHECK(cli({"restore", "vm1", "0", "-"}).args["target"] == "-");

  struct Bad {
    std::vector<std::string> argv;
    std::string message;
  };
  const std::vector<Bad> bad{
      {{}, "no command given"},
      {{"frobnicate"}, "unknown command \"frobnicate\""},
      {{"status", "a", "b"}, "usage: backyctl status [JOB]"},
      {{"run"}, "usage: backyctl run JOB..."},
      {{"pause"}, "usage: backyctl pause JOB...|--all"},
      {{"pause", "a", "--all"}, "usage: backyctl pause JOB...|--all"},
      {{"tags", "vm1", "0"}, "usage: backyctl tags JOB REV"},
      {{"forget", "vm1", "0", "--wait"}, "--wait does not apply to forget"},
      {{"status", "--bogus"}, "unknown option --bogus"},
      {{"run", "a", "--tags"}, "option --tags needs a value"},
      {{"run", "a", "--tags", "bad tag"}, "no valid tag"},
      {{"status", "../x"}, "must be a job name"},
  };
  for (const auto& b : bad) {
    INFO(b.message);
    try {
      cli(b.argv);
      FAIL("accepted");
    } catch (const backy::Error& e) {
      CHECK_THAT(e.what(), Catch::Contains(b.message));
    }
  }
}

TEST_CASE("backyctl waits without a timeout exactly for the slow answers", "[commands]") {
  using backy::ctl::waits_long;
  CHECK_FALSE(waits_long(cli({"status"})));
  CHECK_FALSE(waits_long(cli({"run", "a"})));
  CHECK(waits_long(cli({"run", "a", "--wait"})));
  CHECK(waits_long(cli({"scrub", "a"})));
  CHECK(waits_long(cli({"restore", "a", "0", "-"})));
}
