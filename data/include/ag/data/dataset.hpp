// ag::data::Example, ag::data::Dataset and ag::data::TensorDataset.
//
// What they represent:
//   Example      one training example, or a batch of them: an input and a target.
//   Dataset      an indexable collection of examples (abstract). A subclass says how many
//                examples there are and how to get one; it may also say how to get many
//                at once (get_batch), which the DataLoader prefers.
//   TensorDataset examples that are the rows of two tensors: inputs[i] and targets[i].
#pragma once

#include <cstdint>
#include <vector>

#include "ag/tensor.hpp"

namespace ag::data {

// One example, or a batch (inputs stacked along a new first dimension). Aggregate, so
// `auto [x, y] = example;` works. libtorch calls the input `data`: `data()` is its alias.
struct Example {
  Tensor input;
  Tensor target;

  const Tensor& data() const { return input; }
};

// An indexable collection of examples.
//
// Requires of a subclass: size() is fixed for the life of the object; get(i) for
// 0 <= i < size() returns the i-th example and may be called from the DataLoader's
// background thread (so it must not touch unsynchronised mutable state: it is const).
// Ensures (for the library's own datasets): get(i) outside [0, size()) throws ag::Error.
class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual int64_t size() const = 0;
  virtual Example get(int64_t index) const = 0;

  // The examples at `indices`, stacked: input [B, ...] and target [B, ...] (a target of
  // shape [] per example becomes [B]). The default calls get() per index and stacks;
  // datasets that can gather rows directly override it.
  virtual Example get_batch(const std::vector<int64_t>& indices) const;

 protected:
  // Throws ag::Error naming `what` when index is outside [0, size()).
  void check_index(int64_t index, const char* what) const;
};

// Examples that are rows of tensors: get(i) is {inputs[i], targets[i]} (views, no copy).
//
// Requires: inputs and targets are defined, have at least one dimension, and the same
// size in dimension 0 (else ag::Error). targets may be undefined for unlabelled data
// (then every example's target is undefined).
// Ensures: get_batch gathers rows with index_select (one copy per batch, no stacking).
class TensorDataset : public Dataset {
 public:
  TensorDataset() = default;
  TensorDataset(Tensor inputs, Tensor targets);

  int64_t size() const override { return size_; }
  Example get(int64_t index) const override;
  Example get_batch(const std::vector<int64_t>& indices) const override;

  // The whole tensors (libtorch keeps them in one `tensors` member).
  const Tensor& inputs() const { return inputs_; }
  const Tensor& targets() const { return targets_; }

  // The first `n` examples (all when n >= size()), sharing storage with this one.
  TensorDataset head(int64_t n) const;

 private:
  Tensor inputs_;
  Tensor targets_;
  int64_t size_ = 0;
};

}  // namespace ag::data
