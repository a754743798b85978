// `catdog unpack --pack PACK --out DIR`: a pack's splits as NumPy arrays (data/unpack.h).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "fsutil.h"
#include "pack.h"
#include "unpack.h"

namespace catdog::cli {

void RegisterUnpack(CLI::App& app) {
  struct Args {
    std::string pack, out;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("unpack", "Write a pack's splits as NumPy arrays x_<split>.npy (uint8 N,S,S) and y_<split>.npy");
  cmd->add_option("--pack", args->pack, "Pack directory (catdog prepare --out)")->required();
  cmd->add_option("--out", args->out, "Output directory")->required();
  cmd->callback([args] {
    // DESIGN contract 4: the arrays never go into the pack they come from (or a folder holding it).
    Status s = fs::CheckNotAnInput(args->out, {args->pack}, "--out");
    if (!s) { spdlog::error("unpack: {}", s.message()); ExitCode() = kExitBadInput; return; }
    pack::Pack p;
    s = pack::ReadPack(args->pack, &p);
    if (!s) { spdlog::error("{}", s.message()); ExitCode() = kExitBadInput; return; }
    std::vector<pack::UnpackedSplit> written;
    s = pack::UnpackToNpy(p, args->out, &written);
    for (const pack::UnpackedSplit& w : written) spdlog::info("{}: {} images -> {}", w.name, w.images, w.x_path);
    if (!s) { spdlog::error("{}", s.message()); ExitCode() = kExitFailure; return; }
  });
}

}  // namespace catdog::cli
