// Command-line checks shared by the programs in apps/, with plain messages (CLI11's own
// PositiveNumber prints DBL_MAX in its error).
#pragma once

#include <CLI/CLI.hpp>

#include <exception>
#include <string>

namespace ag_apps {

// Accepts a number > 0 (or >= 0 with allow_zero); names what it expected otherwise.
inline CLI::Validator number_check(bool allow_zero) {
  return CLI::Validator(
      [allow_zero](std::string& s) -> std::string {
        const std::string want = allow_zero ? "a number >= 0" : "a positive number";
        try {
          size_t used = 0;
          const double v = std::stod(s, &used);
          if (used == s.size() && (allow_zero ? v >= 0 : v > 0)) return {};
        } catch (const std::exception&) {
        }
        return "expected " + want + ", got '" + s + "'";
      },
      allow_zero ? "NUMBER>=0" : "NUMBER>0");
}

}  // namespace ag_apps
