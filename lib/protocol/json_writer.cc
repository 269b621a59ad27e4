#include "protocol/json_writer.h"

#include <fmt/format.h>

#include <cmath>

#include "util/utf8.h"

namespace backy::protocol {

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Escapes well-formed UTF-8 as nlohmann does with ensure_ascii off.
void append_escaped(std::string& out, std::string_view s) {
  size_t plain = 0;  // start of the run of bytes copied as they are
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(s.data() + plain, s.size() - plain);
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  // Bytes that are not UTF-8 (a file name in an error message) become U+FFFD, one per byte
  // that starts no well-formed sequence: the line stays valid JSON for any input.
  for (;;) {
    const size_t bad = invalid_utf8_at(s);
    if (bad == std::string_view::npos) break;
    append_escaped(out, s.substr(0, bad));
    out += "\xEF\xBF\xBD";
    s.remove_prefix(bad + 1);
  }
  append_escaped(out, s);
  out += '"';
}

void JsonWriter::separate() {
  if (comma_) out_ += ',';
}

JsonWriter& JsonWriter::begin_object() {
  separate();
  out_ += '{';
  comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  separate();
  out_ += '[';
  comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  separate();
  append_json_string(out_, name);
  out_ += ':';
  comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) {
  separate();
  append_json_string(out_, s);
  comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(bool b) {
  separate();
  out_ += b ? "true" : "false";
  comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(int64_t n) {
  separate();
  fmt::format_to(std::back_inserter(out_), "{}", n);
  comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(uint64_t n) {
  separate();
  fmt::format_to(std::back_inserter(out_), "{}", n);
  comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(double d) {
  if (!std::isfinite(d)) return null();
  separate();
  const size_t start = out_.size();
  fmt::format_to(std::back_inserter(out_), "{}", d);
  // fmt writes 2.0 as "2": a whole number gets its ".0", as nlohmann writes it, so that a
  // reader sees a float where the tree had one.
  if (out_.find_first_of(".e", start) == std::string::npos) out_ += ".0";
  comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::null() {
  separate();
  out_ += "null";
  comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(const Json& j) {
  separate();
  out_ += j.dump(-1, ' ', false, Json::error_handler_t::replace);
  comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view json) {
  separate();
  out_ += json;
  comma_ = true;
  return *this;
}

static_assert(kVersion == 1, "result_line_close() spells the version");

std::string_view result_line_open() {
  return R"({"ok":true,"result":)";
}

std::string_view result_line_close() {
  return ",\"type\":\"response\",\"v\":1}\n";
}

}  // namespace backy::protocol
