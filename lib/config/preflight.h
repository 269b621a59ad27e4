// Preflight: does the host fit the configuration? A Config that load_config() returned is valid
// YAML with values in range; preflight() checks what it names on this machine:
//
//   errors    base-dir missing, not a directory or not writable (read-only under the unit's
//             sandbox: ReadWritePaths=); a file source missing, not a file or block device, or
//             unreadable; the completion callback missing or not executable; two jobs naming the
//             same source; the metrics file's directory missing or not writable.
//   warnings  base-dir without reflinks (every revision costs its full size); the admin group
//             does not exist (only root can run changing commands).
//
// Every finding is a ConfigError at the file:line:col where the configuration names the thing
// (the positions load_config kept, config/key_positions.h; a key that cannot be found is
// reported at its nearest parent). Online checks (every RBD image exists) need the cluster:
// check_images() takes the probe as a function, so this module needs no librados (the daemon passes
// lib/ceph/image_check.h's).
//
// Used by `backyd --check-config [--online]` (errors fail it) and by the daemon at start and on
// every reload (findings are logged, nothing is refused). Blocking file-system calls: a stat and
// an open per job, one probe clone in base-dir. Any thread; no state.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace backy {

struct PreflightReport {
  std::vector<ConfigError> errors;
  std::vector<ConfigError> warnings;
  bool ok() const { return errors.empty(); }
};

PreflightReport preflight(const Config& config);

// Why one ceph-rbd source's image cannot be opened, or nullopt when it can. May throw
// backy::Error when the cluster cannot be reached at all: reported once, at `ceph`.
using ImageCheck = std::function<std::optional<std::string>(const SourceConfig&)>;

// Adds an error for every ceph-rbd job whose image `check` cannot open.
void check_images(const Config& config, const ImageCheck& check, PreflightReport& report);

}  // namespace backy
