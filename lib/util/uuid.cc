#include "util/uuid.h"

#include <sys/random.h>

#include <array>
#include <cstdio>
#include <string_view>

#include "util/error.h"

namespace backy {

std::string new_uuid() {
  std::array<unsigned char, 16> b{};
  if (::getrandom(b.data(), b.size(), 0) != static_cast<ssize_t>(b.size()))
    throw sys_error("getrandom");
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  char s[37];
  std::snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                b[13], b[14], b[15]);
  return s;
}

bool is_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

namespace {

constexpr std::string_view kShortUuidAlphabet =
    "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

bool shortuuid_chars(const std::string& s) {
  return s.find_first_not_of(kShortUuidAlphabet) == std::string::npos;
}

// The start of a uuid: lowercase hex digits, and dashes where a uuid has them.
bool uuid_chars(const std::string& s) {
  static constexpr std::string_view kShape = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  if (s.size() > kShape.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = kShape[i] == '-' ? c == '-' : (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool is_shortuuid(const std::string& s) {
  return s.size() == kShortUuidLength && shortuuid_chars(s);
}

bool is_revision_uuid(const std::string& s) {
  return is_uuid(s) || is_shortuuid(s);
}

bool is_revision_uuid_prefix(const std::string& s) {
  if (s.size() < kMinUuidPrefix) return false;
  return uuid_chars(s) || (s.size() <= kShortUuidLength && shortuuid_chars(s));
}

}  // namespace backy
