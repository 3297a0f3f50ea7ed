// ag::data::DataLoader — batches of a Dataset, prepared on a background thread.
//
// What it represents: an iterable over the batches of one epoch. Every `begin()` starts a
// new epoch: the example order is 0..N-1, or with shuffle(true) a permutation drawn from
// (seed, epoch number) alone — reproducible, different for each epoch, and independent
// of ag::manual_seed. The batches are made by a producer thread that runs ahead of the
// training loop by at most `prefetch` batches (a bounded queue); the iterator hands them
// out in order.
//
//   ag::data::DataLoader loader(dataset, ag::data::DataLoaderOptions().batch_size(64).shuffle(true).seed(7));
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (auto& batch : loader) train_step(batch.input, batch.target);
//
// Ensures:
//   - each epoch yields every example exactly once (drop_last(true) omits the last,
//     incomplete batch); size() is the number of batches per epoch;
//   - an exception thrown while making a batch (e.g. in Dataset::get) is rethrown by the
//     iterator at that batch's position, on the consuming thread;
//   - leaving the loop early (break, exception) or destroying the loader stops the
//     producer and joins it: no thread outlives the iteration, nothing hangs;
//   - batch_size(0) throws ag::Error when the loader is constructed.
// The loader copies (or moves) the dataset it is given, as libtorch's make_data_loader
// does; pass a std::shared_ptr to share one instead. Batches are made with grad mode off.
#pragma once

#include <cstdint>
#include <iterator>
#include <memory>
#include <type_traits>
#include <utility>

#include "ag/data/dataset.hpp"

namespace ag::data {

class DataLoaderOptions {
 public:
  DataLoaderOptions() = default;
  explicit DataLoaderOptions(int64_t batch_size) : batch_size_(batch_size) {}

  DataLoaderOptions& batch_size(int64_t b) { batch_size_ = b; return *this; }
  DataLoaderOptions& shuffle(bool s) { shuffle_ = s; return *this; }
  DataLoaderOptions& seed(uint64_t s) { seed_ = s; return *this; }
  DataLoaderOptions& drop_last(bool d) { drop_last_ = d; return *this; }
  // Batches made ahead of the consumer; 0 makes each batch on the consuming thread.
  DataLoaderOptions& prefetch(int64_t n) { prefetch_ = n; return *this; }

  int64_t batch_size() const { return batch_size_; }
  bool shuffle() const { return shuffle_; }
  uint64_t seed() const { return seed_; }
  bool drop_last() const { return drop_last_; }
  int64_t prefetch() const { return prefetch_; }

 private:
  int64_t batch_size_ = 1;
  bool shuffle_ = false;
  uint64_t seed_ = 0;
  bool drop_last_ = false;
  int64_t prefetch_ = 2;
};

namespace detail {
class Epoch;  // one epoch's producer thread, queue and current batch (dataloader.cpp)
}

class DataLoader {
 public:
  // An input iterator over one epoch's batches.
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Example;
    using difference_type = std::ptrdiff_t;
    using pointer = const Example*;
    using reference = const Example&;

    Iterator() = default;
    const Example& operator*() const;
    const Example* operator->() const { return &**this; }
    Iterator& operator++();
    // Two iterators are equal when both are past the end (or are the same position).
    bool operator==(const Iterator& o) const { return at_end() == o.at_end() && (at_end() || epoch_ == o.epoch_); }
    bool operator!=(const Iterator& o) const { return !(*this == o); }

   private:
    friend class DataLoader;
    explicit Iterator(std::shared_ptr<detail::Epoch> e) : epoch_(std::move(e)) {}
    bool at_end() const;
    std::shared_ptr<detail::Epoch> epoch_;
  };
  using iterator = Iterator;

  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});
  // Takes a copy of (or moves) any Dataset subclass.
  template <class D, class = std::enable_if_t<std::is_base_of_v<Dataset, std::decay_t<D>>>>
  DataLoader(D&& dataset, DataLoaderOptions options = {})  // NOLINT: implicit is fine
      : DataLoader(std::shared_ptr<const Dataset>(std::make_shared<std::decay_t<D>>(std::forward<D>(dataset))),
                   options) {}
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;
  DataLoader(DataLoader&&) noexcept;
  DataLoader& operator=(DataLoader&&) noexcept;

  // Starts the next epoch (its number is epoch(), which then advances by one).
  Iterator begin();
  Iterator end() { return Iterator(); }

  // Batches per epoch.
  int64_t size() const;
  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }
  // The number the next begin() will use; set_epoch restarts the sequence (to resume).
  int64_t epoch() const { return next_epoch_; }
  void set_epoch(int64_t e) { next_epoch_ = e; }
  // The example order of epoch `e` (what begin() would use for it).
  std::vector<int64_t> order(int64_t e) const;

 private:
  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  int64_t next_epoch_ = 0;
};

}  // namespace ag::data
