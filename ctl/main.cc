// backyctl: a thin client of backyd's control socket. It parses its arguments, sends one request,
// prints the answer, and exits (0 success, 1 error; `health` uses the monitoring-plugin codes).
#include <boost/program_options.hpp>

#include <iostream>

namespace po = boost::program_options;

namespace {

const char* kCommands = R"(
Commands:
  status [JOB]                     the job table, or one job's revisions
  health                           monitoring check (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)
  metrics                          Prometheus text exposition
  run JOB... [--tags T1,T2] [--wait]
  pause JOB...|--all, resume JOB...|--all
  reload                           re-read the daemon's configuration
  restore JOB REV TARGET [--force] REV: uuid, N (0 = newest), latest, tag:NAME
  scrub JOB [REV|all], forget JOB REV, tags JOB REV --add T --remove T
  version
)";

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("Usage: backyctl [options] COMMAND [ARGS...]\n\nOptions");
  opts.add_options()("help,h", "show this help")("socket,s", po::value<std::string>(),
                                                 "the daemon's control socket")(
      "config,c", po::value<std::string>(), "read the socket path from this configuration")(
      "json", "print JSON instead of text")("command", po::value<std::vector<std::string>>(),
                                            "command and its arguments");
  po::positional_options_description pos;
  pos.add("command", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "backyctl: " << e.what() << "\n";
    return 1;
  }
  if (vm.count("help") || !vm.count("command")) {
    std::cout << opts << kCommands;
    return vm.count("help") ? 0 : 1;
  }
  std::cerr << "backyctl: the control socket is not built yet\n";
  return 1;
}
