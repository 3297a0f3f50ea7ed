// Forward-mode automatic differentiation (torch.autograd.forward_ad).
//
//   {
//     ag::forward_ad::DualLevel level;
//     Tensor x = ag::forward_ad::make_dual(x0, t);   // x0's values, tangent t
//     Tensor y = f(x);                               // every op carries J·t along
//     Tensor jt = ag::forward_ad::unpack_dual(y).tangent;
//   }                                                // tangents are dropped here
//
// What it represents: inside a DualLevel a tensor may carry a tangent (same shape and
// dtype). Every differentiable op whose inputs carry tangents gives its output the tangent
// J·t in the same forward pass; no graph is kept for it. Reverse mode is unaffected: an op
// still records its node when an input requires grad (and grad mode is on). Tangents are
// computed with grad mode off, so they carry no history.
//
// Note [Forward AD design]: the hook is in ops/record.hpp. needs_grad() is also true when
// a level is active and an input carries a tangent; record_node() then computes the
// output's tangent, by the op's explicit JVP rule where it has one, else by the generic
// rule: the op's backward formula is linear in its incoming gradient g, so with a dummy
// u = zeros(out) that requires grad, J·t = d/du Σᵢ <backwardᵢ(u), tᵢ> (one small graph,
// discarded). It records the reverse node only if an input requires grad.
//
// One level at a time (nesting throws ag::Error), as is the common PyTorch use. The level
// is process-wide (as PyTorch's); ops on other threads propagate tangents too.
// Custom ag::Function outputs get their tangents by the same generic rule applied to the
// Function's backward (engine/function.cpp); a backward computed outside autograd (raw
// loops, once_differentiable) makes forward mode through it an ag::Error naming it.
// Not covered: an in-place op on a view propagates into the view only (not into its base).
#pragma once

#include <atomic>
#include <cstdint>

#include "ag/tensor.hpp"

namespace ag::forward_ad {

// RAII: enters a dual level on construction, exits it (dropping every tangent made in it)
// on destruction. Throws ag::Error when a level is already active.
class DualLevel {
 public:
  DualLevel();
  ~DualLevel();
  DualLevel(const DualLevel&) = delete;
  DualLevel& operator=(const DualLevel&) = delete;
  // The level's index (0: the only one supported).
  int64_t level() const { return 0; }
};

// requires: a DualLevel is active; primal and tangent defined, of one shape and dtype;
//           primal floating. Else ag::Error naming make_dual and the shapes/dtypes.
// ensures: a tensor viewing primal's data (gradients flow back to primal in reverse mode)
//          that carries `tangent` (detached) at the current level. primal is unchanged.
Tensor make_dual(const Tensor& primal, const Tensor& tangent);

struct UnpackedDual {
  Tensor primal;   // a view of t's data without tangent (keeps t's reverse history)
  Tensor tangent;  // t's tangent; undefined when it has none (or no level is active)
};
// requires: t defined.
UnpackedDual unpack_dual(const Tensor& t);

}  // namespace ag::forward_ad

namespace ag::detail {

extern std::atomic<int> g_fw_levels;  // active dual levels (0 or 1)
extern thread_local bool t_fw_suspended;

// True when tangents must be propagated on this thread.
inline bool fw_active() { return g_fw_levels.load(std::memory_order_relaxed) != 0 && !t_fw_suspended; }
inline bool has_tangent(const Tensor& t) { return t.defined() && t.unsafeGetTensorImpl()->fw_grad != nullptr; }
// The tangent of t (undefined when none).
Tensor fw_tangent(const Tensor& t);
// Gives t the tangent (registered, so that the level's exit drops it). Undefined: none.
void set_fw_tangent(const Tensor& t, const Tensor& tangent);

// While alive, ops on this thread do not propagate tangents (the tangent computation).
class FwSuspend {
 public:
  FwSuspend() : prev_(t_fw_suspended) { t_fw_suspended = true; }
  ~FwSuspend() { t_fw_suspended = prev_; }
  FwSuspend(const FwSuspend&) = delete;
  FwSuspend& operator=(const FwSuspend&) = delete;

 private:
  bool prev_;
};

}  // namespace ag::detail
