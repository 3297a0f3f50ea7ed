// ag::nn::BatchNorm1d, written with differentiable ag ops (batch statistics included, so
// the gradient flows through mean and variance as in PyTorch).
#include "ag/nn/batchnorm.hpp"

#include <ostream>

#include "ag/nn/init.hpp"

namespace ag::nn {

BatchNorm1dImpl::BatchNorm1dImpl(int64_t num_features, double eps, double momentum)
    : BatchNorm1dImpl(BatchNorm1dOptions(num_features).eps(eps).momentum(momentum)) {}

BatchNorm1dImpl::BatchNorm1dImpl(const BatchNorm1dOptions& opts) : options(opts) {
  const int64_t c = options.num_features();
  AG_CHECK(c > 0, "BatchNorm1d: num_features must be positive, got ", c);
  AG_CHECK(options.eps() > 0.0, "BatchNorm1d: eps must be positive, got ", options.eps());
  AG_CHECK(!options.momentum() || (*options.momentum() >= 0.0 && *options.momentum() <= 1.0),
           "BatchNorm1d: momentum must be in [0, 1], got ", options.momentum().value_or(0.0));
  if (options.affine()) {
    weight = register_parameter("weight", ones({c}));
    bias = register_parameter("bias", zeros({c}));
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", zeros({c}));
    running_var = register_buffer("running_var", ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, TensorOptions(kInt64)));
  }
}

void BatchNorm1dImpl::reset_running_stats() {
  if (!options.track_running_stats()) return;
  init::zeros_(running_mean);
  init::ones_(running_var);
  init::zeros_(num_batches_tracked);
}

void BatchNorm1dImpl::reset_parameters() {
  reset_running_stats();
  if (!options.affine()) return;
  init::ones_(weight);
  init::zeros_(bias);
}

Tensor BatchNorm1dImpl::forward(const Tensor& x) {
  const int64_t c = options.num_features();
  AG_CHECK(x.defined() && (x.dim() == 2 || x.dim() == 3), "BatchNorm1d: expected 2D or 3D input, got ",
           x.defined() ? shape_str(x.shape()) : std::string("undefined"));
  AG_CHECK(x.size(1) == c, "BatchNorm1d: input of shape ", shape_str(x.shape()), " has ", x.size(1),
           " channels but the layer has num_features=", c);
  const Tensor& reference = options.affine() ? weight : running_mean;
  AG_CHECK(!reference.defined() || x.dtype() == reference.dtype(), "BatchNorm1d: input of dtype ",
           dtype_name(x.dtype()), " and shape ", shape_str(x.shape()), " but the layer holds ",
           dtype_name(reference.dtype()), " (did you forget module->to(dtype)?)");
  const Shape dims = x.dim() == 2 ? Shape{0} : Shape{0, 2};
  // Per-channel tensors broadcast against x as [C] (2-D) or [C, 1] (3-D).
  auto channel = [&](const Tensor& t) { return x.dim() == 2 ? t : t.unsqueeze(1); };
  const bool use_batch = is_training() || !options.track_running_stats();

  Tensor y;
  if (use_batch) {
    const int64_t n = x.numel() / c;
    AG_CHECK(n > 1, "BatchNorm1d: expected more than 1 value per channel when training, got input of shape ",
             shape_str(x.shape()));
    const Tensor mean = x.mean(dims, /*keepdim=*/true);
    const Tensor centered = x - mean;
    const Tensor var = (centered * centered).mean(dims, /*keepdim=*/true);  // biased
    y = centered / sqrt(var + options.eps());
    if (is_training() && options.track_running_stats()) {
      NoGradGuard guard;
      num_batches_tracked.add_(1.0);
      const double factor = options.momentum()
                                ? *options.momentum()
                                : 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
      const Tensor batch_mean = mean.detach().reshape({c});
      const Tensor unbiased = var.detach().reshape({c}) * (static_cast<double>(n) / static_cast<double>(n - 1));
      running_mean.mul_(1.0 - factor).add_(batch_mean.to(running_mean.dtype()), factor);
      running_var.mul_(1.0 - factor).add_(unbiased.to(running_var.dtype()), factor);
    }
  } else {
    y = (x - channel(running_mean)) / sqrt(channel(running_var) + options.eps());
  }
  if (options.affine()) y = y * channel(weight) + channel(bias);
  return y;
}

void BatchNorm1dImpl::pretty_print(std::ostream& os) const {
  os << "BatchNorm1d(" << options.num_features() << ", eps=" << options.eps() << ", momentum=";
  if (options.momentum()) os << *options.momentum();
  else os << "None";
  os << ", affine=" << (options.affine() ? "true" : "false")
     << ", track_running_stats=" << (options.track_running_stats() ? "true" : "false") << ")";
}

}  // namespace ag::nn
