// `catdog calibrate` (cli/cmd_calibrate.cpp): temperature scaling on a pack split. Runs the model
// through the shared core (raw sigmoid outputs), fits the T > 0 minimising the mean binary NLL of
// sigmoid(logit(p) / T) (calibrate.h), reports NLL and ECE (10 bins, metrics.h) before and after,
// and writes userDefinedMetadata.catdog.calibration into model.json atomically (in place, or in a
// new model folder with --out: model.json and the shards it names, through fs::WriteModelDir and its
// output rule; nothing else of the source folder is read or copied). A "neither cat nor dog" block
// (ood-fit) chosen under another temperature is refitted: a max-prob threshold is rescaled so that
// it makes the same decisions (calibrate.h RescaleMaxProbThreshold), the block's temperature updated.
// A fit that ends at the search bounds is refused (calibrate.h DegenerateFit). The runtimes apply it through catdog::ApplyCalibration
// (ModelInfo::temperature); Model::Run stays raw.
#pragma once

#include <string>

namespace catdog::cli {

struct CalibrateOptions {
  std::string model;
  std::string pack;
  std::string split = "val";
  std::string out;
  bool force = false;  // --force: --out may be a folder catdog did not write (its other entries kept)
  bool json = false;
  int batch = 64;
  int threads = 1;
  // --keep-recall LABEL[,LABEL...]=RATE (K > 2 classes only): after the temperature, the smallest
  // offset delta >= 0 subtracted from the calibrated logits of every other class
  // (calibration.class_bias) so that at least RATE of the split's images of the named classes are
  // called one of them, e.g. "cat,dog=0.97" keeps 97% of the pets out of "neither". Empty = none.
  std::string keep_recall;
};

// Prints the result on stdout (text, or JSON with `json`), errors through spdlog as
// "calibrate: MESSAGE"; returns the exit code: 2 bad input (nothing written), 1 failure, 0.
int CalibrateModel(const CalibrateOptions& options);

}  // namespace catdog::cli
