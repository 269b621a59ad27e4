// The control socket's wire format and command table (lib/protocol).
#include <catch2/catch.hpp>

#include "protocol/commands.h"
#include "protocol/message.h"
#include "schedule/schedule.h"

using namespace backy::protocol;

namespace {

Error parse_error(const std::string& line) {
  auto r = parse_request(line);
  REQUIRE(std::holds_alternative<Error>(r));
  return std::get<Error>(r);
}

std::optional<Error> check(const std::string& cmd, const Json& args) {
  return validate_args(Request{cmd, args});
}

}  // namespace

TEST_CASE("a request survives encode and parse", "[protocol]") {
  Request r{"run", {{"jobs", {"vm1", "vm2"}}, {"tags", {"manual:x"}}, {"wait", true}}};
  const std::string line = encode_request(r);
  REQUIRE(line.back() == '\n');
  REQUIRE(line.find('\n') == line.size() - 1);
  auto parsed = parse_request(line);
  REQUIRE(std::holds_alternative<Request>(parsed));
  CHECK(std::get<Request>(parsed).command == "run");
  CHECK(std::get<Request>(parsed).args == r.args);
}

TEST_CASE("malformed request envelopes are refused with a stable code", "[protocol]") {
  CHECK(parse_error("garbage\n").code == ErrorCode::bad_request);
  CHECK(parse_error("[1,2]").code == ErrorCode::bad_request);
  CHECK(parse_error(R"({"cmd":"status"})").code == ErrorCode::bad_request);
  CHECK(parse_error(R"({"v":"1","cmd":"status"})").code == ErrorCode::bad_request);
  CHECK(parse_error(R"({"v":2,"cmd":"status"})").code == ErrorCode::unsupported_version);
  CHECK(parse_error(R"({"v":1,"cmd":"explode"})").code == ErrorCode::unknown_command);
  CHECK(parse_error(R"({"v":1,"cmd":7})").code == ErrorCode::bad_request);
  CHECK(parse_error(R"({"v":1,"cmd":"status","args":[]})").code == ErrorCode::bad_request);
  CHECK(parse_error(std::string("{\"v\":1,\"cmd\":\"st\0tus\"}", 22)).code != ErrorCode::internal);
}

TEST_CASE("args are optional in the envelope", "[protocol]") {
  auto parsed = parse_request(R"({"v":1,"cmd":"status"})");
  REQUIRE(std::holds_alternative<Request>(parsed));
  CHECK(std::get<Request>(parsed).args == Json::object());
}

TEST_CASE("replies: progress, result and error parse back", "[protocol]") {
  Reply p = parse_reply(encode_progress({{"done", 5}}));
  CHECK_FALSE(p.final);
  CHECK(p.body["done"] == 5);

  Reply ok = parse_reply(encode_result({{"x", "y"}}));
  CHECK(ok.final);
  CHECK(ok.ok);
  CHECK(ok.body["x"] == "y");

  Reply err = parse_reply(encode_error({ErrorCode::permission_denied, "no"}));
  CHECK(err.final);
  CHECK_FALSE(err.ok);
  REQUIRE(err.error);
  CHECK(err.error->code == ErrorCode::permission_denied);
  CHECK(err.error->message == "no");

  Reply junk = parse_reply("not json");
  CHECK(junk.final);
  CHECK_FALSE(junk.ok);
  CHECK(junk.error->code == ErrorCode::bad_request);
}

TEST_CASE("a reply whose members have the wrong types is malformed, not an exception",
          "[protocol]") {
  // Json::value() throws type_error for a member of another type: backyctl died with
  // "terminate called" on {"v":1,"type":true}. Found by tests/fuzz/fuzz_protocol.cc.
  for (const std::string line : {
           R"({"v":1,"type":true})",
           R"({"v":"1","type":"response","ok":true})",
           R"({"v":1.5,"type":"response","ok":true})",
           R"({"v":1,"type":"response","ok":1,"result":{}})",
           R"({"v":1,"type":"response","ok":false,"error":[]})",
           R"({"v":1,"type":"response","ok":false})",
           R"({"v":1,"type":"bogus"})",
           R"({"v":null})",
       }) {
    INFO(line);
    Reply r;
    REQUIRE_NOTHROW(r = parse_reply(line));
    CHECK(r.final);
    CHECK_FALSE(r.ok);
    REQUIRE(r.error);
    CHECK(r.error->code == ErrorCode::bad_request);
    CHECK_THAT(r.error->message, Catch::StartsWith("malformed reply from the daemon: "));
  }
  // An error with a code or message of the wrong type keeps what it can.
  const Reply odd =
      parse_reply(R"({"v":1,"type":"response","ok":false,"error":{"code":7,"message":["x"]}})");
  REQUIRE(odd.error);
  CHECK(odd.error->code == ErrorCode::internal);
  CHECK(odd.error->message == "(no message)");
}

TEST_CASE("a line nested 32000 levels deep is refused, not a stack overflow", "[protocol]") {
  // Copying the parsed args recursed once per level: 64 KiB of '[' overflowed the daemon's stack
  // (found with tests/fuzz/fuzz_protocol.cc and a hand-made seed).
  const std::string deep = std::string(32000, '[') + std::string(32000, ']');
  const std::string request = R"({"v":1,"cmd":"status","args":{"job":)" + deep + "}}\n";
  REQUIRE(request.size() <= kMaxRequestBytes);
  const Error e = parse_error(request);
  CHECK(e.code == ErrorCode::bad_request);
  CHECK(e.message == "the request nests deeper than 32 levels");
  const Reply r = parse_reply(R"({"v":1,"type":"progress","progress":)" + deep + "}");
  REQUIRE(r.error);
  CHECK(r.error->message == "malformed reply from the daemon: nested deeper than 32 levels");
  // As deep as allowed still parses.
  const std::string ok = std::string(kMaxNesting - 2, '[') + std::string(kMaxNesting - 2, ']');
  CHECK(std::holds_alternative<Request>(
      parse_request(R"({"v":1,"cmd":"status","args":{"job":)" + ok + "}}")));
}

TEST_CASE("invalid UTF-8 in a message does not throw while encoding", "[protocol]") {
  std::string line;
  REQUIRE_NOTHROW(line = encode_error({ErrorCode::failed, "file \xff\xfe"}));
  CHECK(parse_reply(line).error->code == ErrorCode::failed);
}

TEST_CASE("every error code has a distinct name that parses back", "[protocol]") {
  for (ErrorCode c :
       {ErrorCode::bad_request, ErrorCode::unsupported_version, ErrorCode::unknown_command,
        ErrorCode::too_large, ErrorCode::timeout, ErrorCode::permission_denied,
        ErrorCode::not_found, ErrorCode::conflict, ErrorCode::failed, ErrorCode::shutting_down,
        ErrorCode::internal, ErrorCode::busy})
    CHECK(error_code_from_string(to_string(c)) == c);
  CHECK_FALSE(error_code_from_string("nope"));
}

TEST_CASE("only reading commands are open to everyone", "[protocol]") {
  for (const char* c : {"version", "status", "health", "metrics"})
    CHECK(find_command(c)->access == Access::anyone);
  for (const char* c : {"run", "pause", "resume", "reload", "restore", "scrub", "forget", "tags"})
    CHECK(find_command(c)->access != Access::anyone);
  CHECK(find_command("nope") == nullptr);
}

TEST_CASE("argument validation: a table of good and bad requests", "[protocol]") {
  struct Case {
    const char* cmd;
    Json args;
    bool ok;
  };
  const std::vector<Case> cases{
      {"status", Json::object(), true},
      {"status", {{"job", "vm1"}}, true},
      {"status", {{"job", "../etc"}}, false},
      {"status", {{"job", 5}}, false},
      {"status", {{"jobb", "vm1"}}, false},
      {"version", {{"x", 1}}, false},
      {"run", {{"jobs", {"vm1"}}}, true},
      {"run", {{"jobs", Json::array()}}, false},
      {"run", {{"jobs", "vm1"}}, false},
      {"run", {{"jobs", {"vm1"}}, {"tags", {"daily", "manual:keep"}}, {"wait", true}}, true},
      {"run", {{"jobs", {"vm1"}}, {"tags", {"da ily"}}}, false},
      {"run", {{"jobs", {"vm1"}}, {"wait", "yes"}}, false},
      {"run", Json::object(), false},
      {"pause", {{"all", true}}, true},
      {"pause", {{"jobs", {"a", "b"}}}, true},
      {"pause", Json::object(), false},
      {"pause", {{"all", true}, {"jobs", {"a"}}}, false},
      {"resume", {{"all", false}}, false},
      {"restore", {{"job", "vm1"}, {"rev", "latest"}, {"target", "/tmp/x"}}, true},
      {"restore", {{"job", "vm1"}, {"rev", "latest"}}, false},
      {"restore", {{"job", "vm1"}, {"rev", ""}, {"target", "-"}}, false},
      {"scrub", {{"job", "vm1"}}, true},
      {"forget", {{"job", "vm1"}, {"rev", "0"}}, true},
      {"forget", {{"job", "vm1"}}, false},
      {"tags", {{"job", "vm1"}, {"rev", "0"}, {"add", {"x"}}}, true},
      {"tags", {{"job", "vm1"}, {"rev", "0"}}, false},
      {"tags",
       {{"job", "vm1"}, {"rev", "0"}, {"add", Json::array()}, {"remove", Json::array()}},
       false},
  };
  for (const auto& c : cases) {
    INFO(c.cmd << " " << c.args.dump());
    auto err = check(c.cmd, c.args);
    CHECK(!err == c.ok);
    if (err) CHECK(err->code == ErrorCode::bad_request);
  }
}

TEST_CASE("tag names", "[protocol]") {
  CHECK(backy::is_valid_tag("daily"));
  CHECK(backy::is_valid_tag("manual:before-upgrade.1"));
  CHECK_FALSE(backy::is_valid_tag(""));
  CHECK_FALSE(backy::is_valid_tag("a,b"));
  CHECK_FALSE(backy::is_valid_tag(std::string(65, 'a')));
}

TEST_CASE("a response announcing a file descriptor", "[protocol]") {
  CHECK(carries_fd(parse_reply(encode_result({{"uuid", "u"}, {"fd", true}}))));
  CHECK_FALSE(carries_fd(parse_reply(encode_result({{"uuid", "u"}}))));
  CHECK_FALSE(carries_fd(parse_reply(encode_result({{"fd", "yes"}}))));  // no throw either
  CHECK_FALSE(carries_fd(parse_reply(encode_progress({{"fd", true}}))));
  CHECK_FALSE(carries_fd(parse_reply(encode_error({ErrorCode::failed, "x"}))));
  CHECK(to_string(ErrorCode::busy) == "busy");
  Request ok{"restore", {{"job", "vm1"}, {"rev", "0"}, {"target", "-"}, {"fd", true}}};
  CHECK_FALSE(validate_args(ok));
  Request bad{"restore", {{"job", "vm1"}, {"rev", "0"}, {"target", "-"}, {"fd", 1}}};
  REQUIRE(validate_args(bad));
  CHECK(validate_args(bad)->message.find("\"fd\"") != std::string::npos);
}
