// Dataset's default batching and TensorDataset (rows of two tensors).
#include "ag/data/dataset.hpp"

#include "ag/ops.hpp"

namespace ag::data {

void Dataset::check_index(int64_t index, const char* what) const {
  const int64_t n = size();
  AG_CHECK(index >= 0 && index < n, what, ": index ", index, " is out of range for a dataset of size ", n);
}

Example Dataset::get_batch(const std::vector<int64_t>& indices) const {
  AG_CHECK(!indices.empty(), "Dataset::get_batch: expected at least one index");
  tensor_list inputs, targets;
  inputs.reserve(indices.size());
  targets.reserve(indices.size());
  for (int64_t i : indices) {
    Example e = get(i);
    AG_CHECK(e.input.defined(), "Dataset::get_batch: example ", i, " has an undefined input");
    inputs.push_back(std::move(e.input));
    if (e.target.defined()) targets.push_back(std::move(e.target));
  }
  AG_CHECK(targets.empty() || targets.size() == inputs.size(),
           "Dataset::get_batch: some examples have a target and some do not");
  Example batch;
  batch.input = stack(inputs, 0);
  if (!targets.empty()) batch.target = stack(targets, 0);
  return batch;
}

TensorDataset::TensorDataset(Tensor inputs, Tensor targets) : inputs_(std::move(inputs)), targets_(std::move(targets)) {
  AG_CHECK(inputs_.defined(), "TensorDataset: the inputs tensor is undefined");
  AG_CHECK(inputs_.dim() >= 1, "TensorDataset: the inputs must have at least one dimension (got shape ",
           shape_str(inputs_.shape()), ")");
  size_ = inputs_.size(0);
  if (targets_.defined()) {
    AG_CHECK(targets_.dim() >= 1, "TensorDataset: the targets must have at least one dimension (got shape ",
             shape_str(targets_.shape()), ")");
    AG_CHECK(targets_.size(0) == size_, "TensorDataset: inputs ", shape_str(inputs_.shape()), " and targets ",
             shape_str(targets_.shape()), " differ in their first dimension (", size_, " vs ", targets_.size(0), ")");
  }
}

Example TensorDataset::get(int64_t index) const {
  check_index(index, "TensorDataset::get");
  Example e;
  e.input = inputs_.select(0, index);
  if (targets_.defined()) e.target = targets_.select(0, index);
  return e;
}

Example TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  AG_CHECK(!indices.empty(), "TensorDataset::get_batch: expected at least one index");
  for (int64_t i : indices) check_index(i, "TensorDataset::get_batch");
  // One gather per tensor instead of N selects and a stack. A run of consecutive indices
  // (an unshuffled loader) is a slice: one contiguous copy. Batches never share storage with
  // the dataset, so a training loop may modify them in place.
  bool consecutive = true;
  for (size_t k = 1; k < indices.size() && consecutive; ++k) consecutive = indices[k] == indices[k - 1] + 1;
  auto gather = [&](const Tensor& t) {
    if (consecutive)
      return t.slice(0, indices.front(), indices.front() + static_cast<int64_t>(indices.size())).clone();
    return t.index_select(0, tensor(indices, Shape{static_cast<int64_t>(indices.size())}, TensorOptions(kInt64)));
  };
  Example batch;
  batch.input = gather(inputs_);
  if (targets_.defined()) batch.target = gather(targets_);
  return batch;
}

TensorDataset TensorDataset::head(int64_t n) const {
  AG_CHECK(n >= 0, "TensorDataset::head: n must be >= 0, got ", n);
  if (n >= size_) return *this;
  return TensorDataset(inputs_.slice(0, 0, n), targets_.defined() ? targets_.slice(0, 0, n) : Tensor());
}

}  // namespace ag::data
