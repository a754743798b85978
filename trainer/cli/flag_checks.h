// Range checks for the CLI's number flags. CLI::Range alone lets NaN through (it compares false
// with both ends), so a flag that takes a floating-point value adds Finite. A failed check is a
// CLI::ValidationError: main prints "--flag: Value V not in range ..." and exits 2 (bad input).
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

namespace catdog::cli {

inline const CLI::Validator Finite(
    [](std::string& input) -> std::string {
      double v = 0;
      if (!CLI::detail::lexical_cast(input, v) || !std::isfinite(v)) return "Value " + input + " is not a finite number";
      return {};
    },
    "FINITE");

// Seeds (uint64_t): CLI11 reads "-1" as 2^64-1 and wraps values past 2^64 without a word; this
// takes only the digits of a value that fits.
inline const CLI::Validator Uint64Text(
    [](std::string& input) -> std::string {
      uint64_t v = 0;
      const char* end = input.data() + input.size();
      auto [p, ec] = std::from_chars(input.data(), end, v);
      if (input.empty() || ec != std::errc() || p != end)
        return "Value " + input + " is not an integer in [0 - 18446744073709551615]";
      return {};
    },
    "UINT64");

}  // namespace catdog::cli
