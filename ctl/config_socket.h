// config_socket: the control socket's path as a configuration file gives it (global.socket),
// for `backyctl -c CONFIG`.
//
// backyctl needs one value of a file that, on a big backup host, names 10,000 jobs: parsing all
// of it took ~0.5 s per call, far more than the call itself. So the top-level `global:` block is
// cut out and parsed alone. Where the cut could mean something else than the whole file (a
// document marker, an anchor or alias, a flow mapping at the top, no block-style `global:` key),
// or the block does not parse, the whole file is parsed as before: same answer, only slower.
// Nothing else of the file is validated, so a half-edited configuration does not lock the
// operator out of the daemon.
#pragma once

#include <optional>
#include <string>

namespace backy::ctl {

// global.socket of the YAML `text`, or nullopt when it has none. Throws YAML::Exception when the
// text does not parse.
std::optional<std::string> configured_socket(const std::string& text);

}  // namespace backy::ctl
