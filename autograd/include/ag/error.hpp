// ag::Error — the one exception type for misuse of the library.
//
// Requires: nothing.  Ensures: every misuse (bad shapes, dtypes, freed graphs, corrupt
// files) surfaces as an ag::Error whose message names the operation and the shapes
// involved, e.g. "mul: shapes [3, 4] and [5] cannot broadcast".
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ag {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... R>
void append(std::ostringstream& os, const T& v, const R&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// Formats a shape as "[2, 3]".
class Shape;
std::string shape_str(const Shape& shape);

// Builds a message from pieces and throws ag::Error.
template <class... A>
[[noreturn]] void fail(const A&... parts) {
  std::ostringstream os;
  detail::append(os, parts...);
  throw Error(os.str());
}

}  // namespace ag

// AG_CHECK(cond, pieces...): throws ag::Error built from the pieces when cond is false.
#define AG_CHECK(cond, ...)        \
  do {                             \
    if (!(cond)) ::ag::fail(__VA_ARGS__); \
  } while (0)
