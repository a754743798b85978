// `catdog train` (cli/cmd_train.cpp) once its flags are read: checks what the flags say together,
// loads the --finetune model, reads the pack, trains (train.h) and, with --export, exports best.pt
// as a TF.js model folder (export.h) on rank 0.
#pragma once

#include <string>
#include <vector>

#include "train.h"

namespace catdog::cli {

struct TrainCommand {
  train::TrainOptions options;  // from the flags; pack_path, arch, lr, epochs, init are set here
  std::string pack;             // --pack
  std::string finetune;         // --finetune: a shipped model to start from ("" = random weights)
  std::string quantize;         // --quantize (needs options.export_dir)
  std::vector<std::string> teachers;  // --teacher: distillation teachers (finetune.h LoadTeachers)
  bool lr_given = false;        // --lr / --epochs given: --finetune leaves them as they are
  bool epochs_given = false;
};

// Logs progress and errors through spdlog; returns the exit code: 2 bad input (flags that
// contradict each other, a bad pack or model, train's "bad input: " errors), 1 failure, 0.
int RunTrainCommand(TrainCommand command);

}  // namespace catdog::cli
