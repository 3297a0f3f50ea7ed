// Forward-mode AD (ag/forward_ad.hpp): the dual level, the tangent registry, make_dual and
// unpack_dual. The propagation through ops is in ops/record.hpp (Note [Forward AD design]).
#include "ag/forward_ad.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

#include "ag/autograd.hpp"
#include "ag/error.hpp"
#include "ag/ops.hpp"

namespace ag::detail {

std::atomic<int> g_fw_levels{0};
thread_local bool t_fw_suspended = false;

namespace {

// Every tensor given a tangent in the current level, so that exiting the level drops the
// tangents (and their memory) at once. Expired entries are swept when the list doubles.
struct Registry {
  std::mutex mu;
  std::vector<std::weak_ptr<TensorImpl>> entries;
  size_t sweep_at = 1024;
};
Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

Tensor fw_tangent(const Tensor& t) {
  if (!t.defined() || g_fw_levels.load(std::memory_order_relaxed) == 0) return Tensor();
  const auto& g = t.unsafeGetTensorImpl()->fw_grad;
  return g ? Tensor(g) : Tensor();
}

void set_fw_tangent(const Tensor& t, const Tensor& tangent) {
  TensorImpl* impl = t.unsafeGetTensorImpl();
  if (!tangent.defined()) {
    impl->fw_grad.reset();
    return;
  }
  const bool had = impl->fw_grad != nullptr;
  impl->fw_grad = tangent.impl_ptr();
  if (had) return;  // registered already
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.entries.push_back(t.impl_ptr());
  if (r.entries.size() >= r.sweep_at) {
    std::erase_if(r.entries, [](const std::weak_ptr<TensorImpl>& w) { return w.expired(); });
    r.sweep_at = std::max<size_t>(1024, 2 * r.entries.size());
  }
}

}  // namespace ag::detail

namespace ag::forward_ad {

DualLevel::DualLevel() {
  int expected = 0;
  AG_CHECK(detail::g_fw_levels.compare_exchange_strong(expected, 1), "DualLevel: a dual level is already active; "
           "nested forward-AD levels are not supported (exit the enclosing DualLevel first)");
}

DualLevel::~DualLevel() {
  detail::Registry& r = detail::registry();
  std::vector<std::weak_ptr<detail::TensorImpl>> entries;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    entries.swap(r.entries);
    r.sweep_at = 1024;
  }
  for (const auto& w : entries)
    if (auto impl = w.lock()) impl->fw_grad.reset();
  detail::g_fw_levels.store(0);
}

Tensor make_dual(const Tensor& primal, const Tensor& tangent) {
  AG_CHECK(detail::g_fw_levels.load() != 0, "make_dual: no dual level is active; create an "
           "ag::forward_ad::DualLevel first (tangents only live inside one)");
  AG_CHECK(primal.defined(), "make_dual: the primal is undefined");
  AG_CHECK(tangent.defined(), "make_dual: the tangent is undefined (primal has shape ", shape_str(primal.shape()),
           ")");
  AG_CHECK(primal.is_floating_point(), "make_dual: the primal has dtype ", dtype_name(primal.dtype()),
           " and shape ", shape_str(primal.shape()), "; only floating tensors can carry a tangent");
  AG_CHECK(tangent.shape() == primal.shape(), "make_dual: the tangent has shape ", shape_str(tangent.shape()),
           " but the primal has shape ", shape_str(primal.shape()), "; they must match");
  AG_CHECK(tangent.dtype() == primal.dtype(), "make_dual: the tangent has dtype ", dtype_name(tangent.dtype()),
           " but the primal has dtype ", dtype_name(primal.dtype()), " (shape ", shape_str(primal.shape()),
           "); they must match");
  Tensor view;
  {
    detail::FwSuspend s;  // the alias itself: its tangent is the one given, not primal's
    view = primal.expand(primal.shape());
  }
  Tensor t = tangent.detach();
  detail::set_fw_tangent(view, t);
  return view;
}

UnpackedDual unpack_dual(const Tensor& t) {
  AG_CHECK(t.defined(), "unpack_dual: the tensor is undefined");
  Tensor tangent = detail::fw_tangent(t);
  if (!tangent.defined()) return {t, Tensor()};
  Tensor primal;
  {
    detail::FwSuspend s;
    primal = t.expand(t.shape());
  }
  return {primal, tangent};
}

}  // namespace ag::forward_ad
