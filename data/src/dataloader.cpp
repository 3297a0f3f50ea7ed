// The DataLoader: one producer thread per epoch, a bounded queue, in-order hand-out.
//
// Note [DataLoader epochs]
// begin() makes a detail::Epoch, shared by the iterators of that loop. The Epoch owns the
// producer thread, which makes batch 0, 1, 2, ... of the epoch's order and pushes each
// into a queue of at most `prefetch` batches, waiting while it is full. The consumer pops
// from the front, so batches arrive in order. The thread captures the Epoch by raw
// pointer — it never keeps it alive — and ~Epoch sets `stop`, wakes the producer and
// joins it: breaking out of a range-for destroys the loop's iterator, the last owner of
// the Epoch, and with it the thread. An exception while making a batch is caught on the
// producer, stored in place of that batch, and rethrown by the consumer when it reaches
// it. The thread runs with grad mode off, so batches never record a graph.
#include "ag/data/dataloader.hpp"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "ag/autograd.hpp"
#include "rng.hpp"

namespace ag::data {

namespace detail {

class Epoch {
 public:
  Epoch(std::shared_ptr<const Dataset> dataset, std::vector<int64_t> order, const DataLoaderOptions& o)
      : dataset_(std::move(dataset)), order_(std::move(order)), batch_size_(o.batch_size()), prefetch_(o.prefetch()) {
    const auto n = static_cast<int64_t>(order_.size());
    num_batches_ = o.drop_last() ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
    if (prefetch_ > 0 && num_batches_ > 0) thread_ = std::thread([this] { produce(); });
  }

  ~Epoch() {
    {
      std::lock_guard<std::mutex> l(mutex_);
      stop_ = true;
    }
    not_full_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  Epoch(const Epoch&) = delete;
  Epoch& operator=(const Epoch&) = delete;

  // Moves to the next batch (the first one on the first call). Returns false past the
  // end; rethrows the exception that making this batch raised.
  bool advance() {
    current_ = Example();
    if (finished_ || consumed_ >= num_batches_) {
      finished_ = true;
      return false;
    }
    if (prefetch_ <= 0) {  // synchronous: make it here
      try {
        AutoGradMode off(false);
        current_ = make(consumed_++);
      } catch (...) {
        finished_ = true;
        throw;
      }
      return true;
    }
    Item item;
    {
      std::unique_lock<std::mutex> l(mutex_);
      not_empty_.wait(l, [&] { return !queue_.empty(); });
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    not_full_.notify_one();
    ++consumed_;
    if (item.error) {
      finished_ = true;
      std::rethrow_exception(item.error);
    }
    current_ = std::move(item.batch);
    return true;
  }

  bool finished() const { return finished_; }
  const Example& current() const { return current_; }

 private:
  struct Item {
    Example batch;
    std::exception_ptr error;
  };

  Example make(int64_t b) const {
    const int64_t n = static_cast<int64_t>(order_.size());
    const int64_t start = b * batch_size_;
    const int64_t stop = std::min(n, start + batch_size_);
    std::vector<int64_t> indices(order_.begin() + start, order_.begin() + stop);
    return dataset_->get_batch(indices);
  }

  void produce() {
    AutoGradMode off(false);  // thread-local: the producer records no graph
    for (int64_t b = 0; b < num_batches_; ++b) {
      {
        std::unique_lock<std::mutex> l(mutex_);
        not_full_.wait(l, [&] { return stop_ || static_cast<int64_t>(queue_.size()) < prefetch_; });
        if (stop_) return;
      }
      Item item;
      try {
        item.batch = make(b);
      } catch (...) {
        item.error = std::current_exception();
      }
      const bool failed = item.error != nullptr;
      {
        std::lock_guard<std::mutex> l(mutex_);
        queue_.push_back(std::move(item));
      }
      not_empty_.notify_one();
      if (failed) return;  // the consumer stops at the error
    }
  }

  std::shared_ptr<const Dataset> dataset_;
  std::vector<int64_t> order_;
  int64_t batch_size_;
  int64_t prefetch_;
  int64_t num_batches_ = 0;

  // consumer side (one thread)
  int64_t consumed_ = 0;
  bool finished_ = false;
  Example current_;

  // shared
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Item> queue_;
  bool stop_ = false;
  std::thread thread_;  // last member: started after everything it reads is initialised
};

}  // namespace detail

// ---- Iterator ---------------------------------------------------------------------------
const Example& DataLoader::Iterator::operator*() const {
  AG_CHECK(!at_end(), "DataLoader: dereferencing an iterator past the end of the epoch");
  return epoch_->current();
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  AG_CHECK(!at_end(), "DataLoader: incrementing an iterator past the end of the epoch");
  epoch_->advance();
  return *this;
}

bool DataLoader::Iterator::at_end() const { return !epoch_ || epoch_->finished(); }

// ---- DataLoader -------------------------------------------------------------------------
DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  AG_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  AG_CHECK(options_.batch_size() > 0, "DataLoader: batch_size must be positive, got ", options_.batch_size());
  AG_CHECK(options_.prefetch() >= 0, "DataLoader: prefetch must be >= 0, got ", options_.prefetch());
  AG_CHECK(dataset_->size() >= 0, "DataLoader: the dataset reports a negative size ", dataset_->size());
}

DataLoader::~DataLoader() = default;
DataLoader::DataLoader(DataLoader&&) noexcept = default;
DataLoader& DataLoader::operator=(DataLoader&&) noexcept = default;

int64_t DataLoader::size() const {
  const int64_t n = dataset_->size(), b = options_.batch_size();
  return options_.drop_last() ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> DataLoader::order(int64_t e) const {
  const int64_t n = dataset_->size();
  if (options_.shuffle()) return detail::permutation(n, options_.seed(), static_cast<uint64_t>(e));
  std::vector<int64_t> o(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) o[static_cast<size_t>(i)] = i;
  return o;
}

DataLoader::Iterator DataLoader::begin() {
  auto epoch = std::make_shared<detail::Epoch>(dataset_, order(next_epoch_), options_);
  ++next_epoch_;
  epoch->advance();  // the first batch (may rethrow)
  return Iterator(std::move(epoch));
}

}  // namespace ag::data
