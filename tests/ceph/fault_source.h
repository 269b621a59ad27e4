// FaultFactory: wraps the product's SourceFactory to force a fault in the middle of a real run
// (an image deleted, a cluster stopped, a block corrupted on its way to the store), at a
// deterministic moment: before the first block of the backup pass reaches the backup's sink.
// Everything else (snapshots, diffs, aio reads, cleanup) is the real thing.
#pragma once

#include <functional>
#include <memory>

#include "source/source_factory.h"

namespace backy::test {

class FaultFactory : public SourceFactory {
 public:
  explicit FaultFactory(SourceFactory& inner) : inner_(inner) {}

  // Runs once per run, before the first block of the backup pass (the first read_blocks()
  // call; later calls are the verification's) is handed on.
  std::function<void()> before_first_block;
  // Flips one byte of every block of the backup pass: the store gets wrong data.
  bool corrupt = false;

  std::unique_ptr<Source> make(const SourceConfig& config) override;

 private:
  SourceFactory& inner_;
};

}  // namespace backy::test
