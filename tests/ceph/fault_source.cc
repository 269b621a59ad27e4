#include "ceph/fault_source.h"

#include <vector>

namespace backy::test {

namespace {

class FaultSnapshot : public SourceSnapshot {
 public:
  FaultSnapshot(std::unique_ptr<SourceSnapshot> inner, FaultFactory& f)
      : inner_(std::move(inner)), f_(f) {}
  uint64_t size() const override { return inner_->size(); }
  std::vector<BlockChange> changed_blocks() override { return inner_->changed_blocks(); }
  void read_blocks(std::span<const uint64_t> blocks, const BlockSink& sink,
                   std::stop_token stop) override {
    inner_->read_blocks(blocks, faulty(sink), stop);
  }
  bool read_changed_pages(std::span<const uint64_t> blocks, const PageRunSink& sink,
                          std::stop_token stop) override {
    const bool first_pass = pass_++ == 0;
    bool first = true;
    bool read = inner_->read_changed_pages(
        blocks,
        [&](uint64_t b, std::span<const PageRun> runs) {
          if (first_pass && first && f_.before_first_block) f_.before_first_block();
          first = false;
          if (!first_pass || !f_.corrupt || runs.empty()) return sink(b, runs);
          copy_.assign(runs[0].data.begin(), runs[0].data.end());
          copy_[copy_.size() / 2] ^= 0x5a;
          std::vector<PageRun> changed(runs.begin(), runs.end());
          changed[0].data = copy_;
          sink(b, changed);
        },
        stop);
    if (!read) --pass_;  // nothing was read: the faults are still due
    return read;
  }
  bool stable() const override { return inner_->stable(); }
  uint64_t bytes_read() const override { return inner_->bytes_read(); }

 private:
  std::unique_ptr<SourceSnapshot> inner_;
  FaultFactory& f_;
  // The first pass (the backup's) gets the faults; later ones (verification) the real data.
  BlockSink faulty(const BlockSink& sink) {
    if (pass_++ > 0) return sink;
    return [this, sink, first = true](uint64_t b, std::span<const char> data) mutable {
      if (first && f_.before_first_block) f_.before_first_block();
      first = false;
      if (!f_.corrupt) return sink(b, data);
      copy_.assign(data.begin(), data.end());
      copy_[copy_.size() / 2] ^= 0x5a;
      sink(b, copy_);
    };
  }

  int pass_ = 0;
  std::vector<char> copy_;
};

class FaultSource : public Source {
 public:
  FaultSource(std::unique_ptr<Source> inner, FaultFactory& f) : inner_(std::move(inner)), f_(f) {}
  std::map<std::string, std::string> describe(const std::string& uuid) const override {
    return inner_->describe(uuid);
  }
  bool can_diff_from(const std::string& parent) override { return inner_->can_diff_from(parent); }
  std::unique_ptr<SourceSnapshot> open(const std::string& uuid,
                                       const std::optional<std::string>& parent) override {
    return std::make_unique<FaultSnapshot>(inner_->open(uuid, parent), f_);
  }
  std::set<std::string> committed(const std::string& uuid,
                                  const std::set<std::string>& owned) override {
    return inner_->committed(uuid, owned);
  }
  bool abandon(const std::string& uuid) noexcept override { return inner_->abandon(uuid); }

 private:
  std::unique_ptr<Source> inner_;
  FaultFactory& f_;
};

}  // namespace

std::unique_ptr<Source> FaultFactory::make(const SourceConfig& config) {
  return std::make_unique<FaultSource>(inner_.make(config), *this);
}

}  // namespace backy::test
