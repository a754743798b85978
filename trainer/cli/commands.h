// Each subcommand of the `catdog` CLI lives in its own file and registers itself here.
// Exit codes (exit_codes.h): 0 success, 1 runtime failure, 2 bad input (a file, a value, a flag).
#pragma once

#include "exit_codes.h"

namespace CLI { class App; }

namespace catdog::cli {

// Also as catdog::cli::kExit* (main and the tests use them through `using namespace catdog::cli`).
using catdog::kExitBadInput;
using catdog::kExitFailure;
using catdog::kExitOk;

// Core (no OpenCV, no torch): infer, bench.
void RegisterInfer(CLI::App& app);
void RegisterBench(CLI::App& app);
// Packs -> NumPy arrays (for Python tools): unpack.
void RegisterUnpack(CLI::App& app);
// Temperature scaling into model.json (core only): calibrate.
void RegisterCalibrate(CLI::App& app);
// Self-check block for models exported before it existed (core only): seal.
void RegisterSeal(CLI::App& app);
// Quantized copy of a model folder, re-sealed and listed in index.json (core only): quantize.
void RegisterQuantize(CLI::App& app);
// A model folder in another format: convert --to onnx (core only, export/onnx_export.h).
void RegisterConvert(CLI::App& app);
// Needs OpenCV (image decoding): predict, prepare, preview.
void RegisterPredict(CLI::App& app);
void RegisterPrepare(CLI::App& app);
void RegisterPreview(CLI::App& app);
// "Neither cat nor dog" threshold into model.json (needs OpenCV for the photos): ood-fit.
void RegisterOodFit(CLI::App& app);
// evaluate works on packs everywhere; on --images only with OpenCV.
void RegisterEvaluate(CLI::App& app);
// Needs libtorch: train, export.
void RegisterTrain(CLI::App& app);
void RegisterExport(CLI::App& app);
// Data-parallel `train` on one machine: N processes with torchrun's variables (cmd_launch.cpp).
void RegisterLaunch(CLI::App& app);

// Every subcommand this build has (CATDOG_HAVE_OPENCV / CATDOG_HAVE_TORCH come from the
// catdog_imaging / catdog_train libraries): main and the in-process flag tests use this one list.
inline void RegisterCommands(CLI::App& app) {
  RegisterInfer(app);
  RegisterBench(app);
  RegisterUnpack(app);
  RegisterEvaluate(app);
  RegisterCalibrate(app);
  RegisterSeal(app);
  RegisterQuantize(app);
  RegisterConvert(app);
#ifdef CATDOG_HAVE_OPENCV
  RegisterPredict(app);
  RegisterPrepare(app);
  RegisterPreview(app);
  RegisterOodFit(app);
#endif
#ifdef CATDOG_HAVE_TORCH
  RegisterTrain(app);
  RegisterExport(app);
  RegisterLaunch(app);
#endif
}

// The exit code a subcommand's callback chose (callbacks store it here).
int& ExitCode();

}  // namespace catdog::cli
