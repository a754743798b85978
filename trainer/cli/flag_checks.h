// Range checks for the CLI's number flags. CLI::Range alone lets NaN through (it compares false
// with both ends), so a flag that takes a floating-point value adds Finite. A failed check is a
// CLI::ValidationError: main prints "--flag: Value V not in range ..." and exits 2 (bad input).
#pragma once

#include <charconv>
#include <initializer_list>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "catdog/catdog.h"
#include "pack.h"

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

// --backend on every command that runs a model (predict, evaluate, bench, infer): one name list, the
// core's (ParseBackend), checked as the flag is read, so a bad name exits 2 naming it before any work.
inline CLI::Option* AddBackendOption(CLI::App* cmd, std::string* backend, const std::string& help) {
  return cmd->add_option("--backend", *backend, help + ": auto | reference | simd | xnnpack")
      ->check(CLI::Validator(
          [](std::string& input) -> std::string {
            Backend b;
            if (ParseBackend(input, &b)) return {};
            return "'" + input + "' is not a backend: auto, reference, simd or xnnpack";
          },
          "BACKEND"))
      ->capture_default_str();
}

// --split (train: --val-split) on every command that reads one split of a pack: the pack's split names (pack::ParseSplit),
// limited to those the command takes (ALLOWED), checked as the flag is read.
inline CLI::Option* AddSplitOption(CLI::App* cmd, std::string* split, const std::string& help,
                                   std::initializer_list<const char*> allowed, const std::string& flag = "--split") {
  std::vector<std::string> names(allowed.begin(), allowed.end());
  std::string list;
  for (size_t i = 0; i < names.size(); ++i) list += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return cmd->add_option(flag, *split, help)
      ->check(CLI::Validator(
          [names, list](std::string& input) -> std::string {
            pack::Split sp;
            bool listed = false;
            for (const std::string& n : names) listed = listed || n == input;
            if (listed && pack::ParseSplit(input, &sp)) return {};
            return "'" + input + "' is not a split this command reads: " + list;
          },
          "SPLIT"))
      ->capture_default_str();
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
