#include "util/error.h"

#include <cerrno>
#include <cstring>

namespace backy {

Error sys_error(const std::string& what, int err) {
  return Error(what + ": " + std::strerror(err));
}

Error sys_error(const std::string& what) {
  return sys_error(what, errno);
}

}  // namespace backy
