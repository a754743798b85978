// `catdog train`: train one architecture on a dataset pack (train.h).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <memory>

#include "commands.h"
#include "models.h"
#include "pack.h"
#include "train.h"

namespace catdog::cli {

void RegisterTrain(CLI::App& app) {
  auto opt = std::make_shared<train::TrainOptions>();
  auto pack_path = std::make_shared<std::string>();
  auto no_progress = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("train", "Train a model on a dataset pack (libtorch; GPU when available)");
  cmd->add_option("--pack", *pack_path, "Dataset pack directory (or its pack.json), from `catdog prepare`")->required();
  cmd->add_option("--arch", opt->arch, "Architecture: " + train::ArchNames())->required();
  cmd->add_flag("--augment", opt->augment,
                "Augment like the tutorial's ImageDataGenerator (rotation 30, shifts 0.2, shear 15, zoom 0.7-1.4, flips)");
  cmd->add_option("--epochs", opt->epochs, "Total epochs (a resumed run counts those already done)")->capture_default_str();
  cmd->add_option("--batch", opt->batch, "Batch size")->capture_default_str();
  cmd->add_option("--lr", opt->lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--seed", opt->seed, "Seed of initialisation, shuffling, augmentation, dropout")->capture_default_str();
  cmd->add_option("--device", opt->device, "auto | cpu | cuda[:N]")->capture_default_str();
  cmd->add_option("--out", opt->out_dir, "Output directory: best.pt, last.pt, history.jsonl, run.json, logs/")->required();
  cmd->add_option("--logdir", opt->log_dir, "TensorBoard log directory (default OUT/logs)");
  cmd->add_option("--patience", opt->patience, "Early stopping: epochs without a val_loss improvement; 0 = off")
      ->capture_default_str();
  cmd->add_option("--until-loss", opt->until_loss, "Stop once the training loss is <= this (the tutorial's 0.02)");
  cmd->add_flag("--resume", opt->resume, "Continue from OUT/last.pt");
  cmd->add_flag("--bf16", opt->bf16, "bf16 autocast (mixed precision)");
  cmd->add_flag("--channels-last", opt->channels_last, "Channels-last activations");
  cmd->add_option("--limit", opt->limit, "Use only N training images (the first of each class in turn; quick runs); 0 = all")->capture_default_str();
  cmd->add_option("--val-split", opt->val_split, "Split to validate on: val | test")->capture_default_str();
  cmd->add_option("--threads", opt->threads, "CPU threads for libtorch; 0 = its default")->capture_default_str();
  cmd->add_flag("--no-progress", *no_progress, "No progress bar even on a terminal");
  cmd->callback([opt, pack_path, no_progress] {
    if (*no_progress) opt->progress = 0;
    opt->pack_path = *pack_path;
    pack::Pack pack;
    Status s = pack::ReadPack(*pack_path, &pack);
    if (!s) {
      spdlog::error("{}", s.message());
      ExitCode() = kExitBadInput;
      return;
    }
    train::TrainResult result;
    s = train::Train(pack, *opt, &result);
    if (!s) {
      const bool bad = s.message().rfind("bad input: ", 0) == 0;
      spdlog::error("{}", bad ? s.message().substr(11) : s.message());
      ExitCode() = bad ? kExitBadInput : kExitFailure;
      return;
    }
    if (!result.history.empty()) {
      const auto& last = result.history.back();
      spdlog::info("done ({}): {} epochs, best val_loss {:.4f} at epoch {}, last val_accuracy {:.4f}; {:.1f} s on {}",
                   result.stop_reason, result.history.size(), result.best_val_loss, result.best_epoch,
                   last.val_accuracy, result.seconds, result.device);
    }
    ExitCode() = kExitOk;
  });
}

}  // namespace catdog::cli
