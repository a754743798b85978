// Data-parallel training on c10d: one process per device, torchrun's environment,
// a c10d rendezvous store, Gloo on the CPU, NCCL on CUDA. The store: a c10d::FileStore in a private
// folder when CATDOG_RDZV_FILE names one (`catdog launch` sets it: one machine, no network, nobody
// else can join), else c10d::TCPStore at MASTER_ADDR:MASTER_PORT (rank 0 hosts it; it listens on
// every interface and has no authentication: README, "Security of a multi-machine run").
//
// What train.cpp does with it (the contract, documented in README "Training on several GPUs"):
// - every rank builds the same model; rank 0's parameters, buffers and Adam state are broadcast
//   before the first step (a resumed run: rank 0 alone reads last.pt);
// - global batch = per-rank --batch x WORLD_SIZE; each step takes the next global batch of the
//   epoch's seeded shuffle (the same permutation on every rank) and rank r trains on its slice
//   [r*batch, (r+1)*batch): the shards of an epoch are disjoint and together are the epoch;
// - each rank's loss is scaled by (its images / the global batch's images) and gradients are
//   summed across ranks, so a step's gradient is the mean over the global batch, exactly as one
//   process with batch = the global batch (also for an epoch's last, short batch);
// - gradients are all-reduced in buckets (--dist-bucket-kb, default 1 MiB = DDP's first bucket;
//   its later ones are 25 MiB, more than the tutorial's models hold) of the flat gradient buffer,
//   each started from an autograd hook as soon as all its parameters' gradients are accumulated
//   (in bucket order, the same on every rank, as DDP does), so communication overlaps the rest of
//   the backward pass; FinishStep waits for all of them before the optimiser step;
// - augmentation, dropout and random erasing draw from a per-rank seed (seed, epoch, rank);
// - BatchNorm normalises with each rank's own batch (as DDP without SyncBatchNorm);
// - validation: rank 0 evaluates the whole validation split and broadcasts (val_loss,
//   val_accuracy); training loss/accuracy are all-reduced sums;
// - rank 0 alone writes checkpoints, history, run.json, TensorBoard events and the export.
// A failed or timed-out collective throws DistError naming this rank, the world size and the
// timeout: a dead or hung peer stops the others within --dist-timeout.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "catdog/catdog.h"

namespace catdog::train {

// The torchrun variables. Present when RANK or WORLD_SIZE is set.
struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr;
  int master_port = 0;
  std::string store_file;  // CATDOG_RDZV_FILE: the FileStore's path ("" = the TCPStore)
};
bool DistEnvPresent();
// Reads and validates RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT and CATDOG_RDZV_FILE.
// A missing or bad one is a "bad input:" Status naming the variable and its value. With
// CATDOG_RDZV_FILE, MASTER_ADDR and MASTER_PORT are not needed; its folder must be this user's and
// private (no group or other permissions), so nobody else can read or poison the rendezvous.
Status ReadDistEnv(DistEnv* out);
// The address Gloo's sockets listen on: 127.0.0.1 for a one-machine run (a file store, or a
// loopback MASTER_ADDR), "" otherwise (Gloo's default: the host name's address). GLOO_SOCKET_IFNAME
// overrides both, as in torch.distributed.
std::string GlooListenAddress(const DistEnv& env);
// A TCP port on 127.0.0.1 that nobody listens on now (the kernel's pick), -1 if none: the
// MASTER_PORT `catdog launch` gives its ranks (rank 0 binds it a moment later) and the tests'.
int FreeLoopbackPort();

struct DistError : std::runtime_error {
  using std::runtime_error::runtime_error;
};


class Distributed {
 public:
  // Rendezvous (blocks until all WORLD_SIZE ranks joined, at most `timeout`) and the process group:
  // NCCL when `device` is CUDA (where the build has it), else Gloo.
  static Status Start(const DistEnv& env, const torch::Device& device, std::chrono::seconds timeout,
                      std::unique_ptr<Distributed>* out);
  virtual ~Distributed() = default;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  const std::string& backend() const { return backend_; }

  // Collectives that wait (throw DistError on failure or timeout).
  virtual void Broadcast(torch::Tensor t) = 0;     // from rank 0, in place
  virtual void AllReduceSum(torch::Tensor t) = 0;  // in place
  // Each rank says whether its setup succeeded; returns the ranks that failed (all ranks agree).
  std::vector<int> FailedRanks(bool ok);

  // Gradient buckets over `flat_grad` (params are views of it at `offsets`, see FlatParams).
  // A bucket closes once it holds >= bucket_bytes (a parameter is never split).
  void AttachGradients(const std::vector<torch::Tensor>& params, const std::vector<int64_t>& offsets,
                       torch::Tensor flat_grad, int64_t bucket_bytes);
  // Call before each backward, then FinishStep after it (also on a rank with no images this step:
  // its zero gradients still join the sums).
  void BeginStep();
  void FinishStep();

 protected:
  Distributed(const DistEnv& env, std::string backend, std::chrono::seconds timeout, const torch::Device& device)
      : env_(env), backend_(std::move(backend)), timeout_(timeout), device_(device) {}
  virtual void StartAllReduce(size_t bucket, torch::Tensor t) = 0;  // async, SUM
  virtual void WaitAll() = 0;
  [[noreturn]] void Fail(const std::string& what, const std::exception& e) const;

 private:
  friend class GradReadyHook;
  void GradReady(size_t param);
  void LaunchReady();

  DistEnv env_;
  std::string backend_;

 protected:
  std::chrono::seconds timeout_;
  torch::Device device_;  // where collectives' tensors live (NCCL: this rank's GPU)

 private:
  struct Bucket {
    int64_t offset = 0, numel = 0;
    size_t params = 0, pending = 0;
  };
  std::vector<torch::Tensor> params_;
  std::vector<int64_t> offsets_;
  torch::Tensor grad_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;  // parameter -> bucket
  size_t next_launch_ = 0;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;  // keeps the hooks' nodes alive
};

}  // namespace catdog::train
