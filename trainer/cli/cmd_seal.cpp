// `catdog seal --model DIR [--force]`: adds the self-check block (golden images -> outputs,
// preprocessing contract, shard SHA-256) to a model exported before export wrote it. The outputs
// come from the core itself (no training checkpoint is needed), marked "source": "catdog-core";
// `catdog export` writes the block with libtorch's outputs instead.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "commands.h"
#include "seal.h"

namespace catdog::cli {

void RegisterSeal(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "seal", "Add the self-check block (golden outputs computed by the core, shard SHA-256) to an exported model");
  cmd->add_option("--model", *model, "Folder holding model.json (or the model.json path); rewritten atomically")->required();
  cmd->add_flag("--force", *force, "Replace an existing selfcheck block");
  cmd->callback([model, force] {
    std::string summary;
    bool bad = true;
    Status s = SealModelDir(*model, *force, &summary, &bad);
    if (!s) {
      spdlog::error("seal: {}", s.message());
      ExitCode() = bad ? kExitBadInput : kExitFailure;  // a full disk is a failure, as in ood-fit/calibrate/quantize
      return;
    }
    spdlog::info("sealed {}: {}", *model, summary);
    ExitCode() = kExitOk;
  });
}

}  // namespace catdog::cli
