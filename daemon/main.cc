// backyd: the backup daemon. main() parses argv, loads the configuration and hands over to one
// of the modes: --check-config, --once, or the long-running daemon.
#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include <iostream>
#include <sstream>

#include "config/config.h"
#include "logging.h"
#include "once.h"

namespace po = boost::program_options;

namespace {

std::set<std::string> split_tags(const std::string& s) {
  std::set<std::string> out;
  std::stringstream ss(s);
  std::string t;
  while (std::getline(ss, t, ','))
    if (!t.empty()) out.insert(t);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("Usage: backyd -c CONFIG [--check-config | --once JOB...]\n\nOptions");
  opts.add_options()("help,h", "show this help")("version", "show the version")(
      "config,c", po::value<std::string>()->default_value("/etc/backy.yaml"), "configuration file")(
      "check-config", "validate the configuration, print a summary, and exit")(
      "once", po::value<std::vector<std::string>>()->multitoken(),
      "back up the named jobs now, in the foreground, and exit")(
      "tags", po::value<std::string>(), "with --once: the tags of the new revisions (T1,T2)")(
      "log-level,l", po::value<std::string>(), "trace, debug, info, warning, error (overrides the config)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "backyd: " << e.what() << "\n" << opts;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "backyd " << BACKY_VERSION << "\n";
    return 0;
  }

  const std::string file = vm["config"].as<std::string>();
  backy::ConfigLoad load = backy::load_config(file);
  if (!load.ok()) {
    for (const auto& e : load.errors) std::cerr << e.to_string() << "\n";
    std::cerr << "backyd: " << file << ": " << load.errors.size() << " error"
              << (load.errors.size() == 1 ? "" : "s") << "\n";
    return 1;
  }
  const backy::Config& config = *load.config;
  if (vm.count("check-config")) {
    std::cout << file << ": ok, " << config.jobs.size() << " jobs, " << config.schedules.size()
              << " schedules, base-dir " << config.global.base_dir.string() << "\n";
    return 0;
  }

  auto log = backy::make_logger(vm.count("log-level") ? vm["log-level"].as<std::string>()
                                                      : config.global.log_level);
  if (vm.count("once")) {
    std::optional<std::set<std::string>> tags;
    if (vm.count("tags")) tags = split_tags(vm["tags"].as<std::string>());
    return backy::run_once(config, vm["once"].as<std::vector<std::string>>(), tags, *log);
  }
  std::cerr << "backyd: the long-running daemon is not built yet; use --once or --check-config\n";
  return 1;
}
