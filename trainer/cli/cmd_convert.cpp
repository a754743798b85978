// `catdog convert MODEL --to onnx --out FILE.onnx [--force]`: a TF.js layers model folder as a
// standard ONNX model (export/onnx_export.h does the work; this parses flags and reports).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "commands.h"
#include "onnx_export.h"

namespace catdog::cli {

void RegisterConvert(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Convert a TF.js layers model folder to another format (ONNX: opset 13, NHWC float input, weights as float32)");
  cmd->add_option("model", o->model, "Model folder holding model.json (or the model.json path)")->required();
  cmd->add_option("--to", o->to, "Target format")->required()->check(CLI::IsMember({"onnx"}));
  cmd->add_option("--out", o->out, "The file to write (atomically), e.g. model.onnx")->required();
  cmd->add_flag("--force", o->force, "Replace an existing --out (never the model's own files)");
  cmd->callback([o] {
    ConvertResult r;
    bool bad = false;
    Status s = ConvertModel(*o, &r, &bad);
    if (!s) {
      spdlog::error("convert: {}", s.message());
      ExitCode() = bad ? kExitBadInput : kExitFailure;
      return;
    }
    spdlog::info("{}: ONNX opset {}, {} layers -> {} nodes, {} initializers ({} floats; source weights {}), {} bytes, sha256 {}",
                 o->out, kOnnxOpset, r.summary.layers, r.summary.nodes, r.summary.initializers, r.summary.weight_floats,
                 r.summary.quantization, r.bytes, r.sha256);
    ExitCode() = kExitOk;
  });
}

}  // namespace catdog::cli
