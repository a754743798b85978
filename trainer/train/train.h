// The libtorch trainer: train one architecture on a dataset pack, with checkpoints, history,
// TensorBoard logs and a run card; read checkpoints back for export.
//
// This header has no torch types (torch stays inside train.cpp / models_torch.cpp / augment.cpp),
// so the CLI commands and tests compile quickly.
//
// Output directory of a run (TrainOptions::out_dir):
//   best.pt        checkpoint with the lowest val_loss so far
//   last.pt        checkpoint after the last finished epoch (what --resume continues from)
//   history.jsonl  one JSON object per epoch (epoch, loss, accuracy, val_loss, val_accuracy, lr,
//                  seconds = the whole epoch with validation, images_per_s = training images per
//                  second of the training phase alone)
//   run.json       the run card (arch, options, device, pack path + content hash, metrics, timing)
//   logs/          TensorBoard event files: logs/train and logs/validation (as Keras' callback)
// Every file is written atomically (staged in a marked folder + rename, fsutil.h): a crash never
// leaves a half-written one; a run first removes the staging folders a killed run left and brings history.jsonl, best.pt and
// the event files back in line with last.pt (recovery.h). One trainer per directory (flock).
// Without a validation split (a tiny fine-tune pack) the training loss picks best.pt.
//
// Randomness: the generator is re-seeded at the start of every epoch from (seed, epoch), so the
// RNG state of a checkpoint is fully described by its seed and epoch; --resume reproduces an
// uninterrupted run exactly (same device, same thread count).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "catdog/catdog.h"
#include "learning_check.h"
#include "models.h"
#include "pack.h"

namespace catdog::train {

struct Checkpoint;

struct TrainOptions {
  std::string arch = "cnn";      // a name from Architectures()
  bool augment = false;          // Keras ImageDataGenerator-equivalent augmentation
  int epochs = 100;              // total epochs (a resumed run counts the ones already done)
  int batch = 32;
  double lr = 1e-3;              // Adam(beta1 0.9, beta2 0.999, epsilon 1e-7) as Keras
  uint64_t seed = 0;
  std::string device = "auto";   // auto | cpu | cuda
  std::string out_dir;           // required
  std::string log_dir;           // default out_dir/logs; "" keeps the default
  int patience = 0;              // early stopping on val_loss; 0 = off
  double until_loss = -1;        // stop when the training loss <= this; < 0 = off
  bool resume = false;           // continue from out_dir/last.pt
  // A fresh run into a folder that holds a previous run's checkpoints is refused unless `force`:
  // then that run's files (best.pt, last.pt, history.jsonl, run.json, its TensorBoard events) are
  // deleted first, so nothing of the two runs is mixed.
  bool force = false;
  bool allow_one_class = false;  // else a training split holding only one class is refused
  bool bf16 = false;             // bf16 autocast (CUDA and CPU where the libtorch has it)
  bool channels_last = false;    // channels-last activations
  int64_t limit = 0;             // use only N training images (the first of each class in turn); 0 = all
  std::string val_split = "val"; // which pack split validates: val | test
  std::string pack_path;         // for the run card
  int eval_batch = 256;          // validation batch size on CUDA (the CPU uses at most 32: Evaluate)
  int progress = -1;             // progress bar: 1 on, 0 off, -1 = when stderr is a TTY
  int threads = 0;               // CPU intra-op threads; 0 = libtorch's default
  // Fine-tuning (`--finetune MODEL_DIR`, finetune.h): start from these weights instead of Keras'
  // initialisation; their architecture replaces `arch`. A resumed run starts from last.pt instead.
  std::shared_ptr<const Checkpoint> init;
  // With `init` a two-class model and a pack of K > 2 classes whose first two are the model's: a
  // K-class head (WidenHead, finetune.h) instead of a refusal; the body is the model's.
  bool new_head = false;
  std::string finetune_json;     // run card "finetuned_from": the source model (path, hash, arch)
  std::string export_dir;        // where the CLI exports after training; its stale temps are cleaned
  // GPU speed. cuda_graph: capture one whole training step (batch, augmentation,
  // forward, backward, Adam) as a CUDA graph and replay it; CUDA only, full batches only.
  bool cuda_graph = true;
  // The trainer's own CUDA kernels (builds with nvcc, fused_ops.h): batch gather + augmentation in
  // one kernel, 2x2 max-pool + ReLU in one kernel each way. Off = the plain torch ops.
  bool fused_kernels = true;
  bool tf32 = false;             // TF32 convolutions/matmuls on CUDA (--fast turns it on)
  std::string lr_schedule = "constant";  // constant | cosine (per epoch, to 0 at the last epoch)
  int warmup_epochs = 0;         // linear lr warm-up over the first N epochs
  // Regularisation, all off by default (the tutorial's recipe):
  double label_smoothing = 0;    // targets y(1 - e) + e/2 in the training loss (validation keeps 0/1)
  double random_erase = 0;       // probability of erasing one rectangle per training image (augment.h)
  bool photometric = false;      // webcam-like gamma/contrast/brightness/blur/noise jitter (augment.h)
  // EMA of the weights, decay per step; 0 = off. Validation, best.pt and the export use the EMA
  // weights (BatchNorm statistics stay the live model's); last.pt keeps the live weights.
  double ema = 0;
  // Webcam corruptions (augment.h WebcamCorrupt): probability per training image; 0 = off.
  double corrupt = 0;
  // Outlier exposure (augment.h SyntheticOutliers): per step, round(outliers x
  // batch) synthetic non-animal images made from the batch join it with the target "unsure"
  // (P(dog) 0.5), weighted kOutlierWeight in the loss (which history.jsonl reports whole); 0 = off.
  double outliers = 0;
  // Knowledge distillation (step.h): frozen teachers (any architecture, same input size) whose
  // averaged soft predictions at temperature distill_temp join the loss with weight distill_alpha.
  std::vector<std::shared_ptr<const Checkpoint>> teachers;
  double distill_alpha = 0.5;
  double distill_temp = 2.0;
  std::string teachers_json;     // run card "teachers": the sources (path, arch, hash), a JSON array
  // Data-parallel training (distributed.h): -1 = when torchrun's RANK/WORLD_SIZE are
  // set, 0 = off, 1 = on (the variables are then required). `batch` is per rank: the global batch
  // is batch x WORLD_SIZE. dist_timeout_s bounds the rendezvous and every collective.
  int distributed = -1;
  int dist_timeout_s = 300;
  int dist_bucket_kb = 1024;  // gradient all-reduce bucket size (distributed.h)
  // Precise BatchNorm: before every validation (and so in best.pt, last.pt and the export) the
  // BatchNorm statistics that eval mode uses are recomputed from this many training images (evenly
  // spaced over the split, not augmented) under the weights being validated, instead of the
  // running averages (momentum 0.99, Keras'), which lag the weights by hundreds of steps: a short
  // run's eval-mode model answered P(dog) 0.5 for every photo. 0 = keep the running averages;
  // -1 = 1024 for a fresh run, 0 for a fine-tune (--finetune starts from the shipped model's
  // statistics, measured on its whole training set, which a few marked frames must not replace).
  int64_t precise_bn = -1;
  // A model whose validation accuracy does not beat chance is named during training and in the
  // run card; `export` / `quantize` refuse it unless --allow-chance (learning_check.h).
  bool allow_chance = false;
};

// Weight of the outlier term (Hendrycks et al. 2019, "Deep Anomaly Detection with Outlier Exposure", use 0.5).
inline constexpr double kOutlierWeight = 0.5;

struct EpochStats {
  int epoch = 0;  // 1-based
  double loss = 0, accuracy = 0, val_loss = 0, val_accuracy = 0, lr = 0, seconds = 0, images_per_s = 0;
  // Standard deviation of the validation images' P(dog): near 0 when the outputs have collapsed
  // to one value (a model that answers the same for every photo). NaN without validation.
  double val_spread = 0;
};

struct TrainResult {
  std::vector<EpochStats> history;  // all epochs of the run, resumed ones included
  std::string stop_reason;          // "epochs" | "patience" | "until-loss"
  int best_epoch = 0;
  double best_val_loss = 0;
  double seconds = 0;               // this invocation's wall time
  std::string device;               // "cpu" / "cuda:0"
  int rank = 0, world_size = 1;     // distributed training: rank 0 alone wrote the run's files
  LearningCheck learning;           // best.pt judged on the validation split (rank 0)
};

// Validates options (messages name the flag and value), then trains. Exit-code mapping for the CLI:
// a Status whose message starts with "bad input:" is the user's fault (exit 2), others exit 1.
// A NaN/Inf loss stops the run with an error, leaving last.pt/best.pt of the last good epoch.
Status Train(const pack::Pack& pack, const TrainOptions& options, TrainResult* result);

// ---- checkpoints, torch-free view ---------------------------------------------------------------
struct HostTensor {
  std::string name;             // torch module path, e.g. "conv2d.weight" (see ModelTensors)
  std::vector<int64_t> shape;   // torch layout (OIHW, [out,in])
  std::vector<float> data;
};

struct Checkpoint {
  ArchSpec arch;                 // stored in the checkpoint itself, not looked up by name
  int input_size = 100;
  std::string meta_json;         // everything else: epoch, history, run card, golden images...
  std::vector<HostTensor> tensors;  // in ModelTensors() order
};

// Reads a .pt written by Train (or WriteCheckpoint). `path` may be a training output directory,
// meaning its best.pt. Messages name the file.
Status ReadCheckpoint(const std::string& path, Checkpoint* out);
// Writes a checkpoint holding only weights + meta (no optimizer state), atomically. For tests and
// tools that build models by hand.
Status WriteCheckpoint(const std::string& path, const Checkpoint& ckpt);
// Runs the checkpoint's model with libtorch on the CPU in eval mode. `inputs`: n images of
// size*size floats in [0,1] (row-major, one channel). `out`: n probabilities P(dog) for a
// sigmoid head, n x K softmax probabilities (image after image) for a K-class one.
Status TorchPredict(const Checkpoint& ckpt, const float* inputs, int n, std::vector<float>* out);
// A fresh, Keras-initialised (Glorot uniform, zero bias) model as a checkpoint, seeded.
Status InitCheckpoint(const ArchSpec& arch, int input_size, uint64_t seed, Checkpoint* out);

}  // namespace catdog::train
