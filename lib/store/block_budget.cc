#include "store/block_budget.h"

#include <utility>

namespace backy {

BlockBudget::Share::Share(Share&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

BlockBudget::Share& BlockBudget::Share::operator=(Share&& other) noexcept {
  if (this != &other) {
    release();
    budget_ = std::exchange(other.budget_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void BlockBudget::Share::release() {
  if (budget_ && bytes_ != 0) budget_->left_.fetch_add(bytes_, std::memory_order_relaxed);
  budget_ = nullptr;
  bytes_ = 0;
}

BlockBudget::Share BlockBudget::try_take(size_t bytes) {
  size_t left = left_.load(std::memory_order_relaxed);
  do {
    if (left < bytes) return {};
  } while (!left_.compare_exchange_weak(left, left - bytes, std::memory_order_relaxed));
  return {this, bytes};
}

}  // namespace backy
