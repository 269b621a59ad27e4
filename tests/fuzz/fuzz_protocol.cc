// Fuzzes the control protocol's decoders with arbitrary lines: what a client may send the daemon
// (parse_request, then validate_args on what parses) and what a daemon may send backyctl
// (parse_reply). Neither may throw; every request that parses must encode and parse back to
// itself, and every error must encode to one line. parse_reply's fast path for long strings
// (protocol/json_line.h) must give what nlohmann alone gives; the fuzzer's lines are short, so it
// is tried with strings of 1 and 16 bytes taken as long.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

#include "protocol/commands.h"
#include "protocol/json_line.h"
#include "protocol/message.h"

using namespace backy::protocol;

namespace {

void expect(bool ok) {
  if (!ok) std::abort();
}

void check_line(const std::string& line) {
  expect(!line.empty() && line.back() == '\n');
  expect(line.find('\n') == line.size() - 1);
}

bool same(const Reply& a, const Reply& b) {
  auto dump = [](const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); };
  if (a.final != b.final || a.ok != b.ok || a.body != b.body || dump(a.body) != dump(b.body))
    return false;
  if (a.error.has_value() != b.error.has_value()) return false;
  return !a.error || (a.error->code == b.error->code && a.error->message == b.error->message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxRequestBytes) return 0;  // the daemon refuses longer lines before parsing
  const std::string line(reinterpret_cast<const char*>(data), size);

  auto parsed = parse_request(line);
  if (auto* request = std::get_if<Request>(&parsed)) {
    expect(find_command(request->command) != nullptr);
    expect(request->args.is_object());
    if (auto err = validate_args(*request)) check_line(encode_error(*err));
    const std::string again = encode_request(*request);
    check_line(again);
    auto reparsed = parse_request(again);
    auto* back = std::get_if<Request>(&reparsed);
    expect(back && back->command == request->command && back->args == request->args);
  } else {
    check_line(encode_error(std::get<Error>(parsed)));
  }

  Reply reply = parse_reply(line);
  expect(reply.final || !reply.error);
  if (reply.final && !reply.ok) expect(reply.error.has_value());
  if (reply.error) check_line(encode_error(*reply.error));

  const Reply plain = parse_reply(line, kNoLongStrings);
  expect(same(reply, plain));
  for (const std::size_t long_string : {std::size_t{1}, std::size_t{16}})
    expect(same(parse_reply(line, long_string), plain));
  return 0;
}
