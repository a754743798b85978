// The training loop: Trainer::Run orchestrates one run (validate the options, set up or resume,
// then epochs until a stop rule); the parts live beside it:
//   batches.h     the training data on the device, the epoch's order (the sampler)
//   step.h        one training step (forward, backward, [dist] gradient all-reduce, optimiser, EMA)
//   graph_step.h  the step captured and replayed as a CUDA graph
//   optimiser.h   Keras' Adam over one flat parameter buffer
//   schedule.h    learning rate per epoch, epoch seeds, stop rules
//   progress.h    progress bar, history rows, TensorBoard scalars, log lines
//   recovery.h    bringing a run folder back in line with last.pt on --resume
//   distributed.h data-parallel training over ranks (torchrun), marked [dist] here and in step.cpp
// Design notes (GPU throughput):
// - the whole training set lives on the device as uint8 [N,1,S,S]; a batch is an index_select
//   from a device randperm, converted to float there: no host->device copies per step;
// - augmentation is a handful of batched ops (augment.cpp);
// - loss/accuracy accumulate in device tensors and are read once per epoch (no .item() per step);
// - all trainable parameters are views into one flat buffer and their gradients views into
//   another, so Adam is five elementwise ops over one tensor (Keras' formula, epsilon 1e-7);
//   its step count and learning rate live on the device, so the whole step is replayable;
// - on CUDA the whole step (index_select, augmentation with its random draws, forward, backward,
//   Adam) is captured once as a CUDA graph and replayed: at batch 32 the step is launch-bound
//   (~200 small kernels), a replay is one launch. The last, partial batch of an epoch runs eagerly.
#include "train.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "autocast.h"
#include "batches.h"
#include "head.h"
#include "catdog/tfjs_format.h"
#include "cpu_memory.h"
#include "distributed.h"
#include "fsutil.h"
#include "graph_step.h"
#include "learning_check.h"
#include "models_torch.h"
#include "optimiser.h"
#include "progress.h"
#include "recovery.h"
#include "schedule.h"
#include "step.h"
#include "tensorboard.h"

namespace catdog::train {

namespace {

using json = nlohmann::json;
namespace stdfs = std::filesystem;
using Clock = std::chrono::steady_clock;

Status BadInput(const std::string& msg) { return Status::Error("bad input: " + msg); }

struct RunState {
  int epoch = 0;  // epochs finished
  std::vector<EpochStats> history;
  double best_val_loss = INFINITY;
  int best_epoch = 0;
  int bad_epochs = 0;
};

class Trainer {
 public:
  Trainer(const pack::Pack& pack, const TrainOptions& o) : pack_(pack), o_(o) {}
  Status Run(TrainResult* result);

 private:
  Status Validate();
  Status StartDistributed();
  Status SyncStart(Status s);
  bool writer() const { return rank_ == 0; }  // rank 0 alone writes the run's files
  Status Setup();
  Status Resume();
  Status Start();
  Status PrepareSteps();
  Status TrainEpoch(int epoch, EpochStats* e);
  bool Record(const EpochStats& e);
  bool ShouldStop(const EpochStats& e);
  Status Finish(TrainResult* result);
  struct ValResult {
    double loss = NAN, accuracy = NAN, spread = NAN;
  };
  ValResult Evaluate(const DeviceData& d);
  void RecomputeBatchNorm();
  LearningCheck Judge(const EpochStats& e) const;
  void WarnIfNotLearning(const EpochStats& e) const;
  bool BeatChanceBefore() const;
  bool Remind(int epoch) const;
  mutable int last_warned_ = 0;  // the epoch of the last "not learning" warning
  json Meta() const;
  json RunCard(const std::string& status) const;
  Status SaveEpoch(bool improved);
  Status WriteHistory() const;
  Status Fail(const std::string& status, const std::string& message);

  const pack::Pack& pack_;
  TrainOptions o_;
  const ArchSpec* arch_ = nullptr;
  ArchSpec arch_k_;  // the registry's architecture with the pack's head (WithClasses)
  torch::Device device_{torch::kCPU};
  std::string log_dir_;
  DeviceData train_, val_;
  int64_t val_largest_ = 0;  // validation images of the largest class (learning_check.h)
  Net net_{nullptr};
  FlatParams flat_;
  FlatAdam adam_;
  std::unique_ptr<TrainStep> step_;
  std::unique_ptr<GraphStep> graph_;
  RunState st_;
  std::vector<json> golden_;
  tb::EventWriter tb_train_, tb_val_;
  std::string started_at_;
  Clock::time_point t0_;
  std::string stop_reason_;
  fs::DirLock lock_;  // one trainer per output directory
  bool fused_ = false;  // the fused CUDA kernels run (fused_ops.h)
  // [dist] data-parallel training (distributed.h); null when training alone.
  std::unique_ptr<Distributed> dist_;
  int rank_ = 0, world_ = 1;
  // --ema: the averaged weights (same layout as flat_) and a scratch buffer to swap them in.
  torch::Tensor ema_, ema_swap_;
  void SwapEma() {
    if (!ema_.defined()) return;
    torch::NoGradGuard no_grad;
    ema_swap_.copy_(flat_.flat());
    flat_.flat().copy_(ema_);
    ema_.copy_(ema_swap_);
  }
};

Status Trainer::Validate() {
  // A fine-tune builds the architecture its model file describes, not the registry's entry.
  arch_ = o_.init ? &o_.init->arch : FindArch(o_.arch);
  if (o_.init && o_.init->input_size != pack_.size)
    return BadInput("--finetune: the model takes " + std::to_string(o_.init->input_size) + "x" +
                    std::to_string(o_.init->input_size) + " images, pack " + o_.pack_path + " holds " +
                    std::to_string(pack_.size) + "x" + std::to_string(pack_.size));
  if (!arch_) return BadInput("--arch '" + o_.arch + "': unknown architecture (choose " + ArchNames() + ")");
  // The head follows the pack's classes: Dense(1, sigmoid) for two, Dense(K, softmax) for K.
  const int classes = pack_.classes();
  if (o_.init && ArchClasses(*arch_) != classes)
    return BadInput("--finetune: the model has " + std::to_string(ArchClasses(*arch_)) + " classes, pack " +
                    o_.pack_path + " has " + std::to_string(classes) + " (" + json(pack_.class_names).dump() +
                    "): fine-tune on a pack of the model's classes, or train a new model");
  if (o_.init) {  // the model's class names (case aside) must be the pack's, in the same order
    const json im = json::parse(o_.init->meta_json.empty() ? "{}" : o_.init->meta_json, nullptr, false);
    if (im.is_object() && im.contains("labels") && im["labels"].is_array()) {
      bool same = im["labels"].size() == pack_.class_names.size();
      for (size_t k = 0; same && k < pack_.class_names.size(); ++k) {
        std::string a = im["labels"][k].is_string() ? im["labels"][k].get<std::string>() : "", b = pack_.class_names[k];
        for (std::string* x : {&a, &b})
          for (char& ch : *x) ch = char(std::tolower(static_cast<unsigned char>(ch)));
        same = a == b;
      }
      if (!same)
        return BadInput("--finetune: the model's classes are " + im["labels"].dump() + ", pack " + o_.pack_path +
                        " has " + json(pack_.class_names).dump() +
                        " (in label order): prepare the pack with --classes in the model's order");
    }
  }
  if (!o_.init) {
    arch_k_ = WithClasses(*arch_, classes);
    arch_ = &arch_k_;
  }
  if (o_.epochs < 1) return BadInput("--epochs " + std::to_string(o_.epochs) + ": must be >= 1");
  if (o_.precise_bn < -1) return BadInput("--precise-bn " + std::to_string(o_.precise_bn) + ": must be >= 0");
  if (o_.precise_bn < 0) o_.precise_bn = o_.init ? 0 : 1024;
  if (o_.batch < 1 || o_.batch > 1 << 20) return BadInput("--batch " + std::to_string(o_.batch) + ": must be in 1..1048576");
  if (!(o_.lr > 0) || !std::isfinite(o_.lr)) return BadInput("--lr " + std::to_string(o_.lr) + ": must be a positive number");
  if (o_.out_dir.empty()) return BadInput("--out is required");
  if (o_.patience < 0) return BadInput("--patience " + std::to_string(o_.patience) + ": must be >= 0");
  if (o_.limit < 0) return BadInput("--limit " + std::to_string(o_.limit) + ": must be >= 0");
  if (o_.eval_batch < 1) return BadInput("eval batch " + std::to_string(o_.eval_batch) + ": must be >= 1");
  if (o_.val_split != "val" && o_.val_split != "test")
    return BadInput("--val-split '" + o_.val_split + "': must be val or test");
  if (o_.lr_schedule != "constant" && o_.lr_schedule != "cosine")
    return BadInput("--lr-schedule '" + o_.lr_schedule + "': must be constant or cosine");
  if (!(o_.label_smoothing >= 0 && o_.label_smoothing < 0.5))
    return BadInput("--label-smoothing " + std::to_string(o_.label_smoothing) + ": must be in [0, 0.5)");
  if (!(o_.random_erase >= 0 && o_.random_erase <= 1))
    return BadInput("--random-erase " + std::to_string(o_.random_erase) + ": must be a probability in [0, 1]");
  if (!(o_.ema >= 0 && o_.ema < 1))
    return BadInput("--ema " + std::to_string(o_.ema) + ": must be a decay in [0, 1) (0 = off)");
  if (!(o_.corrupt >= 0 && o_.corrupt <= 1))
    return BadInput("--corrupt " + std::to_string(o_.corrupt) + ": must be a probability in [0, 1]");
  if (!(o_.outliers >= 0 && o_.outliers <= 1))
    return BadInput("--outliers " + std::to_string(o_.outliers) + ": must be a fraction of the batch in [0, 1]");
  if (o_.outliers > 0 && pack_.size < 4)
    return BadInput("--outliers: pack " + o_.pack_path + " holds " + std::to_string(pack_.size) + "x" +
                    std::to_string(pack_.size) + " images; the jigsaw outliers need at least 4x4");
  if (!(o_.distill_alpha >= 0 && o_.distill_alpha <= 1))
    return BadInput("--distill-alpha " + std::to_string(o_.distill_alpha) + ": must be in [0, 1]");
  if (!(o_.distill_temp >= 0.05 && o_.distill_temp <= 100))
    return BadInput("--distill-temp " + std::to_string(o_.distill_temp) + ": must be in [0.05, 100]");
  for (const auto& t : o_.teachers)
    if (ArchClasses(t->arch) != classes)
      return BadInput("--teacher (" + t->arch.name + "): the teacher has " + std::to_string(ArchClasses(t->arch)) +
                      " classes, pack " + o_.pack_path + " has " + std::to_string(classes) +
                      ": a teacher must answer the same classes");
  for (const auto& t : o_.teachers)
    if (t->input_size != pack_.size)
      return BadInput("--teacher (" + t->arch.name + "): the model takes " + std::to_string(t->input_size) + "x" +
                      std::to_string(t->input_size) + " images, pack " + o_.pack_path + " holds " +
                      std::to_string(pack_.size) + "x" + std::to_string(pack_.size));
  if (o_.warmup_epochs < 0 || o_.warmup_epochs > o_.epochs)
    return BadInput("--warmup-epochs " + std::to_string(o_.warmup_epochs) + ": must be in 0.." +
                    std::to_string(o_.epochs));
  if (o_.device == "auto") {
    device_ = torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  } else if (o_.device == "cpu") {
    device_ = torch::kCPU;
  } else if (o_.device == "cuda" || o_.device.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      return BadInput("--device " + o_.device + ": this libtorch (" TORCH_VERSION ") has no usable CUDA device");
    device_ = torch::Device(o_.device == "cuda" ? "cuda:0" : o_.device);
  } else {
    return BadInput("--device '" + o_.device + "': must be auto, cpu or cuda");
  }
  const size_t plane = size_t(pack_.size) * size_t(pack_.size);
  if (pack_.size < 8 || pack_.pixels.size() != pack_.count() * plane || pack_.splits.size() != pack_.count())
    return BadInput("pack " + o_.pack_path + ": inconsistent sizes (size " + std::to_string(pack_.size) + ", " +
                    std::to_string(pack_.count()) + " labels, " + std::to_string(pack_.pixels.size()) + " pixel bytes)");
  return Status::Ok();
}

// [dist] torchrun's variables -> rendezvous and process group (distributed.h).
Status Trainer::StartDistributed() {
  if (o_.distributed == 0 || (o_.distributed < 0 && !DistEnvPresent())) return Status::Ok();
  if (o_.dist_timeout_s < 1) return BadInput("--dist-timeout " + std::to_string(o_.dist_timeout_s) + ": must be >= 1");
  if (o_.dist_bucket_kb < 1) return BadInput("--dist-bucket-kb " + std::to_string(o_.dist_bucket_kb) + ": must be >= 1");
  DistEnv env;
  Status s = ReadDistEnv(&env);
  if (!s) return s;
  if (device_.is_cuda() && (o_.device == "auto" || o_.device == "cuda")) {
    if (env.local_rank >= int(torch::cuda::device_count()))
      return BadInput("LOCAL_RANK=" + std::to_string(env.local_rank) + ": this machine has " +
                      std::to_string(torch::cuda::device_count()) + " CUDA device(s)");
    device_ = torch::Device(torch::kCUDA, c10::DeviceIndex(env.local_rank));  // one process per GPU
  }
  s = Distributed::Start(env, device_, std::chrono::seconds(o_.dist_timeout_s), &dist_);
  if (!s) return s;
  rank_ = env.rank;
  world_ = env.world_size;
  spdlog::info("rank {} of {} ({} on {}): per-rank batch {}, global batch {}", rank_, world_, dist_->backend(),
               device_.str(), o_.batch, int64_t(o_.batch) * world_);
  if (!writer()) spdlog::set_level(spdlog::level::warn);  // rank 0 reports the run
  return Status::Ok();
}

// [dist] All ranks learn whether every rank set up (else all stop); then rank 0's weights,
// buffers, Adam state and progress replace the others', and the gradient buckets are attached.
Status Trainer::SyncStart(Status s) {
  if (!dist_) return s;
  const std::vector<int> failed = dist_->FailedRanks(bool(s));
  if (!s) return s;
  if (!failed.empty()) {
    std::string list;
    for (int r : failed) list += (list.empty() ? "" : ", ") + std::to_string(r);
    return Status::Error("rank " + list + " failed to start (see its messages): rank " + std::to_string(rank_) +
                         " stops too");
  }
  torch::NoGradGuard no_grad;
  dist_->Broadcast(flat_.flat());
  for (torch::Tensor& b : net_->buffers()) dist_->Broadcast(b);
  for (torch::Tensor& t : adam_.StateTensors()) dist_->Broadcast(t);
  torch::Tensor run = torch::tensor({double(st_.epoch), st_.best_val_loss, double(st_.best_epoch), double(st_.bad_epochs)},
                                    torch::kDouble).to(device_);
  dist_->Broadcast(run);
  run = run.cpu();
  st_.epoch = int(run[0].item<double>());
  st_.best_val_loss = run[1].item<double>();
  st_.best_epoch = int(run[2].item<double>());
  st_.bad_epochs = int(run[3].item<double>());
  dist_->AttachGradients(flat_.params(), flat_.offsets(), flat_.grad(), int64_t(o_.dist_bucket_kb) * 1024);
  return Status::Ok();
}

Status Trainer::Setup() {
  if (o_.threads > 0) torch::set_num_threads(o_.threads);
  if (!device_.is_cuda()) {
    // Each step's activations and gradients are freed and allocated again: keep them mapped
    // (cpu_memory.h; 7-9x faster epochs on the dev machine).
    const CpuMemoryPolicy mem = KeepFreedMemoryForReuse();
    if (mem.applied)
      spdlog::debug("cpu: freed tensor memory stays in the process for the next step (malloc: no mmap, no trim)");
    else
      spdlog::info("cpu: malloc left as it is ({}): training may spend much of its time in page faults", mem.reason);
  } else {
    // Fixed shapes all run long: let cuDNN time its algorithms once per shape.
    at::globalContext().setBenchmarkCuDNN(true);
    at::globalContext().setAllowTF32CuDNN(o_.tf32);
    at::globalContext().setAllowTF32CuBLAS(o_.tf32);
  }
  log_dir_ = o_.log_dir.empty() ? (stdfs::path(o_.out_dir) / "logs").string() : o_.log_dir;
  std::vector<size_t> tr = TrainingIndices(pack_, o_.limit);
  std::vector<size_t> va = pack_.Indices(o_.val_split == "test" ? pack::kTest : pack::kVal);
  if (tr.empty()) return BadInput("pack " + o_.pack_path + ": no training images");
  std::vector<size_t> per_class(pack_.class_names.size(), 0);
  for (size_t i : tr) ++per_class[pack_.labels[i]];
  std::string missing;
  for (size_t k = 0; k < per_class.size(); ++k)
    if (per_class[k] == 0) missing += (missing.empty() ? "" : ", ") + pack_.class_names[k];
  if (!missing.empty() && !o_.allow_one_class)
    return BadInput("pack " + o_.pack_path + ": the training split holds no " + missing + " image (" +
                    std::to_string(tr.size()) + " images of the other classes); a classifier learns nothing of a "
                    "class it never sees. --allow-one-class trains anyway (say, a fine-tune on corrections of one class)");
  if (!missing.empty())
    spdlog::warn("pack {}: the training split holds no {} image: --allow-one-class given, training anyway", o_.pack_path,
                 missing);
  // A fine-tune pack of a handful of marked frames may have no validation split: then the
  // training loss picks best.pt and nothing is validated (val_loss is null in history.jsonl).
  if (va.empty() && o_.val_split == "test")
    return BadInput("pack " + o_.pack_path + ": no images in the 'test' split to validate on (--val-split test)");
  if (va.empty())
    spdlog::warn("pack {}: no images in the '{}' split: training without validation (best.pt follows the "
                 "training loss)", o_.pack_path, o_.val_split);
  train_ = ToDevice(pack_, tr, device_);
  val_ = ToDevice(pack_, va, device_);
  {
    const std::vector<size_t> val_per_class = pack_.ClassCounts(o_.val_split == "test" ? pack::kTest : pack::kVal);
    val_largest_ = int64_t(*std::max_element(val_per_class.begin(), val_per_class.end()));
  }
  // Golden inputs for the export: a constant image and the first validation image of each class.
  const int S = pack_.size;
  std::vector<uint8_t> gray(size_t(S) * S, 128);
  // In the model format's one golden schema (tfjs_format.h), which export reads back.
  auto golden = [&](std::string name, std::vector<uint8_t> px) {
    golden_.push_back(json::parse(tfjs::GoldenToJson(tfjs::GrayGolden(std::move(name), S, std::move(px)))));
  };
  golden("constant 128", std::move(gray));
  for (size_t label = 0; label < pack_.class_names.size(); ++label) {
    for (size_t i : va.empty() ? tr : va) {
      if (pack_.labels[i] != label) continue;
      std::string desc = pack_.class_names[label] + (va.empty() ? " training image" : " validation image");
      if (i < pack_.paths.size()) desc += " " + pack_.paths[i];
      golden(desc, std::vector<uint8_t>(pack_.image(i), pack_.image(i) + size_t(S) * S));
      break;
    }
  }
  Status s = BuildNet(*arch_, S, &net_);
  if (!s) return s;
#if CATDOG_FUSED_CUDA
  fused_ = o_.fused_kernels && device_.is_cuda();
#endif
  net_->set_fused_kernels(fused_);
  if (!writer()) return Status::Ok();  // [dist] the other ranks write nothing
  std::error_code ec;
  stdfs::create_directories(o_.out_dir, ec);
  if (ec) return Status::Error(o_.out_dir + ": cannot create the output directory: " + ec.message());
  s = lock_.Lock(o_.out_dir, "another `catdog train` is writing to this directory");
  if (!s) return BadInput(s.message());
  size_t removed = 0;
  s = RemoveRunTemps(o_.out_dir, log_dir_, o_.export_dir, &removed);
  if (!s) return s;
  if (removed) spdlog::info("{}: removed {} staging folder(s) an interrupted run left", o_.out_dir, removed);
  if (!o_.resume) {
    // A fresh run never mixes with an earlier one (its TensorBoard events, history, best.pt).
    // Checkpoints are a user's results: replaced only with --force. A run killed before its first
    // checkpoint left nothing worth keeping (run.json, empty logs): that is cleared with a note.
    const std::vector<std::string> old = RunFiles(o_.out_dir, log_dir_);
    std::error_code ec2;
    const bool has_checkpoint = stdfs::exists(stdfs::path(o_.out_dir) / "last.pt", ec2) ||
                                stdfs::exists(stdfs::path(o_.out_dir) / "best.pt", ec2);
    if (has_checkpoint && !o_.force) {
      std::string list;
      for (size_t i = 0; i < old.size() && i < 4; ++i) list += (i ? ", " : "") + stdfs::path(old[i]).filename().string();
      return BadInput("--out " + o_.out_dir + " holds a previous run (" + list + (old.size() > 4 ? ", ..." : "") +
                      "): --resume continues it, --force deletes it first, or choose another --out");
    }
    for (const std::string& f : old) {
      stdfs::remove(f, ec2);
      if (ec2) return Status::Error(f + ": cannot remove the previous run's file: " + ec2.message());
    }
    if (!old.empty())
      spdlog::warn("{}: deleted {} file(s) of a previous run ({})", o_.out_dir, old.size(),
                   has_checkpoint ? "--force" : "it never finished an epoch");
  }
  return Status::Ok();
}

int MetaEpoch(const json& meta, const char* key) {
  if (!meta.is_object()) return 0;
  auto it = meta.find(key);
  return it != meta.end() && it->is_number() ? int(it->get<double>()) : 0;
}

Status Trainer::Resume() {
  const std::string path = (stdfs::path(o_.out_dir) / "last.pt").string();
  std::error_code ec;
  if (!stdfs::exists(path, ec)) return BadInput("--resume: " + path + " does not exist (nothing to resume)");
  Checkpoint ck;
  AdamState adam;
  Status s = LoadCheckpointFile(path, &ck, &adam);
  if (!s) return BadInput("--resume: " + s.message());  // not a checkpoint (or a FIFO, a device): the user's file
  json meta = json::parse(ck.meta_json, nullptr, false);
  if (ck.arch.name != arch_->name)
    return BadInput("--resume: " + path + " is a '" + ck.arch.name + "' run, not '" + arch_->name + "'");
  if (ck.input_size != pack_.size)
    return BadInput("--resume: " + path + " has input size " + std::to_string(ck.input_size) + ", the pack " +
                    std::to_string(pack_.size));
  if (adam.step < 0) return Status::Error("--resume: " + path + " has no optimizer state");
  // [dist] the shards and the global batch depend on the number of processes.
  const int saved_world = MetaEpoch(meta, "world_size") > 0 ? MetaEpoch(meta, "world_size") : 1;
  if (saved_world != world_)
    return BadInput("--resume: " + path + " was trained by " + std::to_string(saved_world) +
                    " process(es) (WORLD_SIZE), this run has " + std::to_string(world_) +
                    ": the global batch and each rank's shard depend on it. Resume with WORLD_SIZE=" +
                    std::to_string(saved_world) + ", or start a fresh run in another --out");
  std::string hash;
  if (meta.contains("pack") && meta["pack"].is_object() && meta["pack"].contains("content_hash") &&
      meta["pack"]["content_hash"].is_string())
    hash = meta["pack"]["content_hash"].get<std::string>();
  if (meta.is_object() && meta.contains("labels") && meta["labels"].is_array() &&
      meta["labels"] != json(pack_.class_names))
    return BadInput("--resume: " + path + " was trained on the classes " + meta["labels"].dump() + ", pack " +
                    o_.pack_path + " has " + json(pack_.class_names).dump() +
                    ": resume with the same pack, or start a fresh run in another --out");
  if (hash != pack_.content_hash)
    return BadInput("--resume: " + path + " was trained on pack " + (hash.empty() ? "(unknown)" : hash) + ", --pack " +
                    o_.pack_path + " is " + pack_.content_hash +
                    ": resume with the same pack, or start a fresh run in another --out");
  // best.pt is the run's result; a resume that cannot have one must not end "done" without it.
  const std::string best = (stdfs::path(o_.out_dir) / "best.pt").string();
  Checkpoint best_ck;
  if (MetaEpoch(meta, "best_epoch") != MetaEpoch(meta, "epoch") && !ReadCheckpoint(best, &best_ck))
    return BadInput("--resume: " + best + " is missing or unreadable and last.pt names epoch " +
                    std::to_string(MetaEpoch(meta, "best_epoch")) + " as the best, whose weights only best.pt held: "
                    "restore it, or start a fresh run (--force, or another --out)");
  s = CopyIntoNet(ck, net_);
  if (!s) return Status::Error(path + ": " + s.message());
  RecoveryReport rec;
  s = RecoverRunDir(o_.out_dir, log_dir_, ck, &rec);
  if (!s) return BadInput("--resume: " + s.message());  // not a checkpoint (or a FIFO, a device): the user's file
  if (rec.history_rewritten) spdlog::info("--resume: history.jsonl rewritten from last.pt");
  if (rec.best_rewritten) spdlog::info("--resume: best.pt rewritten from last.pt (the run stopped between the two)");
  if (rec.event_files_repaired)
    spdlog::info("--resume: {} TensorBoard event file(s) cut back to the checkpoint", rec.event_files_repaired);
  if (!rec.warning.empty()) spdlog::warn("--resume: {}", rec.warning);
  // A resumed fine-tune keeps naming its source model even when --finetune is not repeated.
  if (o_.finetune_json.empty() && meta.is_object() && meta.contains("run_card") && meta["run_card"].is_object() &&
      meta["run_card"].contains("finetuned_from"))
    o_.finetune_json = meta["run_card"]["finetuned_from"].dump();
  auto num = [&](const char* key, double def) {
    auto it = meta.find(key);
    return it != meta.end() && it->is_number() ? it->get<double>() : def;
  };
  st_.epoch = int(num("epoch", 0));
  st_.best_val_loss = num("best_val_loss", double(INFINITY));
  st_.best_epoch = int(num("best_epoch", 0));
  st_.bad_epochs = int(num("bad_epochs", 0));
  if (meta.contains("history") && meta["history"].is_array())
    for (const json& e : meta["history"])
      if (e.is_object()) st_.history.push_back(StatsFromJson(e));
  if (meta.contains("started_at") && meta["started_at"].is_string()) started_at_ = meta["started_at"];
  net_->to(device_);
  flat_.Init(net_);
  adam_.Init(&flat_, o_.lr);
  adam.m = adam.m.to(device_);
  adam.v = adam.v.to(device_);
  s = adam_.Load(adam);
  if (!s) return Status::Error(path + ": " + s.message());
  spdlog::info("resuming {} from epoch {} (best val_loss {:.4f} at epoch {})", path, st_.epoch, st_.best_val_loss,
               st_.best_epoch);
  return Status::Ok();
}

// Precise BatchNorm (train.h precise_bn): the eval-mode statistics recomputed from training
// images under the current weights. Each BatchNorm layer's running mean and variance become the
// plain average over the batches of its training-mode batch statistics (torch's cumulative
// average: momentum unset), batches of the training batch size so the variance is the one the
// training steps normalised with. Other layers run in eval mode (no dropout). The tensors are
// written in place, so a captured CUDA graph keeps its addresses.
void Trainer::RecomputeBatchNorm() {
  std::vector<torch::nn::BatchNorm2d> bns = net_->batch_norms();
  if (bns.empty() || o_.precise_bn <= 0 || train_.n == 0) return;
  torch::NoGradGuard no_grad;
  const int64_t n = std::min<int64_t>(o_.precise_bn, train_.n);
  // Evenly spaced over the split (packs are sorted by class: both classes, in their proportions).
  torch::Tensor idx = torch::arange(n, torch::TensorOptions().dtype(torch::kDouble))
                          .mul_(double(train_.n) / double(n))
                          .floor_()
                          .to(torch::kLong)
                          .to(device_);
  net_->eval();
  std::vector<c10::optional<double>> momenta;
  for (auto& bn : bns) {
    momenta.push_back(bn->options.momentum());
    bn->reset_running_stats();
    bn->options.momentum(c10::nullopt);
    bn->train();
  }
  const int64_t b = std::max<int64_t>(1, std::min<int64_t>(o_.batch, n));
  // Whole batches only (a short last batch would count as much as a full one), unless n < batch.
  const int64_t batches = std::max<int64_t>(1, n / b);
  for (int64_t i = 0; i < batches; ++i) {
    const int64_t len = std::min<int64_t>(b, n - i * b);
    if (len < 2) break;  // a variance needs two images
    torch::Tensor x = Batch(train_, idx.narrow(0, i * b, len));
    if (o_.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    AutocastScope ac(o_.bf16, device_);
    net_->forward(x);
  }
  for (size_t i = 0; i < bns.size(); ++i) {
    bns[i]->options.momentum(momenta[i]);
    bns[i]->eval();
  }
}

Trainer::ValResult Trainer::Evaluate(const DeviceData& d) {
  if (d.n == 0) return {};  // no validation split
  net_->eval();
  torch::NoGradGuard no_grad;
  auto opts = torch::TensorOptions().device(device_);
  torch::Tensor loss_sum = torch::zeros({}, opts.dtype(torch::kDouble));
  torch::Tensor correct = torch::zeros({}, opts.dtype(torch::kLong));
  torch::Tensor p_sum = torch::zeros({}, opts.dtype(torch::kDouble));
  torch::Tensor p_sq = torch::zeros({}, opts.dtype(torch::kDouble));
  // On the CPU, batches of 32: at 256 each activation is hundreds of MB (catnet's first: 328 MB) and
  // the pass runs from memory instead of cache (2,998 photos: 8.9 s at 256, 5.6 s at 32 on dev).
  const int64_t eb = device_.is_cuda() ? o_.eval_batch : std::min<int64_t>(o_.eval_batch, 32);
  for (int64_t start = 0; start < d.n; start += eb) {
    const int64_t len = std::min<int64_t>(eb, d.n - start);
    torch::Tensor x = d.x.narrow(0, start, len).to(torch::kFloat).mul_(1.0 / 255.0);
    if (o_.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    torch::Tensor logits;
    {
      AutocastScope ac(o_.bf16, device_);
      logits = net_->forward(x).to(torch::kFloat);
    }
    torch::Tensor y = d.y.narrow(0, start, len);
    loss_sum.add_(ClassLoss(logits, y, 0, at::Reduction::Sum));
    correct.add_(Predicted(logits).eq(d.y_class.narrow(0, start, len)).sum());
    // The spread of the outputs: of P for a sigmoid; for a softmax, of each class's P (summed
    // over images per class here, averaged over the classes below).
    torch::Tensor p = Probs(logits).to(torch::kDouble);
    p_sum = p_sum.add(MultiClass(logits) ? p.sum(0) : p.sum());
    p_sq = p_sq.add(MultiClass(logits) ? p.square().sum(0) : p.square().sum());
  }
  ValResult r;
  r.loss = loss_sum.item<double>() / double(d.n);
  r.accuracy = double(correct.item<int64_t>()) / double(d.n);
  torch::Tensor mean = p_sum / double(d.n);
  r.spread = std::sqrt(std::max(0.0, (p_sq / double(d.n) - mean.square()).mean().item<double>()));
  return r;
}

LearningCheck Trainer::Judge(const EpochStats& e) const {
  return JudgeLearningLargest(val_.n, val_largest_, e.val_accuracy, e.val_spread);
}

// Says so, during training, when validation stays at chance while the training accuracy climbs,
// or when the outputs have collapsed to one value.
void Trainer::WarnIfNotLearning(const EpochStats& e) const {
  const LearningCheck c = Judge(e);
  if (!c.known) return;
  if (c.collapsed && Remind(e.epoch))
    spdlog::warn("epoch {}: the model gives nearly the same P(dog) to every validation image (spread {:.4f}): "
                 "it tells nothing apart yet", e.epoch, c.spread);
  else if (!c.beats_chance && e.accuracy > c.chance + 0.1 && !BeatChanceBefore() && Remind(e.epoch))
    spdlog::warn("epoch {}: {} while training accuracy is {:.1f}%: nothing learned so far holds on images the model "
                 "has not seen", e.epoch, c.Describe(), 100 * e.accuracy);
}

// The first time, then at most every 10th epoch: a warning a person reads, not a wall of them.
bool Trainer::Remind(int epoch) const {
  if (last_warned_ > 0 && epoch - last_warned_ < 10) return false;
  last_warned_ = epoch;
  return true;
}

// Whether an earlier epoch of the run beat chance (one noisy epoch after that is no news).
bool Trainer::BeatChanceBefore() const {
  for (size_t i = 0; i + 1 < st_.history.size(); ++i)
    if (Judge(st_.history[i]).beats_chance) return true;
  return false;
}

json Trainer::Meta() const {
  json hist = json::array();
  for (const EpochStats& e : st_.history) hist.push_back(StatsJson(e));
  json m;
  m["epoch"] = st_.epoch;
  m["history"] = hist;
  m["best_val_loss"] = std::isfinite(st_.best_val_loss) ? json(st_.best_val_loss) : json(nullptr);
  m["best_epoch"] = st_.best_epoch;
  m["bad_epochs"] = st_.bad_epochs;
  m["seed"] = o_.seed;
  m["world_size"] = world_;
  m["rng"] = "reseeded per epoch from (seed, epoch)";
  m["started_at"] = started_at_;
  m["pack"] = {{"path", o_.pack_path}, {"content_hash", pack_.content_hash}, {"size", pack_.size},
               {"fit", pack_.fit}, {"gray", pack_.gray}};
  m["golden_images"] = golden_;
  m["labels"] = pack_.class_names;  // export writes them into the model; resume checks them
  m["run_card"] = RunCard("running");
  return m;
}

json Trainer::RunCard(const std::string& status) const {
  json c;
  c["arch"] = arch_->name;
  c["arch_description"] = arch_->description;
  c["augment"] = o_.augment;
  c["epochs"] = o_.epochs;
  c["batch"] = o_.batch;
  c["world_size"] = world_;  // [dist] batch is per rank; the global batch is batch x world_size
  c["global_batch"] = int64_t(o_.batch) * world_;
  if (dist_) c["distributed_backend"] = dist_->backend();
  c["lr"] = o_.lr;
  c["optimizer"] = {{"name", "adam"}, {"beta_1", kAdamBeta1}, {"beta_2", kAdamBeta2}, {"epsilon", kAdamEpsilon}};
  c["loss"] = pack_.classes() == 2 ? "binary_crossentropy" : "categorical_crossentropy";
  c["labels"] = pack_.class_names;
  c["seed"] = o_.seed;
  c["device"] = device_.str();
  c["bf16"] = o_.bf16;
  c["channels_last"] = o_.channels_last;
  c["tf32"] = o_.tf32;
  c["cuda_graph"] = graph_ && graph_->used();
  c["fused_kernels"] = fused_;
  c["lr_schedule"] = o_.lr_schedule;
  c["warmup_epochs"] = o_.warmup_epochs;
  c["label_smoothing"] = o_.label_smoothing;
  c["random_erase"] = o_.random_erase;
  c["photometric"] = o_.photometric;
  c["ema"] = o_.ema;
  c["corrupt"] = o_.corrupt;
  if (o_.outliers > 0) c["outlier_exposure"] = {{"fraction", o_.outliers}, {"weight", kOutlierWeight}, {"kinds", "jigsaw 3/4, smooth 1/4"}};
  if (!o_.teachers.empty()) {
    c["distillation"] = {{"alpha", o_.distill_alpha}, {"temperature", o_.distill_temp},
                         {"teachers", json::parse(o_.teachers_json.empty() ? "[]" : o_.teachers_json, nullptr, false)}};
  }
  c["patience"] = o_.patience;
  c["until_loss"] = o_.until_loss;
  c["limit"] = o_.limit;
  c["val_split"] = o_.val_split;
  if (!o_.finetune_json.empty()) c["finetuned_from"] = json::parse(o_.finetune_json, nullptr, false);
  c["pack"] = {{"path", o_.pack_path}, {"content_hash", pack_.content_hash}, {"train_images", train_.n},
               {"val_images", val_.n}, {"size", pack_.size}, {"fit", pack_.fit}, {"gray", pack_.gray},
               {"seed", pack_.seed}};
  c["libtorch"] = TORCH_VERSION;
  c["status"] = status;
  c["epochs_run"] = st_.epoch;
  c["stop_reason"] = stop_reason_;
  c["best_epoch"] = st_.best_epoch;
  c["precise_bn_images"] = !net_.is_empty() && !net_->batch_norms().empty() ? std::min<int64_t>(o_.precise_bn, train_.n) : 0;
  if (st_.best_epoch > 0 && size_t(st_.best_epoch) <= st_.history.size()) {
    c["best"] = StatsJson(st_.history[size_t(st_.best_epoch) - 1]);
    // The checkpoint that ships (best.pt) judged on the validation split (learning_check.h).
    c["learning_check"] = Judge(st_.history[size_t(st_.best_epoch) - 1]).ToJson();
  }
  if (!st_.history.empty()) c["final"] = StatsJson(st_.history.back());
  // seconds: whole epochs (validation included); images_per_s: training phase only.
  double secs = 0, train_secs = 0, imgs = 0;
  for (const EpochStats& e : st_.history) {
    secs += e.seconds;
    if (e.images_per_s > 0) {
      train_secs += double(train_.n) / e.images_per_s;
      imgs += double(train_.n);
    }
  }
  c["timing"] = {{"epochs_seconds", secs},
                 {"mean_epoch_seconds", st_.history.empty() ? 0.0 : secs / double(st_.history.size())},
                 {"train_phase_seconds", train_secs},
                 {"images_per_s", train_secs > 0 ? imgs / train_secs : 0.0}};
  c["started_at"] = started_at_;
  c["updated_at"] = IsoNow();
  return c;
}

Status Trainer::WriteHistory() const {
  std::string text;
  for (const EpochStats& e : st_.history) text += StatsJson(e).dump() + "\n";
  return fs::WriteFileAtomic((stdfs::path(o_.out_dir) / "history.jsonl").string(), text);
}

Status Trainer::SaveEpoch(bool improved) {
  const std::string meta = Meta().dump();
  Status s;
  // last.pt first: a kill between the two leaves best.pt one improvement behind, which --resume
  // repairs from last.pt (recovery.h); the other order could leave a best.pt from an epoch that
  // last.pt never reached.
  s = SaveCheckpointFile((stdfs::path(o_.out_dir) / "last.pt").string(), net_, *arch_, pack_.size, meta,
                         &adam_.state());
  if (!s) return s;
  if (improved) {
    SwapEma();  // best.pt holds the weights that were validated
    s = SaveCheckpointFile((stdfs::path(o_.out_dir) / "best.pt").string(), net_, *arch_, pack_.size, meta, nullptr);
    SwapEma();
    if (!s) return s;
  }
  s = WriteHistory();
  if (!s) return s;
  return fs::WriteFileAtomic((stdfs::path(o_.out_dir) / "run.json").string(), RunCard("running").dump(2) + "\n");
}

// A fresh run: Keras' initialisation (or the --finetune model's weights), a new optimiser.
Status Trainer::Start() {
  started_at_ = IsoNow();
  torch::manual_seed(o_.seed);
  if (o_.init) {
    Status s = CopyIntoNet(*o_.init, net_);  // --finetune: the shipped model's weights
    if (!s) return Status::Error("--finetune: " + s.message());
  } else {
    KerasInit(net_);
  }
  net_->to(device_);
  flat_.Init(net_);
  adam_.Init(&flat_, o_.lr);
  return Status::Ok();
}

// The weight average, the TensorBoard writers, the step and its CUDA graph.
Status Trainer::PrepareSteps() {
  if (o_.ema > 0) {
    // A resumed run restarts the average from the resumed weights (last.pt holds no average).
    if (o_.resume) spdlog::warn("--ema with --resume: the weight average restarts from last.pt's weights");
    ema_ = flat_.flat().detach().clone();
    ema_swap_ = torch::empty_like(ema_);
  }
  if (writer()) {  // [dist] rank 0 alone writes the events
    Status s = tb_train_.Open((stdfs::path(log_dir_) / "train").string());
    if (!s) return s;
    s = tb_val_.Open((stdfs::path(log_dir_) / "validation").string());
    if (!s) return s;
  }
  step_ = std::make_unique<TrainStep>(o_, device_, train_, net_, flat_, adam_, ema_, fused_);
  step_->dist = dist_.get();
  for (const auto& ck : o_.teachers) {  // frozen, eval mode (BatchNorm statistics, no dropout)
    Net t{nullptr};
    Status s = BuildNet(ck->arch, ck->input_size, &t);
    if (s) s = CopyIntoNet(*ck, t);
    if (!s) return BadInput("--teacher: " + s.message());
    t->set_fused_kernels(fused_);
    t->to(device_);
    t->eval();
    for (auto& p : t->parameters()) p.set_requires_grad(false);
    step_->teachers.push_back(t);
  }
  TrainStep* step = step_.get();
  // [dist] not captured: the bucket hooks decide on the host when each all-reduce starts.
  if (dist_ && o_.cuda_graph && device_.is_cuda()) spdlog::info("distributed training: CUDA graphs off (eager steps)");
  graph_ = std::make_unique<GraphStep>([step](const torch::Tensor& idx, int64_t len) { (*step)(idx, len); },
                                       o_.cuda_graph && device_.is_cuda() && !dist_, o_.batch, o_.bf16);
  return Status::Ok();
}

// Writes run.json's failed status and returns the error.
Status Trainer::Fail(const std::string& status, const std::string& message) {
  stop_reason_ = "diverged";
  if (writer())  // [dist]
    fs::WriteFileAtomic((stdfs::path(o_.out_dir) / "run.json").string(), RunCard(status).dump(2) + "\n");
  return Status::Error(message);
}

// One epoch: its steps in the epoch's order, then validation. Non-finite losses stop the run.
Status Trainer::TrainEpoch(int epoch, EpochStats* out) {
  auto te = Clock::now();
  torch::manual_seed(EpochSeed(o_.seed, epoch));
  net_->train();
  const double lr = LearningRate(o_, epoch);
  adam_.SetLr(lr);
  step_->ZeroSums();
  // [dist] a step takes the next global batch of the order; this rank trains on its slice.
  const int64_t global_batch = int64_t(o_.batch) * world_;
  const int64_t steps = (train_.n + global_batch - 1) / global_batch;
  torch::Tensor order = EpochOrder(train_.n, device_);
  // [dist] the same permutation on every rank; augmentation and dropout draw per rank.
  if (dist_) torch::manual_seed(RankEpochSeed(o_.seed, epoch, rank_));
  // [dist] one progress bar: rank 0's (under torchrun every rank may have the terminal).
  ProgressBar bar(writer() && ProgressWanted(o_.progress), epoch, o_.epochs, steps);
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t gstart = step * global_batch, glen = std::min<int64_t>(global_batch, train_.n - gstart);
    const int64_t start = std::min<int64_t>(gstart + int64_t(rank_) * o_.batch, gstart + glen);
    const int64_t len = std::min<int64_t>(o_.batch, gstart + glen - start);
    step_->grad_scale = double(len) / double(glen);  // this rank's images / the global batch's
    if (len == 0) {
      step_->EmptyStep();
    } else {
      torch::Tensor idx = order.narrow(0, start, len);
      if (!graph_->Run(idx, len)) (*step_)(idx, len);
    }
    bar.Update(step + 1, gstart + glen);
  }
  bar.Done();
  step_->ReduceSums();  // [dist] every rank's sums: the epoch's loss and accuracy over all its images
  EpochStats e;
  e.epoch = epoch;
  e.loss = step_->MeanLoss();  // the one sync of the epoch
  e.accuracy = step_->Accuracy();
  // Training throughput: the read above waited for the device, validation is not counted.
  const double train_seconds = std::chrono::duration<double>(Clock::now() - te).count();
  if (!std::isfinite(e.loss))
    return Fail("failed: non-finite training loss at epoch " + std::to_string(epoch),
                "epoch " + std::to_string(epoch) + ": training loss is " + std::to_string(e.loss) +
                    " (diverged; try a lower --lr than " + std::to_string(o_.lr) + "). Stopped; " +
                    (st_.epoch > 0 ? "last.pt/best.pt keep epoch " + std::to_string(st_.epoch)
                                   : std::string("no checkpoint was written")) + ".");
  ValResult v;
  if (writer()) {  // [dist] rank 0 validates on the whole split and tells the others
    SwapEma();  // validate the averaged weights, with BatchNorm statistics of their own
    RecomputeBatchNorm();
    v = Evaluate(val_);
    SwapEma();
  }
  if (dist_) {
    torch::Tensor t = torch::tensor({v.loss, v.accuracy, v.spread}, torch::kDouble).to(device_);
    dist_->Broadcast(t);
    t = t.cpu();
    v.loss = t[0].item<double>();
    v.accuracy = t[1].item<double>();
    v.spread = t[2].item<double>();
  }
  e.val_loss = v.loss;
  e.val_accuracy = v.accuracy;
  e.val_spread = v.spread;
  e.lr = lr;
  e.seconds = std::chrono::duration<double>(Clock::now() - te).count();
  e.images_per_s = train_seconds > 0 ? double(train_.n) / train_seconds : 0;
  if (val_.n > 0 && !std::isfinite(e.val_loss))
    return Fail("failed: non-finite validation loss at epoch " + std::to_string(epoch),
                "epoch " + std::to_string(epoch) + ": validation loss is " + std::to_string(e.val_loss) +
                    " (diverged). Stopped; checkpoints keep the last good epoch.");
  *out = e;
  return Status::Ok();
}

// Adds the epoch to the run's state; true when it is the best so far (validation loss, or the
// training loss without a validation split).
bool Trainer::Record(const EpochStats& e) {
  st_.history.push_back(e);
  st_.epoch = e.epoch;
  const double criterion = val_.n > 0 ? e.val_loss : e.loss;
  const bool improved = criterion < st_.best_val_loss;
  if (improved) {
    st_.best_val_loss = criterion;
    st_.best_epoch = e.epoch;
    st_.bad_epochs = 0;
  } else {
    ++st_.bad_epochs;
  }
  return improved;
}

bool Trainer::ShouldStop(const EpochStats& e) {
  const std::string reason = StopRule(o_, e, st_.bad_epochs);
  if (reason.empty()) return false;
  stop_reason_ = reason;
  if (reason == "until-loss")
    spdlog::info("training loss {:.4f} <= --until-loss {}: stopping", e.loss, o_.until_loss);
  else
    spdlog::info("val_loss has not improved for {} epochs (best {:.4f} at epoch {}): stopping", st_.bad_epochs,
                 st_.best_val_loss, st_.best_epoch);
  return true;
}

Status Trainer::Finish(TrainResult* result) {
  if (writer() && st_.best_epoch > 0 && size_t(st_.best_epoch) <= st_.history.size()) {
    const LearningCheck c = Judge(st_.history[size_t(st_.best_epoch) - 1]);
    if (c.known && !c.beats_chance)
      spdlog::warn("best.pt (epoch {}) does not beat chance: {}. It has learned nothing that holds on new photos; "
                   "export and quantize refuse it without --allow-chance (train longer, on more photos, or with a "
                   "lower --lr)", st_.best_epoch, c.Describe());
    result->learning = c;
  }
  Status s;  // [dist] rank 0 alone writes run.json and has best.pt
  if (writer()) s = fs::WriteFileAtomic((stdfs::path(o_.out_dir) / "run.json").string(), RunCard("finished").dump(2) + "\n");
  if (!s) return s;
  std::error_code ec;
  if (writer() && !stdfs::exists(stdfs::path(o_.out_dir) / "best.pt", ec))
    return Status::Error((stdfs::path(o_.out_dir) / "best.pt").string() + " was not written: the run has no result");
  result->history = st_.history;
  result->stop_reason = stop_reason_;
  result->best_epoch = st_.best_epoch;
  result->best_val_loss = st_.best_val_loss;
  result->seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
  result->device = device_.str();
  result->rank = rank_;
  result->world_size = world_;
  return Status::Ok();
}

Status Trainer::Run(TrainResult* result) {
  t0_ = Clock::now();
  Status s = Validate();
  if (!s) return s;
  s = StartDistributed();
  if (!s) return s;
  s = Setup();
  if (!s) return SyncStart(s);
  if (o_.resume && writer()) {  // [dist] rank 0 reads last.pt and broadcasts it
    s = Resume();
  } else {
    s = Start();
    if (!s) return s;
  }
  s = SyncStart(s);  // [dist] every rank set up, then rank 0's weights and state everywhere
  if (!s) return s;
  s = PrepareSteps();
  if (!s) return s;
  const int64_t global_batch = int64_t(o_.batch) * world_;  // [dist] batch is per rank
  spdlog::info("training {} (augment {}) on {}: {} train / {} {} images, batch {}{}, {} steps/epoch, {} parameters",
               arch_->name, o_.augment ? "on" : "off", device_.str(), train_.n, val_.n, o_.val_split, o_.batch,
               dist_ ? fmt::format(" per rank x {} ranks = {}", world_, global_batch) : "",
               (train_.n + global_batch - 1) / global_batch, flat_.numel());
  if (!o_.init && !o_.resume && train_.n < 1000)
    spdlog::info("{} training images: a model trained from scratch learns little from so few; fine-tuning a shipped "
                 "model (--finetune MODEL_DIR) starts from what it learned on thousands (README, \"Training on a "
                 "laptop\")", train_.n);
  stop_reason_ = "epochs";
  if (st_.epoch >= o_.epochs) spdlog::info("already trained {} of {} epochs", st_.epoch, o_.epochs);
  while (st_.epoch < o_.epochs) {
    EpochStats e;
    s = TrainEpoch(st_.epoch + 1, &e);
    if (!s) return s;
    const bool improved = Record(e);
    // TensorBoard before the checkpoints: events of an epoch that a kill kept out of last.pt are
    // cut by --resume; the other order could lose an epoch's events for good.
    s = writer() ? LogEpochScalars(tb_train_, tb_val_, e, val_.n > 0) : Status::Ok();  // [dist]
    if (!s) return s;
    s = writer() ? SaveEpoch(improved) : Status::Ok();  // [dist]
    if (!s) return s;
    LogEpochLine(e, o_.epochs, improved);
    if (writer()) WarnIfNotLearning(e);
    if (ShouldStop(e)) break;
  }
  return Finish(result);
}

}  // namespace

Status Train(const pack::Pack& pack, const TrainOptions& options, TrainResult* result) {
  try {
    Trainer t(pack, options);
    return t.Run(result);
  } catch (const c10::Error& e) {
    return Status::Error(std::string("libtorch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Status::Error(std::string("training failed: ") + e.what());
  }
}

}  // namespace catdog::train
