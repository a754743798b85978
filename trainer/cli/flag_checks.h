// Range checks for the CLI's number flags. CLI::Range alone lets NaN through (it compares false
// with both ends), so a flag that takes a floating-point value adds Finite. A failed check is a
// CLI::ValidationError: main prints "--flag: Value V not in range ..." and exits 2 (bad input).
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "catdog/catdog.h"

namespace catdog::cli {

// --layer-alias NAME=CLASS, repeatable, on the commands that run a model: a custom Keras class
// (a subclass with its base's config) loaded as a class the core runs (LoadOptions::layer_aliases).
// Checked as the flags are read: a bad alias exits 2 naming it, before any work.
inline CLI::Option* AddLayerAliasOption(CLI::App* cmd, std::vector<std::string>* aliases) {
  return cmd
      ->add_option("--layer-alias", *aliases,
                   "Load the custom Keras class NAME as CLASS, a layer catdog runs whose config it has "
                   "(e.g. Keras2toKeras3DepthwiseConv2D=DepthwiseConv2D); repeatable")
      ->type_name("NAME=CLASS")
      ->check(CLI::Validator(
          [](std::string& input) -> std::string {
            LoadOptions scratch;
            Status s = ParseLayerAlias(input, &scratch);
            if (s) return {};
            // CLI11 puts "--layer-alias: " in front of the message itself.
            const std::string prefix = "--layer-alias: ";
            const std::string& m = s.message();
            return m.compare(0, prefix.size(), prefix) == 0 ? m.substr(prefix.size()) : m;
          },
          ""));
}

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
