// Fuzzes the configuration loader with arbitrary text. parse_config must never throw: it returns
// a valid Config or errors, each with a message and a position inside the text.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"

namespace {

void expect(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const backy::ConfigLoad load = backy::parse_config(text, "fuzz.yaml");
  expect(load.ok() == load.config.has_value());
  const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
  for (const auto& e : load.errors) {
    expect(!e.message.empty());
    expect(e.file == "fuzz.yaml");
    expect(e.line >= 0 && e.line <= lines + 1 && e.column >= 0);
  }
  if (load.config) {  // what the header promises of a Config that comes back: valid, in range
    const backy::Config& c = *load.config;
    expect(c.global.worker_limit >= 1);
    expect(c.global.base_dir.is_absolute());
    expect(c.global.base_dir.string().find('\0') == std::string::npos);
    for (const auto& [name, schedule] : c.schedules)
      for (const auto& [tag, spec] : schedule) expect(spec.keep >= 1 && spec.interval.count() > 0);
    for (const auto& [name, job] : c.jobs) {
      expect(backy::is_safe_job_name(name) && name == job.name);
      expect(c.schedules.contains(job.schedule));
      for (const std::string* s : {&job.source.filename, &job.source.pool, &job.source.image})
        expect(s->find('\0') == std::string::npos);
      expect(job.source.reads_in_flight >= 1 && job.source.reads_in_flight <= 1024);
      expect(job.verify.fraction >= 0 && job.verify.fraction <= 1);
      expect(job.verify.min_blocks >= 0 && job.verify.max_time.count() > 0);
    }
  }
  return 0;
}
