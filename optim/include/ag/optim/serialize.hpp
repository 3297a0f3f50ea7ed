// Saving and loading an optimizer's state (and optionally a scheduler's) to a file.
//
// What it does: writes Optimizer::state_dict() as a safetensors file — an 8-byte
// little-endian header length, a JSON header naming each tensor's dtype, shape and byte
// range, with the metadata under "__metadata__", then the raw data — so the file opens
// with the `safetensors` Python package too. A scheduler's state_dict() goes into the same
// metadata under the prefix "scheduler.".
#pragma once

#include <string>

#include "ag/optim/optimizer.hpp"
#include "ag/optim/schedulers.hpp"

namespace ag::optim {

// Ensures: `path` holds the state, written to a temporary file in the same directory,
// fsync'ed and renamed over `path` (a crash leaves the old file or the new, never half).
// Throws ag::Error naming the path when it cannot be written.
void save(const Optimizer& optimizer, const std::string& path);
void save(const Optimizer& optimizer, const LRScheduler& scheduler, const std::string& path);

// Requires: `path` is a file save() wrote for an optimizer of the same kind and parameter
// layout (and, in the second form, with a scheduler's state of the same kind).
// Ensures: the optimizer (and scheduler) resume exactly; on any error — unreadable,
// truncated or corrupt file, mismatched state — throws ag::Error and changes nothing.
void load(Optimizer& optimizer, const std::string& path);
void load(Optimizer& optimizer, LRScheduler& scheduler, const std::string& path);

}  // namespace ag::optim
