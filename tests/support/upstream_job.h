// An upstream backy job directory, as flyingcircusio/backy 2.4.3 leaves one, written by the test
// itself (tests/unit/adopt_test.cc, tests/integration/adopt_test.cc): three cowfile revisions
// forming a chain, each .rev in another of upstream's spellings (no backend_type and a naive
// timestamp; a float timestamp; an offset timestamp without `trust`), one chunked revision with
// its chunks/ store, the `last` and `last.rev` links upstream points at its newest revision,
// its `config` and its lock files. Header-only: the unit tests have no support library.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace backy::test {

struct UpstreamJob {
  struct Rev {
    std::string uuid;
    std::string timestamp;  // as format_iso8601 prints the time the .rev says
    std::string parent;
    std::vector<std::string> tags;
    std::string trust;
    std::string image;     // its bytes
    std::string rev_text;  // the .rev as written
  };
  std::vector<Rev> cowfile;  // oldest first
  std::string chunked;       // the chunked revision's uuid
  static constexpr uint64_t kSize = 3 * 4 * 1024 * 1024 + 8192;
};

inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes the job directory into `dir` (created if missing).
inline UpstreamJob write_upstream_job(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  UpstreamJob job;
  // Revision 1: full; block 1 a hole; each next revision changes a few pages.
  std::string image(UpstreamJob::kSize, '\0');
  auto fill = [&](uint64_t at, uint64_t len, char seed) {
    for (uint64_t i = 0; i < len; ++i) image[at + i] = static_cast<char>(seed + (i * 7) % 251);
  };
  fill(0, 4 << 20, 'a');
  fill(8 << 20, (4 << 20) + 8192, 'b');
  const std::string s1 = "VNfPmmwQmHEHyeLZrhVrCy", s2 = "Sgx3wE8KCUzqVwnFsHqRKi",
                    s3 = "3YbPLKvEANtyXHmeqd9TZW";
  job.chunked = "kWJX5tN2b8YL7nqRrDmSfG";

  job.cowfile.push_back({s1,
                         "2016-03-04T10:11:12.123456+00:00",
                         "",
                         {"daily", "weekly"},
                         "verified",
                         image,
                         "parent: null\n"
                         "stats: {bytes_written: 12582912, duration: 3.25}\n"
                         "tags: [daily, weekly]\n"
                         "timestamp: 2016-03-04 10:11:12.123456\n"
                         "trust: verified\n"
                         "uuid: " +
                             s1 + "\n"});
  fill(4096, 8192, 'c');
  fill((8 << 20) + 4096 * 3, 4096, 'd');
  job.cowfile.push_back({s2,
                         "2016-03-05T10:11:12.500000+00:00",
                         s1,
                         {"daily"},
                         "trusted",
                         image,
                         "backend_type: cowfile\n"
                         "parent: " +
                             s1 +
                             "\n"
                             "stats:\n  bytes_written: 12288\n  duration: 0.5\n"
                             "tags:\n- daily\n"
                             "timestamp: 1457172672.5\n"
                             "trust: trusted\n"
                             "uuid: " +
                             s2 + "\n"});
  fill((4 << 20) + 4096 * 5, 4096, 'e');  // into the hole
  fill(UpstreamJob::kSize - 4096, 4096, 'f');
  job.cowfile.push_back({s3,
                         "2016-03-06T10:11:12.654321+00:00",
                         s2,
                         {"daily", "manual:keep"},
                         "trusted",
                         image,
                         "backend_type: cowfile\n"
                         "parent: " +
                             s2 +
                             "\n"
                             "stats: {bytes_written: 8192, duration: 0.25}\n"
                             "tags: [daily, 'manual:keep']\n"
                             "timestamp: 2016-03-06 10:11:12.654321+00:00\n"
                             "uuid: " +
                             s3 + "\n"});
  for (const auto& r : job.cowfile) {
    write_file(dir / r.uuid, r.image);
    write_file(dir / (r.uuid + ".rev"), r.rev_text);
    std::filesystem::permissions(dir / r.uuid, std::filesystem::perms(0640));
  }
  write_file(dir / (job.chunked + ".rev"),
             "backend_type: chunked\nparent: " + s3 +
                 "\nstats: {bytes_written: 4096, duration: 1.0}\ntags: [daily]\n"
                 "timestamp: 2016-03-07 10:11:12.000001+00:00\ntrust: trusted\nuuid: " +
                 job.chunked + "\n");
  std::filesystem::create_directories(dir / "chunks" / "ab");
  write_file(dir / "chunks" / "ab" / "abcdef.chunk.lzo", "not ours");
  write_file(dir / "config", "type: file\nfilename: /srv/vm.img\n");
  write_file(dir / ".backup", "");
  write_file(dir / ".purge", "");
  // Upstream's links are absolute and point at its newest revision.
  std::filesystem::create_symlink(dir / job.chunked, dir / "last");
  std::filesystem::create_symlink(dir / (job.chunked + ".rev"), dir / "last.rev");
  return job;
}

}  // namespace backy::test
