// `catdog prepare`: image folders -> dataset pack (data/prepare_command.h runs it, the pipeline is
// prepare.h; this parses flags and makes one call).
#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>

#include "commands.h"
#include "flag_checks.h"
#include "prepare_command.h"

namespace catdog::cli {

void RegisterPrepare(CLI::App& app) {
  auto args = std::make_shared<prepare::Command>();
  CLI::App* cmd = app.add_subcommand("prepare", "Image folders (Cat/Dog, cats_and_dogs_filtered, ...) -> a dataset pack");
  cmd->add_option("--images", args->o.image_dirs, "Folder holding cat/dog class folders (repeatable)")->required();
  cmd->add_option("--out", args->o.out, "Pack directory to write")->required();
  cmd->add_option("--val-fraction", args->o.val_fraction, "Fraction of each class for validation")
      ->check(CLI::Range(0.0, 1.0) & Finite)->capture_default_str();
  cmd->add_option("--test-fraction", args->o.test_fraction, "Fraction of each class for test")
      ->check(CLI::Range(0.0, 1.0) & Finite)->capture_default_str();
  cmd->add_option("--seed", args->o.seed, "Seed of the split")->check(Uint64Text)->capture_default_str();
  cmd->add_option("--fit", args->fit, "stretch (whole image) or crop (center square)")
      ->check(CLI::IsMember({"stretch", "crop"}))->capture_default_str();
  cmd->add_option("--size", args->o.size, "Output side in pixels")->check(CLI::Range(8, 1024))->capture_default_str();
  cmd->add_option("--report", args->report,
                  "JSON report path (default PACK/report.json); never inside a pack or model folder, an existing "
                  "file only with --force");
  cmd->add_flag("--force", args->force, "Let --report replace an existing file");
  cmd->add_option("--max-shard-mb", args->max_shard_mb, "Largest shard file in MiB (<= 60)")
      ->check(CLI::Range(0.0, 60.0) & Finite)->capture_default_str();
  cmd->add_option("--threads", args->o.threads, "Decode threads (0 = all cores)")->check(CLI::Range(0, 256))->capture_default_str();
  cmd->add_option("--max-pixels", args->o.decode.max_pixels, "Refuse images whose header claims more pixels (at most 268435456 are ever decoded: the preprocessing limit)")
      ->check(CLI::Range(uint64_t(1), uint64_t(1) << 32))->capture_default_str();
  cmd->add_option("--classes", args->o.classes,
                  "The classes in label order, comma-separated (default cat,dog): folder NAME or NAMEs, any case, "
                  "is that class; e.g. --classes cat,dog,neither")
      ->delimiter(',');
  cmd->add_flag("--allow-one-class", args->o.allow_one_class,
                "Write a pack holding only cats or only dogs (refused otherwise: a classifier trained on it learns "
                "nothing)");
  cmd->add_option("--zstd-level", args->o.write.zstd_level, "zstd level of the shards (1..19)")
      ->check(CLI::Range(1, 19))->capture_default_str();
  cmd->callback([args] { ExitCode() = prepare::RunCommand(*args); });
}

}  // namespace catdog::cli
