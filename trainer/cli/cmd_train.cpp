// `catdog train`: train one architecture on a dataset pack. This file reads the flags into
// TrainOptions (train.h); export/train_command.h checks them together, trains and exports.
#include <CLI/CLI.hpp>

#include <memory>
#include <utility>

#include "commands.h"
#include "flag_checks.h"
#include "models.h"
#include "train.h"
#include "train_command.h"

namespace catdog::cli {

void RegisterTrain(CLI::App& app) {
  auto opt = std::make_shared<train::TrainOptions>();
  auto pack_path = std::make_shared<std::string>();
  auto no_progress = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("train", "Train a model on a dataset pack (libtorch; GPU when available)");
  cmd->add_option("--pack", *pack_path, "Dataset pack directory (or its pack.json), from `catdog prepare`")->required();
  opt->arch.clear();  // required unless --finetune names a model that carries its architecture
  cmd->add_option("--arch", opt->arch, "Architecture: " + train::ArchNames() + " (with --finetune: from the model)");
  struct FinetuneArgs {
    std::string model, quantize;
    CLI::Option* epochs = nullptr;
    CLI::Option* lr = nullptr;
  };
  auto ft = std::make_shared<FinetuneArgs>();
  cmd->add_option("--finetune", ft->model,
                  "Start from a shipped TF.js model (its folder or model.json) instead of random weights; its "
                  "architecture and preprocessing are kept. Defaults become --lr 1e-4 --epochs 10");
  cmd->add_flag("--new-head", opt->new_head,
                "With --finetune of a two-class model and a pack of K > 2 classes whose first two are the model's "
                "(say cat,dog,neither): a K-class softmax head that starts out answering the model's two classes as "
                "the model did; the whole network then learns all K");
  cmd->add_option("--export", opt->export_dir, "After training, export best.pt here as a TF.js model (atomically; checked before training: an "
                  "existing folder catdog did not write needs --force)");
  cmd->add_option("--quantize", ft->quantize, "With --export: float16 | uint16 | uint8")
      ->check(CLI::IsMember({"float16", "uint16", "uint8"}));
  cmd->add_flag("--augment", opt->augment,
                "Augment like the tutorial's ImageDataGenerator (rotation 30, shifts 0.2, shear 15, zoom 0.7-1.4, flips)");
  cmd->add_option("--epochs", opt->epochs, "Total epochs (a resumed run counts those already done)")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--batch", opt->batch, "Batch size")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  cmd->add_option("--lr", opt->lr, "Adam learning rate")->check(CLI::Range(1e-12, 10.0) & Finite)->capture_default_str();
  cmd->add_option("--seed", opt->seed, "Seed of initialisation, shuffling, augmentation, dropout")
      ->check(Uint64Text)->capture_default_str();
  cmd->add_option("--device", opt->device, "auto | cpu | cuda[:N]")->capture_default_str();
  cmd->add_option("--out", opt->out_dir, "Output directory: best.pt, last.pt, history.jsonl, run.json, logs/")->required();
  cmd->add_option("--logdir", opt->log_dir, "TensorBoard log directory (default OUT/logs)");
  cmd->add_option("--patience", opt->patience, "Early stopping: epochs without a val_loss improvement; 0 = off")
      ->check(CLI::Range(0, 100000))->capture_default_str();
  cmd->add_option("--until-loss", opt->until_loss, "Stop once the training loss is <= this (the tutorial's 0.02)")
      ->check(CLI::Range(0.0, 100.0) & Finite);
  cmd->add_flag("--resume", opt->resume, "Continue from OUT/last.pt");
  cmd->add_flag("--force", opt->force,
                "Start a fresh run even though OUT holds a previous one: its best.pt, last.pt, history.jsonl, "
                "run.json and TensorBoard events are deleted first. With --export, also lets it write into a folder "
                "catdog did not write (only the model's files are replaced, the rest kept)");
  cmd->add_flag("--allow-one-class", opt->allow_one_class, "Train even when the training split holds one class only");
  cmd->add_option("--precise-bn", opt->precise_bn,
                  "Before each validation, recompute the BatchNorm statistics from this many training images under "
                  "the current weights (the running averages lag far behind in short runs); 0 = keep the running "
                  "averages. Default: 1024 for a fresh run, 0 with --finetune (the model's own statistics are kept)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  cmd->add_flag("--allow-chance", opt->allow_chance,
                "With --export: export even when the model does not beat chance on its validation split");
  cmd->add_flag("--bf16", opt->bf16, "bf16 autocast (mixed precision)");
  cmd->add_flag("--channels-last", opt->channels_last, "Channels-last activations");
  cmd->add_option("--limit", opt->limit, "Use only N training images (the first of each class in turn; quick runs); 0 = all")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 40))->capture_default_str();
  AddSplitOption(cmd, &opt->val_split, "Split to validate on: val | test", {"val", "test"}, "--val-split");
  cmd->add_option("--threads", opt->threads, "CPU threads for libtorch; 0 = its default")->check(CLI::Range(0, 256))->capture_default_str();
  cmd->add_flag("--no-progress", *no_progress, "No progress bar even on a terminal");
  cmd->add_option("--lr-schedule", opt->lr_schedule, "Learning rate per epoch: constant | cosine (decays to 0)")
      ->capture_default_str();
  cmd->add_option("--warmup-epochs", opt->warmup_epochs, "Linear learning-rate warm-up over the first N epochs")
      ->check(CLI::Range(0, 100000))->capture_default_str();
  cmd->add_option("--label-smoothing", opt->label_smoothing,
                  "Label smoothing e: training targets y(1 - e) + e/2 (validation keeps 0/1)")
      ->check(CLI::Range(0.0, 0.5) & Finite)
      ->capture_default_str();
  cmd->add_option("--random-erase", opt->random_erase,
                  "Random erasing: probability of blanking one rectangle (2-25% of the image) per training image")
      ->check(CLI::Range(0.0, 1.0) & Finite)
      ->capture_default_str();
  cmd->add_flag("--photometric", opt->photometric,
                "Webcam-like jitter of each training image: gamma, contrast, brightness, blur, noise");
  cmd->add_option("--ema", opt->ema,
                  "Exponential moving average of the weights with this decay per step (e.g. 0.999); validation, "
                  "best.pt and --export use the average; 0 = off")
      ->check(CLI::Range(0.0, 1.0) & Finite)
      ->capture_default_str();
  cmd->add_option("--corrupt", opt->corrupt,
                  "Webcam corruptions: probability of one of blur, motion blur, noise, low light, over-exposure or "
                  "JPEG blocks, at a random strength, per training image (0 = off)")
      ->check(CLI::Range(0.0, 1.0) & Finite)
      ->capture_default_str();
  cmd->add_option("--outliers", opt->outliers,
                  "Outlier exposure: per step, this fraction of the batch again as synthetic non-animal images "
                  "(jigsaws of the batch's tiles, smooth shading) trained towards P(dog) 0.5, so \"neither cat nor "
                  "dog\" scores higher on things that are not an animal (0 = off)")
      ->check(CLI::Range(0.0, 1.0) & Finite)
      ->capture_default_str();
  auto teachers = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--teacher", *teachers,
                  "Distil from this trained model (a run folder, a .pt checkpoint, or a model folder / model.json); "
                  "repeat for an ensemble, whose probabilities are averaged");
  cmd->add_option("--distill-alpha", opt->distill_alpha,
                  "With --teacher: weight of the teachers' soft targets in the loss (the labels get 1 - alpha)")
      ->check(CLI::Range(0.0, 1.0) & Finite)
      ->capture_default_str();
  cmd->add_option("--distill-temp", opt->distill_temp, "With --teacher: softening temperature T of both logits")
      ->check(CLI::Range(0.05, 100.0) & Finite)
      ->capture_default_str();
  // [dist] data-parallel training (distributed.h; README "Training on several GPUs").
  auto distributed = std::make_shared<bool>(false);
  cmd->add_flag("--distributed", *distributed,
                "Data-parallel training, one process per device, from torchrun's RANK, WORLD_SIZE, LOCAL_RANK, "
                "MASTER_ADDR, MASTER_PORT (on by itself when RANK or WORLD_SIZE is set; `catdog launch` sets them). "
                "--batch is per process: the global batch is batch x WORLD_SIZE");
  cmd->add_option("--dist-timeout", opt->dist_timeout_s,
                  "Distributed: seconds the rendezvous and each collective may wait for the other ranks before "
                  "this one stops with an error (a dead or hung rank)")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd->add_option("--dist-bucket-kb", opt->dist_bucket_kb,
                  "Distributed: gradients are summed across ranks in buckets of this many KiB, each started as soon "
                  "as backward has filled it")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  auto no_graph = std::make_shared<bool>(false);
  cmd->add_flag("--no-cuda-graph", *no_graph, "CUDA: run each step eagerly instead of replaying a captured CUDA graph");
  auto no_fused = std::make_shared<bool>(false);
  cmd->add_flag("--no-fused-kernels", *no_fused,
                "CUDA: use the plain torch ops instead of catdog's fused augmentation and pool+ReLU kernels");
  auto fast = std::make_shared<bool>(false);
  CLI::Option* batch_opt = cmd->get_option("--batch");
  cmd->add_flag("--fast", *fast,
                "Fast mode for CUDA: bf16 autocast, channels-last, TF32, CUDA graphs and batch 512 unless --batch "
                "is given");
  ft->epochs = cmd->get_option("--epochs");
  ft->lr = cmd->get_option("--lr");
  cmd->callback([opt, pack_path, no_progress, ft, no_graph, no_fused, fast, batch_opt, distributed, teachers] {
    if (*no_progress) opt->progress = 0;
    if (*distributed) opt->distributed = 1;
    if (*no_graph) opt->cuda_graph = false;
    if (*no_fused) opt->fused_kernels = false;
    if (*fast) {
      opt->bf16 = opt->channels_last = opt->tf32 = true;
      if (batch_opt->count() == 0) opt->batch = 512;
    }
    TrainCommand c;
    c.options = *opt;
    c.pack = *pack_path;
    c.finetune = ft->model;
    c.teachers = *teachers;
    c.quantize = ft->quantize;
    c.lr_given = ft->lr->count() > 0;
    c.epochs_given = ft->epochs->count() > 0;
    ExitCode() = RunTrainCommand(std::move(c));
  });
}

}  // namespace catdog::cli
