#include "backup/job_backup.h"

#include "util/error.h"

namespace backy {

std::filesystem::path job_dir(const Config& config, const std::string& job) {
  return config.global.base_dir / job;
}

BackupResult backup_job(const Config& config, const JobConfig& job, SourceFactory& sources,
                        const std::set<std::string>& tags, spdlog::logger& log,
                        std::stop_token stop, std::function<void(uint64_t, uint64_t)> progress) {
  Repository repo(job_dir(config, job.name));
  Repository::Lock lock = repo.lock();
  std::unique_ptr<Source> source = sources.make(job.source);
  BackupOptions options;
  options.tags = tags;
  options.full_always = job.source.full_always;
  options.verify = job.verify;
  options.progress = std::move(progress);
  return run_backup(repo, lock, *source, options, log, stop);
}

}  // namespace backy
