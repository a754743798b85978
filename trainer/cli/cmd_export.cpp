// `catdog export`: a training checkpoint -> TensorFlow.js layers model folder, or with
// `--format onnx` an ONNX file (export.h).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>
#include <system_error>

#include "commands.h"
#include "export.h"
#include "model_files.h"
#include "train.h"

namespace catdog::cli {

void RegisterExport(CLI::App& app) {
  auto ckpt_path = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto opt = std::make_shared<train::ExportOptions>();
  auto format = std::make_shared<std::string>("tfjs");
  CLI::App* cmd = app.add_subcommand("export", "Export a checkpoint to TensorFlow.js layers format (model.json + shards)");
  cmd->add_option("--checkpoint", *ckpt_path, "A .pt file, or a `catdog train --out` directory (its best.pt)")->required();
  cmd->add_option("--out", *out,
                  "Output directory (tfjs; an existing folder catdog did not write needs --force) or .onnx file "
                  "(onnx), written atomically")
      ->required();
  cmd->add_option("--format", *format, "tfjs: a TF.js layers model folder; onnx: one ONNX file (as `catdog convert --to onnx`)")
      ->check(CLI::IsMember({"tfjs", "onnx"}))
      ->capture_default_str();
  cmd->add_flag("--force", opt->force,
                "tfjs: write into an existing --out that catdog did not write (replaces only the model's files, keeps "
                "the rest); onnx: replace an existing --out file");
  cmd->add_option("--quantize", opt->quantize, "Weight quantization like tfjs_converter: float16 | uint16 | uint8")
      ->check(CLI::IsMember({"float16", "uint16", "uint8"}));
  cmd->add_flag("--allow-chance", opt->allow_chance,
                "Export even when the checkpoint does not beat chance on its validation split (its run card says)");
  cmd->callback([ckpt_path, out, opt, format] {
    // The output rule before the checkpoint is read (DESIGN contract 4).
    std::error_code ec;
    opt->inputs = {std::filesystem::is_directory(*ckpt_path, ec) ? (std::filesystem::path(*ckpt_path) / "best.pt").string()
                                                                 : *ckpt_path};
    Status s;
    if (*format == "tfjs") {
      fs::ModelOutOptions mo;
      mo.force = opt->force;
      mo.inputs = opt->inputs;
      s = fs::CheckModelOutDir(*out, mo);
      if (!s) {
        spdlog::error("export: {}", s.message());
        ExitCode() = kExitBadInput;
        return;
      }
    }
    train::Checkpoint ck;
    s = train::ReadCheckpoint(*ckpt_path, &ck);
    if (!s) {
      spdlog::error("{}", s.message());
      ExitCode() = kExitBadInput;
      return;
    }
    std::string warning;
    s = train::CheckLearned(ck, *ckpt_path, opt->allow_chance, &warning);
    if (!s) {
      spdlog::error("{}", s.message().substr(11));  // "bad input: "
      ExitCode() = kExitBadInput;
      return;
    }
    if (!warning.empty()) spdlog::warn("{}", warning);
    if (*format == "onnx") {
      bool bad = false;
      std::string summary;
      s = train::ExportOnnx(ck, *opt, *out, opt->force, &bad, &summary);
      if (!s) {
        spdlog::error("{}", s.message());
        ExitCode() = bad ? kExitBadInput : kExitFailure;
        return;
      }
      spdlog::info("exported {} ({}) to {}: {}", ck.arch.name, *ckpt_path, *out, summary);
      ExitCode() = kExitOk;
      return;
    }
    train::TfjsModel m;
    s = train::ExportTfjs(ck, *opt, *out, &m);
    if (!s) {
      spdlog::error("{}", s.message());
      ExitCode() = kExitFailure;
      return;
    }
    size_t bytes = 0;
    for (const auto& sh : m.shards) bytes += sh.size();
    spdlog::info("exported {} ({}) to {}: {} shard(s), {} weight bytes{}", ck.arch.name, *ckpt_path, *out,
                 m.shards.size(), bytes, opt->quantize.empty() ? "" : ", quantized " + opt->quantize);
    for (const auto& g : m.golden) spdlog::info("  golden: {} -> P(dog) {:.6f}", g.desc, g.output);
    ExitCode() = kExitOk;
  });
}

}  // namespace catdog::cli
