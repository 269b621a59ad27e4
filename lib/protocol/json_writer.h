// JsonWriter: compact JSON written straight into a string, value by value, for answers too large
// to build as a tree first (the job table of 10,000 jobs is megabytes: a nlohmann tree of it
// cost several times the bytes sent, in memory and in time).
//
// What it writes parses to what nlohmann's dump() of the same values would: strings escaped as
// nlohmann escapes them (", \, control characters; other UTF-8 as is), bytes that are not UTF-8
// replaced by U+FFFD (as encode_result's error_handler_t::replace does), doubles in their
// shortest round-trip form with ".0" on whole numbers, NaN and infinity as null. The caller
// opens and closes objects and arrays in pairs and writes a key before each member's value;
// the writer only places the commas. Not thread-safe; one writer per string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/message.h"

namespace backy::protocol {

class JsonWriter {
 public:
  // Appends to `out`, which must outlive the writer.
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  // REQUIRES: inside an object, before the member's value.
  JsonWriter& key(std::string_view name);

  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b);
  JsonWriter& value(int64_t n);
  JsonWriter& value(uint64_t n);
  JsonWriter& value(int n) { return value(int64_t{n}); }
  JsonWriter& value(double d);
  JsonWriter& null();
  // A value from a tree (small parts of a large answer), dumped compact.
  JsonWriter& value(const Json& j);
  // A value already encoded (by another JsonWriter).
  JsonWriter& raw(std::string_view json);

  // key(name) then value(v).
  template <typename T>
  JsonWriter& member(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

 private:
  void separate();

  std::string& out_;
  bool comma_ = false;  // a value was written at this level: the next one needs a comma
};

// `s` as a JSON string, quotes included, appended to `out` (see JsonWriter for the escaping).
void append_json_string(std::string& out, std::string_view s);

// The response line around a result encoded elsewhere: result_line_open() + result +
// result_line_close() is encode_result's line.
std::string_view result_line_open();
std::string_view result_line_close();

}  // namespace backy::protocol
