// Synthetic 2-D classification sets for quick experiments and demos.
//
// Each returns a TensorDataset with inputs float32 [n, 2] and targets int64 [n] (class
// labels; for a binary loss use `targets().to(ag::kFloat32)`). `noise` is the standard
// deviation of the Gaussian noise described per set. The same (n, noise, seed) gives the
// same set on every run and platform: the generator is the library's own and does not
// touch ag::manual_seed. n must be >= 1 (else ag::Error).
#pragma once

#include <cstdint>

#include "ag/data/dataset.hpp"

namespace ag::data {

// XOR: example i sits at corner (a, b) = ((i / 2) % 2, i % 2) of the unit square, label
// a xor b, plus noise * N(0, 1) on each coordinate; so make_xor(4, 0) is the XOR truth
// table in the order 00, 01, 10, 11 (not shuffled: the four corners cycle).
TensorDataset make_xor(int64_t n, double noise = 0.0, uint64_t seed = 0);

// Two interleaving half circles (scikit-learn's make_moons): floor(n/2) points of class 0
// on the upper moon, the rest class 1 on the lower one, plus noise * N(0, 1) on each
// coordinate; shuffled with the seed.
TensorDataset make_moons(int64_t n, double noise = 0.1, uint64_t seed = 0);

// `classes` spiral arms (the CS231n spiral set): n split as evenly as possible between
// classes (>= 2, else ag::Error); arm k has radius r in [0, 1] and angle 4k .. 4(k+1)
// radians plus noise * N(0, 1) on the angle (as in CS231n; the coordinates get no extra
// noise); shuffled with the seed.
TensorDataset make_spirals(int64_t n, int64_t classes = 3, double noise = 0.2, uint64_t seed = 0);

}  // namespace ag::data
