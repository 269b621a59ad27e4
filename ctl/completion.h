// bash completion, answered by backyctl itself from the command table, so the completion script
// (ctl/backyctl.bash-completion) knows no command, option or argument of its own:
//
//   backyctl __complete INDEX WORD...    (the words of the line, WORD 0 being backyctl)
//
// prints the candidates for the word at INDEX, one per line. Two are placeholders the script
// fills in: @jobs (the daemon's job names, from `status --json`) and @files (file names).
// Pure; no socket.
#pragma once

#include <string>
#include <vector>

namespace backy::ctl {

std::vector<std::string> complete(const std::vector<std::string>& words, size_t index);

}  // namespace backy::ctl
