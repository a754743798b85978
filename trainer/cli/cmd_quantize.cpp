// `catdog quantize MODEL --dtype uint8|uint16|float16 --out DIR [--index models/index.json]
//  [--title TEXT] [--metrics EVAL.json] [--force]`: quantize.h does the work; this parses flags and reports.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "commands.h"
#include "quantize.h"

namespace catdog::cli {

void RegisterQuantize(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "quantize", "Quantize a float32 model folder (uint8/uint16/float16), re-seal it, and list it in index.json");
  cmd->add_option("model", *model, "Model folder holding model.json (or the model.json path)")->required();
  cmd->add_option("--dtype", o->dtype, "Weight encoding: uint8, uint16 or float16 (as tfjs_converter --quantize_*)")
      ->required()
      ->check(CLI::IsMember({"uint8", "uint16", "float16"}));
  cmd->add_option("--out", o->out,
                  "The quantized model's folder (written atomically; its name is the index id). Never the source or a "
                  "folder holding it; an existing folder catdog did not write needs --force")
      ->required();
  cmd->add_flag("--force", o->force,
                "Write into an existing --out that catdog did not write: replaces only the model's files, keeps the rest");
  cmd->add_option("--index", o->index, "The page's models/index.json: add or replace this model's entry (atomic write)");
  cmd->add_option("--title", o->title, "The index entry's title (default: the source entry's, with the dtype)");
  cmd->add_option("--metrics", o->metrics, "`catdog evaluate --json` output of the quantized model, for the index entry");
  cmd->add_flag("--allow-chance", o->allow_chance,
                "Quantize even when the model's run card says it does not beat chance on its validation split");
  cmd->callback([model, o] {
    QuantizeResult r;
    bool bad = false;
    Status s = QuantizeModelDir(*model, *o, &r, &bad);
    if (!s) {
      spdlog::error("quantize: {}", s.message());
      ExitCode() = bad ? kExitBadInput : kExitFailure;
      return;
    }
    if (!r.warning.empty()) spdlog::warn("{}", r.warning);
    spdlog::info("{}: {} weights as {}, {} bytes of shards, {} bytes in all; {}; float vs {} outputs differ by at most {:.3g}",
                 o->out, r.weights, o->dtype, r.weight_bytes, r.size_bytes, r.selfcheck, o->dtype, r.max_abs_diff);
    if (!o->index.empty()) spdlog::info("{}: entry '{}' written", o->index, r.id);
    ExitCode() = kExitOk;
  });
}

}  // namespace catdog::cli
