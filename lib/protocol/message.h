// The control socket's messages: what backyd and backyctl say to each other, and how a line of
// JSON becomes one of them. docs/protocol.md is the reference; this is its code.
//
// Framing: one JSON object per line ('\n'), UTF-8. A client sends exactly one request line; the
// daemon answers with zero or more progress lines and then one response line, and closes.
//
//   request   {"v":1, "cmd":"status", "args":{...}}
//   progress  {"v":1, "type":"progress", "progress":{...}}
//   response  {"v":1, "type":"response", "ok":true, "result":{...}}
//             {"v":1, "type":"response", "ok":false, "error":{"code":"not_found", "message":"..."}}
//
// A response whose result has `"fd": true` (kFdField) comes with one file descriptor, passed as
// SCM_RIGHTS ancillary data with the response line's first bytes: `restore` to a file, a device
// or stdout hands the client the revision's image, read-only, and the client writes the target.
// A client must read replies with recvmsg() to receive it (recv() would drop it).
//
// Error codes are stable strings: scripts may match on them; messages are for people.
//
// Pure: no sockets, no I/O. Plain values; any thread.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace backy::protocol {

using Json = nlohmann::json;

inline constexpr int kVersion = 1;
// The longest request line the daemon reads (the newline included); longer is `too_large`.
inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;
// The result field saying that a file descriptor came with the response.
inline constexpr const char* kFdField = "fd";
// The deepest nesting of arrays and objects a request or reply may have; deeper is bad_request.
// Copying or destroying a JSON value recurses once per level: a 64 KiB line of '[' overflowed
// the daemon's stack.
inline constexpr int kMaxNesting = 32;

enum class ErrorCode {
  bad_request,          // not JSON, not an object, a missing or mistyped argument
  unsupported_version,  // "v" is not one this daemon speaks
  unknown_command,
  too_large,          // the request line exceeds kMaxRequestBytes
  timeout,            // no complete request line in time
  permission_denied,  // a changing command from a peer that is neither root nor admin-group
  not_found,          // no such job or revision
  conflict,           // the job is already queued or running; a restore target exists
  failed,             // the operation ran and failed (message says why)
  shutting_down,      // the daemon is stopping
  internal,           // a bug: the daemon caught something it did not expect
  busy,               // the daemon serves as many connections as it allows; try again later
};
std::string to_string(ErrorCode c);
// nullopt for a string that names no code.
std::optional<ErrorCode> error_code_from_string(const std::string& s);

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
};

struct Request {
  std::string command;
  Json args = Json::object();
};

// Parses one request line (without or with its '\n') and checks its envelope: version, command
// name known, args an object. Argument checks per command are in commands.h.
std::variant<Request, Error> parse_request(const std::string& line);

// Each encode_* returns one line, '\n' included.
std::string encode_request(const Request& r);
std::string encode_progress(const Json& progress);
std::string encode_result(const Json& result);
std::string encode_error(const Error& e);

// What a client reads: a progress line or the final response.
struct Reply {
  bool final = false;          // false: a progress line
  bool ok = false;             // final only
  Json body;                   // progress, or result when ok
  std::optional<Error> error;  // final and !ok
};
// A line the daemon sent that is not a well-formed reply yields bad_request as its error.
Reply parse_reply(std::string_view line);
// The same, with strings of at least `long_string` bytes decoded by json_line.h's fast path
// (kLongString there by default; kNoLongStrings: nlohmann alone). For tests comparing the two.
Reply parse_reply(std::string_view line, std::size_t long_string);
// Whether `r` is a successful response announcing a file descriptor.
bool carries_fd(const Reply& r);

}  // namespace backy::protocol
