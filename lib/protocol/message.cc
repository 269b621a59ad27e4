#include "protocol/message.h"

#include <array>
#include <utility>

#include "protocol/commands.h"
#include "protocol/json_line.h"

namespace backy::protocol {

namespace {

constexpr std::array<std::pair<ErrorCode, const char*>, 12> kCodes{{
    {ErrorCode::bad_request, "bad_request"},
    {ErrorCode::unsupported_version, "unsupported_version"},
    {ErrorCode::unknown_command, "unknown_command"},
    {ErrorCode::too_large, "too_large"},
    {ErrorCode::timeout, "timeout"},
    {ErrorCode::permission_denied, "permission_denied"},
    {ErrorCode::not_found, "not_found"},
    {ErrorCode::conflict, "conflict"},
    {ErrorCode::failed, "failed"},
    {ErrorCode::shutting_down, "shutting_down"},
    {ErrorCode::internal, "internal"},
    {ErrorCode::busy, "busy"},
}};

std::string compact(const Json& j) {
  // Invalid UTF-8 in a message (a file name, say) must not throw here: replace it.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string line(const Json& j) {
  return compact(j) + "\n";
}

Error bad(std::string message) {
  return Error{ErrorCode::bad_request, std::move(message)};
}

// The member `name` of `j` moved out (a status answer's result is megabytes: no copy), else
// `fallback`.
Json take(Json& j, const char* name, Json fallback) {
  const auto it = j.find(name);
  return it == j.end() ? fallback : std::move(*it);
}

}  // namespace

std::string to_string(ErrorCode c) {
  for (const auto& [code, name] : kCodes)
    if (code == c) return name;
  return "internal";
}

std::optional<ErrorCode> error_code_from_string(const std::string& s) {
  for (const auto& [code, name] : kCodes)
    if (s == name) return code;
  return std::nullopt;
}

std::variant<Request, Error> parse_request(const std::string& text) {
  bool too_deep = false;
  Json j = parse_line(text, too_deep);
  if (too_deep)
    return bad("the request nests deeper than " + std::to_string(kMaxNesting) + " levels");
  if (j.is_discarded()) return bad("the request is not valid JSON");
  if (!j.is_object()) return bad("the request is not a JSON object");
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer()) return bad("the request has no integer \"v\"");
  if (v->get<int64_t>() != kVersion)
    return Error{ErrorCode::unsupported_version, "protocol version " + v->dump() +
                                                     " is not supported; this daemon speaks " +
                                                     std::to_string(kVersion)};
  auto cmd = j.find("cmd");
  if (cmd == j.end() || !cmd->is_string()) return bad("the request has no string \"cmd\"");
  Request r;
  r.command = cmd->get<std::string>();
  if (!find_command(r.command))
    return Error{ErrorCode::unknown_command, "unknown command \"" + r.command + "\""};
  if (auto args = j.find("args"); args != j.end()) {
    if (!args->is_object()) return bad("\"args\" must be an object");
    r.args = *args;
  }
  return r;
}

std::string encode_request(const Request& r) {
  return line(Json{{"v", kVersion}, {"cmd", r.command}, {"args", r.args}});
}

std::string encode_progress(const Json& progress) {
  return line(Json{{"v", kVersion}, {"type", "progress"}, {"progress", progress}});
}

std::string encode_result(const Json& result) {
  return line(Json{{"v", kVersion}, {"type", "response"}, {"ok", true}, {"result", result}});
}

std::string encode_error(const Error& e) {
  return line(Json{{"v", kVersion},
                   {"type", "response"},
                   {"ok", false},
                   {"error", {{"code", to_string(e.code)}, {"message", e.message}}}});
}

Reply parse_reply(std::string_view text) {
  return parse_reply(text, kLongString);
}

Reply parse_reply(std::string_view text, std::size_t long_string) {
  Reply r;
  r.final = true;
  bool too_deep = false;
  Json j = parse_line(text, too_deep, long_string);
  auto malformed = [&](const std::string& why) {
    r.ok = false;
    r.error = bad("malformed reply from the daemon: " + why);
    return r;
  };
  if (too_deep) return malformed("nested deeper than " + std::to_string(kMaxNesting) + " levels");
  // Every member is type-checked before it is read: Json::value() and get() throw on a member of
  // another type, and a reply is bytes from another process.
  if (j.is_discarded() || !j.is_object()) return malformed("not a JSON object");
  const auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer() || v->get<int64_t>() != kVersion)
    return malformed("protocol version " + (v == j.end() ? std::string("missing") : compact(*v)));
  const auto type = j.find("type");
  if (type == j.end() || !type->is_string()) return malformed("no string \"type\"");
  if (*type == "progress") {
    r.final = false;
    r.body = take(j, "progress", Json::object());
    return r;
  }
  if (*type != "response") return malformed("unknown type " + compact(*type));
  const auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean()) return malformed("no boolean \"ok\"");
  if (ok->get<bool>()) {
    r.ok = true;
    r.body = take(j, "result", Json::object());
    return r;
  }
  const auto err = j.find("error");
  if (err == j.end() || !err->is_object()) return malformed("\"error\" is not an object");
  const auto code = err->find("code");
  const auto message = err->find("message");
  Error e;
  if (code != err->end() && code->is_string())
    e.code = error_code_from_string(code->get<std::string>()).value_or(ErrorCode::internal);
  e.message =
      message != err->end() && message->is_string() ? message->get<std::string>() : "(no message)";
  r.error = e;
  return r;
}

bool carries_fd(const Reply& r) {
  if (!r.final || !r.ok || !r.body.is_object()) return false;
  auto it = r.body.find(kFdField);
  return it != r.body.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace backy::protocol
