// fuzz_ops: the op layer. The input is a program: each op code picks an operation (factories,
// elementwise, reductions, shape ops, linear algebra, softmax, in-place ops, losses, hooks,
// backward and ag::grad) and its operands from a pool of live tensors, with sizes, dims,
// indices and scalars drawn from the bytes — small ones mostly, and now and then negative,
// huge or non-finite ones. Every op may fail with ag::Error and nothing else; a failing op
// must leave its operands as they were (values, version, shape, dtype, history). At the end
// a tensor of the pool goes through backward.
//
// Results larger than kMaxNumel elements are dropped from the pool (a view may be huge at no
// cost, materialising it would only measure the allocator), and factories are not asked for
// more than that either unless the request must fail (negative or overflowing sizes). So are
// empty results whose other sizes multiply past it: a reduction over their 0-size dimension
// would ask for gigabytes, correctly (found as an out-of-memory in a 600 s run).
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "fuzz_util.hpp"

namespace F = ag::nn::functional;
using ag::Tensor;

namespace {

constexpr int64_t kMaxNumel = 1 << 12;
constexpr size_t kPool = 8;
constexpr int kMaxOps = 40;
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();

class Program {
 public:
  Program(const uint8_t* data, size_t size) : in_(data, size) {}

  void run() {
    for (int i = 0; i < kMaxOps && in_.remaining_bytes() > 0; ++i) step();
    finish();
  }

 private:
  // ---- drawing values from the bytes ----------------------------------------------------
  int64_t small_int(int64_t lo, int64_t hi) { return in_.ConsumeIntegralInRange<int64_t>(lo, hi); }

  // A dimension index: mostly valid-ish, sometimes extreme.
  int64_t dim_arg() {
    if (in_.ConsumeIntegralInRange<int>(0, 15) == 0) return special_int();
    return small_int(-5, 4);
  }
  int64_t special_int() {
    static const int64_t v[] = {kI64Min, kI64Min + 1, -(int64_t{1} << 40), -1000, 1000, int64_t{1} << 31,
                                int64_t{1} << 40, kI64Max - 1, kI64Max};
    return v[in_.ConsumeIntegralInRange<size_t>(0, std::size(v) - 1)];
  }
  // An index or slice bound.
  int64_t index_arg() {
    if (in_.ConsumeIntegralInRange<int>(0, 7) == 0) return special_int();
    return small_int(-6, 6);
  }
  double scalar() {
    static const double v[] = {0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, -2.5, 1e-30, 1e30, 1e300,
                               std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                               std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::denorm_min(),
                               std::numeric_limits<double>::max()};
    if (in_.ConsumeBool()) return v[in_.ConsumeIntegralInRange<size_t>(0, std::size(v) - 1)];
    return in_.ConsumeFloatingPointInRange<double>(-8.0, 8.0);
  }
  // A shape for ops that take one (reshape, view, expand, sum_to): sizes may be -1 or worse.
  ag::Shape shape_arg() {
    const int n = in_.ConsumeIntegralInRange<int>(0, 4);
    ag::Shape s;
    for (int i = 0; i < n; ++i) {
      const int kind = in_.ConsumeIntegralInRange<int>(0, 15);
      if (kind == 0) s.push_back(special_int());
      else if (kind == 1) s.push_back(-1);
      else s.push_back(small_int(0, 5));
    }
    return s;
  }
  // A shape for factories: small, unless it must be refused (negative or overflowing).
  ag::Shape factory_shape() {
    ag::Shape s = shape_arg();
    bool negative = false, zero = false, overflow = false;
    int64_t n = 1;
    for (int64_t d : s) {
      negative |= d < 0;
      zero |= d == 0;
      if (d > 0 && __builtin_mul_overflow(n, d, &n)) overflow = true;
    }
    if (!negative && !zero && !overflow && n > kMaxNumel)
      for (auto& d : s) d = std::min<int64_t>(d, 3);
    return s;
  }
  ag::Dtype dtype_arg() {
    switch (in_.ConsumeIntegralInRange<int>(0, 7)) {
      case 0: return ag::kFloat64;
      case 1: return ag::kInt64;
      case 2: return ag::kBool;
      default: return ag::kFloat32;
    }
  }
  ag::nn::Reduction reduction_arg() {
    switch (in_.ConsumeIntegralInRange<int>(0, 2)) {
      case 0: return ag::nn::Reduction::Mean;
      case 1: return ag::nn::Reduction::Sum;
      default: return ag::nn::Reduction::None;
    }
  }

  // A new tensor with values from the bytes.
  Tensor leaf() {
    ag::Shape s;
    const int n = in_.ConsumeIntegralInRange<int>(0, 3);
    for (int i = 0; i < n; ++i) s.push_back(small_int(0, 4));
    const ag::Dtype dt = dtype_arg();
    const int64_t numel = ag::detail::shape_numel(s);
    Tensor t;
    if (dt == ag::kInt64) {
      std::vector<int64_t> v(static_cast<size_t>(numel));
      for (auto& x : v) x = in_.ConsumeIntegralInRange<int>(0, 15) == 0 ? special_int() : small_int(-1, 5);
      t = ag::tensor(v, s);
    } else if (dt == ag::kBool) {
      std::vector<bool> v(static_cast<size_t>(numel));
      for (size_t i = 0; i < v.size(); ++i) v[i] = in_.ConsumeBool();
      t = ag::tensor(v, s);
    } else {
      std::vector<double> v(static_cast<size_t>(numel));
      for (auto& x : v) x = scalar();
      t = ag::tensor(v, s, ag::TensorOptions(dt));
      if (in_.ConsumeBool()) t.requires_grad_();
    }
    return t;
  }

  // A tensor of the pool (or a new one when the pool is empty or the byte says so).
  Tensor pick() {
    if (pool_.empty() || in_.ConsumeIntegralInRange<int>(0, 7) == 0) {
      Tensor t = leaf();
      seen_.push_back(t);
      return t;
    }
    return pool_[in_.ConsumeIntegralInRange<size_t>(0, pool_.size() - 1)];
  }
  // The product of the sizes with zeros counted as ones: what reducing an empty tensor over
  // its 0-size dimension makes ([3, 2^31, 0] sums to 6 * 2^30 elements, as in PyTorch).
  static int64_t span(const ag::Shape& s) {
    int64_t n = 1;
    for (int64_t d : s)
      if (d > 1 && __builtin_mul_overflow(n, d, &n)) return std::numeric_limits<int64_t>::max();
    return n;
  }
  void keep(const Tensor& t) {
    if (!t.defined() || span(t.shape()) > kMaxNumel) return;
    seen_.push_back(t);
    if (pool_.size() < kPool) pool_.push_back(t);
    else pool_[next_++ % kPool] = t;
  }

  // Which of an op family's variants runs (0..last); the trace names it.
  int variant(int last) { return variant_ = in_.ConsumeIntegralInRange<int>(0, last); }

  // Runs `op` on `operands`: ag::Error is allowed, and then every operand must be as it was.
  template <class Op>
  void call(const char* name, std::initializer_list<Tensor> operands, Op&& op) {
    std::vector<ag_fuzz::Snapshot> snaps;
    for (const Tensor& t : operands) snaps.emplace_back(t);
    ag::AutoGradMode mode(grad_enabled_);
    const int variant = std::exchange(variant_, -1);
    if (trace_) {
      std::fprintf(stderr, "op %s #%d (grad mode %d):", name, variant, grad_enabled_ ? 1 : 0);
      for (const Tensor& t : operands)
        std::fprintf(stderr, " %s", t.defined() ? (ag::shape_str(t.shape()) + ag::dtype_name(t.dtype()) +
                                                   (t.requires_grad() ? "+grad" : "")).c_str() : "undef");
      std::fprintf(stderr, "\n");
    }
    try {
      op();
      if (trace_) std::fprintf(stderr, "   ok\n");
      return;
    } catch (const ag::Error& e) {
      if (trace_) std::fprintf(stderr, "   ag::Error: %s\n", e.what());
    } catch (const std::exception& e) {
      ag_fuzz::report_and_abort(std::string(name) + ": an exception other than ag::Error: " + e.what());
    }
    for (size_t i = 0; i < snaps.size(); ++i) {
      const std::string c = snaps[i].changed();
      AG_FUZZ_ASSERT(c.empty(), std::string(name) + " failed but changed operand " + std::to_string(i) + ": " + c);
    }
  }

  // ---- the ops -----------------------------------------------------------------------------
  void step() {
    const int code = in_.ConsumeIntegralInRange<int>(0, 16);
    if (trace_) std::fprintf(stderr, "step %d\n", code);
    switch (code) {
      case 0: keep(leaf()); break;
      case 1: factory(); break;
      case 2: unary(); break;
      case 3: binary(); break;
      case 4: with_scalar(); break;
      case 5: reduction(); break;
      case 6: shape_op(); break;
      case 7: cat_stack(); break;
      case 8: linalg(); break;
      case 9: softmaxes(); break;
      case 10: in_place(); break;
      case 11: losses(); break;
      case 12: backward(); break;
      case 13: hook(); break;
      case 14: misc(); break;
      case 15: grad_enabled_ = !grad_enabled_; break;
      case 16: keep(pick()); break;
    }
  }

  void factory() {
    const ag::TensorOptions o = ag::TensorOptions(dtype_arg()).requires_grad(in_.ConsumeIntegralInRange<int>(0, 3) == 0);
    Tensor r;
    switch (in_.ConsumeIntegralInRange<int>(0, 11)) {
      case 0: { const auto s = factory_shape(); call("zeros", {}, [&] { r = ag::zeros(s, o); }); break; }
      case 1: { const auto s = factory_shape(); call("ones", {}, [&] { r = ag::ones(s, o); }); break; }
      case 2: { const auto s = factory_shape(); const double v = scalar(); call("full", {}, [&] { r = ag::full(s, v, o); }); break; }
      case 3: { const auto s = factory_shape(); call("empty", {}, [&] { r = ag::empty(s, o); }); break; }
      case 4: {
        const int64_t n = index_arg(), m = index_arg();
        // Large but representable sizes would only measure the allocator (or ask it for
        // 2^62 bytes); sizes whose byte count overflows must be refused.
        int64_t nm = 0;
        const auto es = static_cast<int64_t>(ag::element_size(o.dtype()));
        if (n > 0 && m > 0 && !__builtin_mul_overflow(n, m, &nm) && nm <= kI64Max / es && nm > kMaxNumel) break;
        call("eye", {}, [&] { r = ag::eye(n, m, o); });
        break;
      }
      case 5: {
        const double a = scalar(), b = scalar(), st = scalar();
        const double count = (b - a) / st;
        if (std::isfinite(count) && count > kMaxNumel) break;
        call("arange", {}, [&] { r = ag::arange(a, b, st, o); });
        break;
      }
      case 6: {
        const double a = scalar(), b = scalar();
        const int64_t n = index_arg();
        if (n > kMaxNumel) break;
        call("linspace", {}, [&] { r = ag::linspace(a, b, n, o); });
        break;
      }
      case 7: { const auto s = factory_shape(); call("rand", {}, [&] { r = ag::rand(s, o); }); break; }
      case 8: { const auto s = factory_shape(); call("randn", {}, [&] { r = ag::randn(s, o); }); break; }
      case 9: {
        const auto s = factory_shape();
        const int64_t lo = index_arg(), hi = index_arg();
        call("randint", {}, [&] { r = ag::randint(lo, hi, s, ag::TensorOptions(dtype_arg())); });
        break;
      }
      case 10: {
        const int64_t n = index_arg();
        if (n > kMaxNumel) break;
        call("randperm", {}, [&] { r = ag::randperm(n); });
        break;
      }
      case 11: { const Tensor a = pick(); const double v = scalar(); call("full_like", {a}, [&] { r = ag::full_like(a, v, o); }); break; }
    }
    keep(r);
  }

  void unary() {
    const Tensor a = pick();
    Tensor r;
    const int k = variant(16);
    const double s = scalar();
    std::optional<double> lo, hi;
    if (in_.ConsumeBool()) lo = scalar();
    if (in_.ConsumeBool()) hi = scalar();
    call("unary", {a}, [&] {
      switch (k) {
        case 0: r = ag::exp(a); break;
        case 1: r = ag::log(a); break;
        case 2: r = ag::sqrt(a); break;
        case 3: r = ag::abs(a); break;
        case 4: r = ag::sin(a); break;
        case 5: r = ag::cos(a); break;
        case 6: r = ag::tanh(a); break;
        case 7: r = ag::sigmoid(a); break;
        case 8: r = ag::relu(a); break;
        case 9: r = -a; break;
        case 10: r = ag::sign(a); break;
        case 11: r = ag::clamp(a, lo, hi); break;
        case 12: r = ag::pow(a, s); break;
        case 13: r = ag::logical_not(a); break;
        case 14: r = F::dropout(a, s, s > 0.3); break;
        case 15: r = a.to(ag::kFloat64); break;
        case 16: r = a.to(ag::kInt64); break;
      }
    });
    keep(r);
  }

  void binary() {
    const Tensor a = pick(), b = pick();
    Tensor r;
    const int k = variant(20);
    const double alpha = scalar();
    call("binary", {a, b}, [&] {
      switch (k) {
        case 0: r = a + b; break;
        case 1: r = a - b; break;
        case 2: r = a * b; break;
        case 3: r = a / b; break;
        case 4: r = ag::pow(a, b); break;
        case 5: r = ag::maximum(a, b); break;
        case 6: r = ag::minimum(a, b); break;
        case 7: r = a == b; break;
        case 8: r = a != b; break;
        case 9: r = a < b; break;
        case 10: r = a <= b; break;
        case 11: r = a > b; break;
        case 12: r = a >= b; break;
        case 13: r = a & b; break;
        case 14: r = a | b; break;
        case 15: r = ag::add(a, b, alpha); break;
        case 16: r = ag::sigmoid_backward(a, b); break;
        case 17: r = ag::tanh_backward(a, b); break;
        case 18: r = ag::relu_backward(a, b); break;
        case 19: r = ag::allclose(a, b, std::abs(alpha), 1e-8) ? a : b; break;
        case 20: r = ag::equal(a, b) ? a : b; break;
      }
    });
    keep(r);
    if (k == 0 && in_.ConsumeBool()) {
      const Tensor c = pick();
      call("where", {c, a, b}, [&] { r = ag::where(c, a, b); });
      keep(r);
    }
  }

  void with_scalar() {
    const Tensor a = pick();
    const double s = scalar();
    Tensor r;
    const int k = variant(11);
    call("scalar", {a}, [&] {
      switch (k) {
        case 0: r = a + s; break;
        case 1: r = s - a; break;
        case 2: r = a * s; break;
        case 3: r = a / s; break;
        case 4: r = s / a; break;
        case 5: r = ag::pow(s, a); break;
        case 6: r = a == s; break;
        case 7: r = a < s; break;
        case 8: r = a >= s; break;
        case 9: r = a - s; break;
        case 10: r = s + a; break;
        case 11: r = s * a; break;
      }
    });
    keep(r);
  }

  void reduction() {
    const Tensor a = pick();
    const int64_t d = dim_arg();
    const bool keepdim = in_.ConsumeBool();
    ag::Shape dims;
    for (int i = in_.ConsumeIntegralInRange<int>(0, 3); i > 0; --i) dims.push_back(dim_arg());
    const ag::Shape to = shape_arg();
    Tensor r, r2;
    const int k = variant(16);
    call("reduction", {a}, [&] {
      switch (k) {
        case 0: r = a.sum(); break;
        case 1: r = a.sum(d, keepdim); break;
        case 2: r = a.sum(dims, keepdim); break;
        case 3: r = a.mean(); break;
        case 4: r = a.mean(d, keepdim); break;
        case 5: r = a.mean(dims, keepdim); break;
        case 6: r = a.max(); break;
        case 7: std::tie(r, r2) = a.max(d, keepdim); break;
        case 8: r = a.min(); break;
        case 9: std::tie(r, r2) = a.min(d, keepdim); break;
        case 10: r = a.argmax(); break;
        case 11: r = a.argmax(d, keepdim); break;
        case 12: r = a.norm(); break;
        case 13: r = a.all(); break;
        case 14: r = a.any(); break;
        case 15: r = ag::sum_to(a, to); break;
        case 16: r = ag::sum_to(a, a.dim() > 0 ? a.shape() : to); break;
      }
    });
    keep(r);
    keep(r2);
  }

  void shape_op() {
    const Tensor a = pick();
    const int64_t d0 = dim_arg(), d1 = dim_arg();
    const int64_t i0 = index_arg(), i1 = index_arg(), i2 = index_arg();
    const ag::Shape s = shape_arg();
    const Tensor idx = pick();
    Tensor r;
    const int k = variant(19);
    call("shape", {a, idx}, [&] {
      switch (k) {
        case 0: r = a.reshape(s); break;
        case 1: r = a.view(s); break;
        case 2: r = a.flatten(d0, d1); break;
        case 3: r = a.t(); break;
        case 4: r = a.transpose(d0, d1); break;
        case 5: r = a.permute(s); break;
        case 6: r = a.unsqueeze(d0); break;
        case 7: r = a.squeeze(); break;
        case 8: r = a.squeeze(d0); break;
        case 9: r = a.select(d0, i0); break;
        case 10: r = a.slice(d0, i0, i1, i2); break;
        case 11: r = a.index_select(d0, idx); break;
        case 12: r = a.expand(s); break;
        case 13: r = a.expand_as(idx); break;
        case 14: r = a.contiguous(); break;
        case 15: r = a.clone(); break;
        case 16: r = a.detach(); break;
        case 17: r = a[i0]; break;
        case 18: r = a.slice(d0, i0); break;
        case 19: r = ag::reshape(a, a.dim() > 0 ? ag::Shape{-1} : s); break;
      }
    });
    keep(r);
  }

  void cat_stack() {
    std::vector<Tensor> ts;
    for (int n = in_.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) ts.push_back(pick());
    const int64_t d = dim_arg();
    const bool stack = in_.ConsumeBool();
    Tensor r;
    std::vector<ag_fuzz::Snapshot> snaps;
    for (const Tensor& t : ts) snaps.emplace_back(t);
    ag::AutoGradMode mode(grad_enabled_);
    if (!ag_fuzz::allowed([&] { r = stack ? ag::stack(ts, d) : ag::cat(ts, d); }))
      for (const auto& s : snaps) AG_FUZZ_ASSERT(s.changed().empty(), "cat/stack failed but changed an operand");
    keep(r);
  }

  void linalg() {
    const Tensor a = pick(), b = pick(), c = pick();
    const double beta = scalar(), alpha = scalar();
    Tensor r;
    const int k = variant(5);
    call("linalg", {a, b, c}, [&] {
      switch (k) {
        case 0: r = ag::dot(a, b); break;
        case 1: r = ag::mm(a, b); break;
        case 2: r = ag::bmm(a, b); break;
        case 3: r = ag::matmul(a, b); break;
        case 4: r = ag::addmm(c, a, b, beta, alpha); break;
        case 5: r = F::linear(a, b, in_.ConsumeBool() ? c : Tensor()); break;
      }
    });
    keep(r);
  }

  void softmaxes() {
    const Tensor a = pick();
    const int64_t d = dim_arg();
    const bool log = in_.ConsumeBool();
    Tensor r;
    call("softmax", {a}, [&] { r = log ? ag::log_softmax(a, d) : ag::softmax(a, d); });
    keep(r);
  }

  void in_place() {
    Tensor a = pick();
    const Tensor b = pick();
    const double s = scalar();
    const int k = variant(16);
    call("in-place", {a, b}, [&] {
      switch (k) {
        case 0: a.add_(b, s); break;
        case 1: a.add_(s); break;
        case 2: a.sub_(b); break;
        case 3: a.sub_(s); break;
        case 4: a.mul_(b); break;
        case 5: a.mul_(s); break;
        case 6: a.div_(b); break;
        case 7: a.div_(s); break;
        case 8: a.zero_(); break;
        case 9: a.fill_(s); break;
        case 10: a.copy_(b); break;
        case 11: a += b; break;
        case 12: a *= s; break;
        case 13: a.requires_grad_(s > 0); break;
        case 14: a.retain_grad(); break;
        case 15: a.detach_(); break;
        case 16: a.set_grad(b); break;
      }
    });
  }

  void losses() {
    const Tensor x = pick(), y = pick();
    const ag::nn::Reduction red = reduction_arg();
    Tensor r;
    const int k = variant(4);
    call("loss", {x, y}, [&] {
      switch (k) {
        case 0: r = F::mse_loss(x, y, red); break;
        case 1: r = F::binary_cross_entropy(x, y, red); break;
        case 2: r = F::binary_cross_entropy_with_logits(x, y, red); break;
        case 3: r = F::nll_loss(x, y, red); break;
        case 4: r = F::cross_entropy(x, y, red); break;
      }
    });
    keep(r);
  }

  void backward() {
    const Tensor root = pick();
    const Tensor g = in_.ConsumeBool() ? pick() : Tensor();
    const bool retain = in_.ConsumeBool(), create = in_.ConsumeIntegralInRange<int>(0, 3) == 0;
    const int k = variant(3);
    const Tensor input = pick();
    std::vector<Tensor> grads;
    call("backward", {root, g, input}, [&] {
      switch (k) {
        case 0: root.backward(g, retain, create); break;
        case 1: root.sum().backward({}, retain, create); break;
        case 2: grads = ag::grad({root}, {input}, g.defined() ? ag::tensor_list{g} : ag::tensor_list{}, retain, create,
                                 in_.ConsumeBool());
          break;
        case 3: ag::backward({root, input}, {}, retain, create); break;
      }
    });
    for (const Tensor& t : grads) keep(t);
    if (root.defined() && root.is_leaf() && root.grad().defined()) {
      AG_FUZZ_ASSERT(root.grad().shape() == root.shape(), "a leaf's grad has shape " + ag::shape_str(root.grad().shape()) +
                                                              " but the leaf " + ag::shape_str(root.shape()));
      keep(root.grad());
    }
  }

  void hook() {
    const Tensor a = pick();
    // Detached, so that a hook never holds the graph that holds the hook (a cycle); and
    // handed out as a copy: ag::grad returns a hook's result as it is, and the program could
    // then give the very tensor the hook holds a history leading back to the hook's node,
    // a cycle the program made (as it would be in libtorch), not the library.
    const Tensor replacement = in_.ConsumeBool() ? pick().detach() : Tensor();
    const int k = variant(2);
    call("register_hook", {a}, [&] {
      if (k == 0) a.register_hook([replacement](const Tensor&) { return replacement.defined() ? replacement.clone() : replacement; });
      else if (k == 1) a.register_hook([](const Tensor& g) { return g * 2.0; });
      else a.register_hook([](const Tensor& g) { (void)g.sum(); });
    });
  }

  void misc() {
    const Tensor a = pick();
    const int k = variant(4);
    call("misc", {a}, [&] {
      switch (k) {
        case 0: { std::ostringstream os; os << a; break; }
        case 1: (void)a.item<float>(); break;
        case 2: (void)a.item<int64_t>(); break;
        case 3: if (a.grad().defined()) a.grad().zero_(); break;
        case 4: (void)a.size(dim_arg()); break;
      }
    });
  }

  // The end of a program: backward through something that requires grad, if anything does.
  // Then every gradient is dropped: a create_graph backward (or x.set_grad(x)) makes a
  // reference cycle grad -> graph -> leaf -> grad, by design as in PyTorch, which
  // LeakSanitizer would report; what leaks after this is the library's.
  void finish() {
    {
      ag::AutoGradMode mode(true);
      for (const Tensor& t : pool_) {
        if (!t.requires_grad() || !t.is_floating_point()) continue;
        ag_fuzz::allowed([&] { t.sum().backward(); });
        break;
      }
    }
    for (const Tensor& t : seen_) t.set_grad(Tensor());
  }

  FuzzedDataProvider in_;
  const bool trace_ = std::getenv("AG_FUZZ_TRACE") != nullptr;  // print each op (to replay a finding)
  std::vector<Tensor> pool_;
  std::vector<Tensor> seen_;  // every tensor the program touched, to drop their grads at the end
  size_t next_ = 0;
  int variant_ = -1;  // the variant of the op family now running, for the trace
  bool grad_enabled_ = true;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ag::set_num_threads(2);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ag::manual_seed(0);
  Program(data, size).run();
  return 0;
}
