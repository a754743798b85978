// `catdog ood-fit --model DIR --pack PACK --ood-images DIR [--split val] [--tpr 0.95] [--json]`:
// chooses the "neither cat nor dog" threshold on a pack split and writes it into the model's
// userDefinedMetadata.catdog.ood (in place, atomically). ood_fit.h does the work.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

#include "commands.h"
#include "flag_checks.h"
#include "ood_fit.h"

namespace catdog::cli {

void RegisterOodFit(CLI::App& app) {
  auto o = std::make_shared<ood::FitOptions>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "ood-fit", "Choose the 'neither cat nor dog' threshold (95% of a split's cats and dogs accepted) into model.json");
  cmd->add_option("--model", o->model, "Model folder (model.json + shards) or its model.json; written in place")->required();
  cmd->add_option("--pack", o->pack, "Dataset pack directory")->required();
  cmd->add_option("--ood-images", o->images, "Folder of non-animal photos to report on (scripts/ood-photos: OUT/choose)")->required();
  AddSplitOption(cmd, &o->split, "Pack split the threshold is chosen on: val | test (the feature statistics come from train)",
                 {"val", "test"});
  cmd->add_option("--method", o->method, "auto (the lower FPR on --ood-images) | max-prob | feature-distance")
      ->capture_default_str();
  cmd->add_option("--tpr", o->tpr, "Share of the split's cats and dogs to accept")->capture_default_str();
  cmd->add_option("--batch", o->batch, "Inference batch size")->check(CLI::Range(1, 4096))->capture_default_str();
  cmd->add_option("--threads", o->threads, "Core threads")->check(CLI::Range(1, 256))->capture_default_str();
  cmd->add_flag("--json", *json, "Print the ood block written as JSON");
  cmd->callback([o, json] {
    nlohmann::ordered_json r;
    bool bad = false;
    Status s = ood::FitModel(*o, &r, &bad);
    if (!s) {
      spdlog::error("ood-fit: {}", s.message());
      ExitCode() = bad ? kExitBadInput : kExitFailure;
      return;
    }
    if (*json) {
      std::printf("%s\n", r.dump(2).c_str());
    } else {
      for (const auto& c : r["compared"])
        std::printf("  %-16s threshold %.6f: %zu of %zu photos accepted (FPR %.2f%%), AUROC %.4f; "
                    "rejects %zu of %zu sure-and-right %s images\n",
                    c["method"].get<std::string>().c_str(), c["threshold"].get<double>(), c["choose_accepted"].get<size_t>(),
                    r["choose"]["images"].get<size_t>(), 100 * c["choose_fpr"].get<double>(), c["auroc"].get<double>(),
                    c["sure_right_rejected"].get<size_t>(), r["sure_right"].get<size_t>(), o->split.c_str());
      std::printf("%s: %s threshold %.6f accepts %zu of %zu %s images (%.2f%%, target %.0f%%)\n",
                  r["model"].get<std::string>().c_str(), r["method"].get<std::string>().c_str(), r["threshold"].get<double>(),
                  r["accepted"].get<size_t>(),
                  r["n"].get<size_t>(), o->split.c_str(), 100.0 * r["accepted"].get<double>() / r["n"].get<double>(),
                  100 * o->tpr);
      const auto& c = r["choose"];
      std::printf("%s: %zu of %zu non-animal photos accepted as cat/dog (FPR %.2f%%; %zu skipped), AUROC %.4f\n",
                  o->images.c_str(), c["accepted"].get<size_t>(), c["images"].get<size_t>(), 100 * c["fpr"].get<double>(),
                  c["skipped"].get<size_t>(), c["auroc"].get<double>());
    }
    ExitCode() = kExitOk;
  });
}

}  // namespace catdog::cli
