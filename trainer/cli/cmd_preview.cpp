// `catdog preview --pack PACK --out grid.png [--split train] [--augment] [--seed N]` (data/preview.h).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "flag_checks.h"
#include "fsutil.h"
#include "preview.h"

namespace catdog::cli {

void RegisterPreview(CLI::App& app) {
  struct Args {
    std::string pack, out, split = "train";
    bool force = false;
    preview::GridOptions grid;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("preview", "The tutorial's 5x5 grid of pack samples with their labels");
  cmd->add_option("--pack", args->pack, "Pack directory (or its pack.json)")->required();
  cmd->add_option("--out", args->out,
                  "Image to write (.png, .jpg); never inside a pack or model folder, an existing file only with --force")
      ->required();
  cmd->add_flag("--force", args->force, "Let --out replace an existing file");
  AddSplitOption(cmd, &args->split, "train, val or test", {"train", "val", "test"});
  cmd->add_option("--seed", args->grid.seed, "Which samples (and augmentations)")->check(Uint64Text)->capture_default_str();
  cmd->add_option("--scale", args->grid.scale, "Pixel scale of each sample")->check(CLI::Range(1, 16))->capture_default_str();
  cmd->add_flag("--augment", args->grid.augment, "Show augmented versions (needs the torch build)");
  cmd->callback([args] {
    pack::ParseSplit(args->split, &args->grid.split);  // CLI11 checked the name
    if (args->grid.augment && !preview::HasAugmenter()) {
      spdlog::error("preview: --augment needs the torch build (this catdog was built without libtorch)");
      ExitCode() = kExitBadInput;
      return;
    }
    // A single-file output (DESIGN contract 4), checked before the pack is read.
    Status s = fs::CheckOutputFile(args->out, "--out", args->force, {args->pack});
    if (!s) {
      spdlog::error("preview: {}", s.message());
      ExitCode() = kExitBadInput;
      return;
    }
    pack::Pack p;
    s = pack::ReadPack(args->pack, &p);
    if (s) {
      std::vector<uint8_t> bytes;
      s = preview::RenderGrid(p, args->grid, std::filesystem::path(args->out).extension().string(), &bytes);
      if (s) s = fs::WriteFileAtomic(args->out, bytes.data(), bytes.size());
    }
    if (!s) {
      spdlog::error("{}", s.message());
      ExitCode() = kExitBadInput;
      return;
    }
    std::printf("preview: %s (%s split, pack %s)\n", args->out.c_str(), args->split.c_str(), p.content_hash.substr(0, 12).c_str());
    ExitCode() = kExitOk;
  });
}

}  // namespace catdog::cli
