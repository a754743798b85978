// c10d process groups for data-parallel training (distributed.h). The c10d API moved between
// libtorch 1.13 (Debian, CI: ProcessGroupGloo derives from ProcessGroup) and 2.x (the GPU machine:
// from Backend); both return c10d::Work from their collectives, so one template covers them.
#include "distributed.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#if CATDOG_HAVE_C10D
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if CATDOG_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if CATDOG_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace catdog::train {

namespace {

Status BadEnv(const std::string& var, const char* value, const std::string& why) {
  return Status::Error("bad input: environment variable " + var + "=" + (value ? "'" + std::string(value) + "'" : "(unset)") +
                       ": " + why + " (set by torchrun or `catdog launch`)");
}

// A whole decimal integer in [lo, hi], or false.
bool ParseInt(const char* s, long lo, long hi, long* out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

bool DistEnvPresent() { return std::getenv("RANK") || std::getenv("WORLD_SIZE"); }

Status ReadDistEnv(DistEnv* out) {
  const char* world = std::getenv("WORLD_SIZE");
  const char* rank = std::getenv("RANK");
  const char* local = std::getenv("LOCAL_RANK");
  const char* addr = std::getenv("MASTER_ADDR");
  const char* port = std::getenv("MASTER_PORT");
  long v = 0;
  if (!ParseInt(world, 1, 65536, &v)) return BadEnv("WORLD_SIZE", world, "must be an integer in 1..65536");
  out->world_size = int(v);
  if (!ParseInt(rank, 0, out->world_size - 1, &v))
    return BadEnv("RANK", rank, "must be an integer in 0.." + std::to_string(out->world_size - 1));
  out->rank = int(v);
  // LOCAL_RANK picks the GPU on a node; torchrun always sets it, a hand-written script may not.
  out->local_rank = 0;
  if (local && !ParseInt(local, 0, out->world_size - 1, &v))
    return BadEnv("LOCAL_RANK", local, "must be an integer in 0.." + std::to_string(out->world_size - 1));
  if (local) out->local_rank = int(v);
  // A file store: one machine, no network (`catdog launch`). Its folder must be private.
  if (const char* file = std::getenv("CATDOG_RDZV_FILE"); file) {
    const std::string f = file;
    if (f.empty() || f[0] != '/' || f.back() == '/')
      return BadEnv("CATDOG_RDZV_FILE", file, "must be the absolute path of a file in a private folder");
    const size_t slash = f.rfind('/');
    const std::string dir = slash == 0 ? "/" : f.substr(0, slash);
    struct stat st{};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return BadEnv("CATDOG_RDZV_FILE", file, "its folder " + dir + " is not an existing folder");
    if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
      return BadEnv("CATDOG_RDZV_FILE", file,
                    "its folder " + dir + " (mode " + mode + ", owner uid " + std::to_string(st.st_uid) +
                        ") is not private to this user: others could read or poison the rendezvous; use a folder "
                        "of your own with mode 0700 (mktemp -d)");
    }
    if (::lstat(f.c_str(), &st) == 0 && (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()))
      return BadEnv("CATDOG_RDZV_FILE", file, "exists and is not a regular file of this user");
    out->store_file = f;
  }
  if (addr && *addr && std::string(addr).find_first_of(" \t\n/") == std::string::npos) {
    out->master_addr = addr;
  } else if (out->store_file.empty() || (addr && *addr)) {
    return BadEnv("MASTER_ADDR", addr, "must be the host name or address of rank 0");
  }
  if (ParseInt(port, 1, 65535, &v)) {
    out->master_port = int(v);
  } else if (out->store_file.empty() || (port && *port)) {
    return BadEnv("MASTER_PORT", port, "must be a TCP port in 1..65535");
  }
  return Status::Ok();
}

std::string GlooListenAddress(const DistEnv& env) {
  if (!env.store_file.empty()) return "127.0.0.1";
  const std::string& a = env.master_addr;
  if (a == "localhost" || a == "::1" || a.rfind("127.", 0) == 0) return "127.0.0.1";
  return "";
}

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

[[noreturn]] void Distributed::Fail(const std::string& what, const std::exception& e) const {
  std::string msg = e.what();
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) msg = c->what_without_backtrace();
  throw DistError("distributed training, rank " + std::to_string(env_.rank) + " of " + std::to_string(env_.world_size) +
                  " (" + backend_ + "): " + what + " failed: another rank died, or hung longer than --dist-timeout " +
                  std::to_string(timeout_.count()) + " s, or cannot be reached. " + msg);
}

std::vector<int> Distributed::FailedRanks(bool ok) {
  torch::Tensor flags = torch::zeros({world_size()}, torch::kInt);
  flags[rank()] = ok ? 0 : 1;
  flags = flags.to(device_);
  AllReduceSum(flags);
  flags = flags.cpu();
  std::vector<int> failed;
  for (int r = 0; r < world_size(); ++r)
    if (flags[r].item<int>()) failed.push_back(r);
  return failed;
}

// ---- gradient buckets ----------------------------------------------------------------------------

// Runs after autograd accumulated a parameter's gradient (a post hook on its AccumulateGrad node,
// as DDP's Reducer does; libtorch 1.13 has no register_post_accumulate_grad_hook).
class GradReadyHook : public torch::autograd::FunctionPostHook {
 public:
  GradReadyHook(Distributed* d, size_t param) : d_(d), param_(param) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    d_->GradReady(param_);
    return outputs;
  }

 private:
  Distributed* d_;
  size_t param_;
};

void Distributed::AttachGradients(const std::vector<torch::Tensor>& params, const std::vector<int64_t>& offsets,
                                  torch::Tensor flat_grad, int64_t bucket_bytes) {
  params_ = params;
  offsets_ = offsets;
  grad_ = flat_grad;
  // Backward produces gradients roughly from the last parameter to the first: buckets are filled
  // in that order, each a contiguous range of the flat buffer (no copies to all-reduce it).
  buckets_.clear();
  bucket_of_.assign(params_.size(), 0);
  const int64_t elem = int64_t(grad_.element_size());
  for (size_t k = params_.size(); k-- > 0;) {
    const int64_t n = params_[k].numel();
    if (buckets_.empty() || buckets_.back().numel * elem >= bucket_bytes) buckets_.push_back({});
    Bucket& b = buckets_.back();
    b.offset = offsets_[k];
    b.numel += n;
    ++b.params;
    bucket_of_[k] = buckets_.size() - 1;
  }
  accumulators_.clear();
  for (size_t k = 0; k < params_.size(); ++k) {
    std::shared_ptr<torch::autograd::Node> acc = torch::autograd::impl::grad_accumulator(params_[k]);
    acc->add_post_hook(std::make_unique<GradReadyHook>(this, k));
    accumulators_.push_back(std::move(acc));
  }
  spdlog::info("rank {}: {} gradient bucket(s) of >= {} KiB (but the last) for {} parameter tensors", rank(),
               buckets_.size(), bucket_bytes / 1024, params_.size());
}

void Distributed::BeginStep() {
  for (Bucket& b : buckets_) b.pending = b.params;
  next_launch_ = 0;
}

void Distributed::GradReady(size_t k) {
  // Autograd accumulates in place into the flat buffer's view; should a libtorch replace the
  // gradient tensor instead, copy it into its slot (as FlatParams::Gather does).
  torch::Tensor& p = params_[k];
  torch::Tensor slot = grad_.narrow(0, offsets_[k], p.numel());
  if (p.grad().defined() && p.grad().data_ptr() != slot.data_ptr()) {
    torch::NoGradGuard no_grad;
    slot.copy_(p.grad().reshape({-1}));
    p.mutable_grad() = slot.view(p.sizes());
  }
  Bucket& b = buckets_[bucket_of_[k]];
  if (b.pending > 0) --b.pending;
  LaunchReady();
}

// Buckets start in index order only, so every rank issues the same sequence of collectives.
void Distributed::LaunchReady() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    const Bucket& b = buckets_[next_launch_];
    StartAllReduce(next_launch_, grad_.narrow(0, b.offset, b.numel));
    ++next_launch_;
  }
}

void Distributed::FinishStep() {
  // Parameters that got no gradient this step (or a rank with no images): their zeros join.
  for (Bucket& b : buckets_) b.pending = 0;
  LaunchReady();
  WaitAll();
}

// ---- process groups -----------------------------------------------------------------------------

#if CATDOG_HAVE_C10D
namespace {

template <class PG>
class PgDistributed : public Distributed {
 public:
  PgDistributed(const DistEnv& env, std::string name, std::chrono::seconds timeout, const torch::Device& device,
                c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<PG> pg)
      : Distributed(env, std::move(name), timeout, device), store_(std::move(store)), pg_(std::move(pg)) {}

  void Broadcast(torch::Tensor t) override {
    try {
      std::vector<torch::Tensor> ts{t};
      c10d::BroadcastOptions o;
      o.rootRank = 0;
      pg_->broadcast(ts, o)->wait(timeout_);
    } catch (const std::exception& e) {
      Fail("a broadcast", e);
    }
  }
  void AllReduceSum(torch::Tensor t) override {
    try {
      std::vector<torch::Tensor> ts{t};
      pg_->allreduce(ts)->wait(timeout_);
    } catch (const std::exception& e) {
      Fail("an all-reduce", e);
    }
  }

 protected:
  void StartAllReduce(size_t, torch::Tensor t) override {
    try {
      std::vector<torch::Tensor> ts{t};
      pending_.push_back(pg_->allreduce(ts));
    } catch (const std::exception& e) {
      Fail("starting a gradient all-reduce", e);
    }
  }
  void WaitAll() override {
    try {
      for (auto& w : pending_) w->wait(timeout_);
      pending_.clear();
    } catch (const std::exception& e) {
      pending_.clear();
      Fail("a gradient all-reduce", e);
    }
  }

 private:
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<PG> pg_;
  std::vector<c10::intrusive_ptr<c10d::Work>> pending_;
};

}  // namespace
#endif

Status Distributed::Start(const DistEnv& env, const torch::Device& device, std::chrono::seconds timeout,
                          std::unique_ptr<Distributed>* out) {
#if !CATDOG_HAVE_C10D
  (void)env, (void)device, (void)timeout, (void)out;
  return Status::Error("bad input: this catdog was built without c10d (libtorch " TORCH_VERSION
                       " headers or libgloo-dev missing at build time): no distributed training");
#else
  const std::string where = "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size);
  // Under torchrun's agent (TORCHELASTIC_USE_AGENT_STORE=True) the store already runs there, as
  // for torch.distributed's env:// init; else rank 0 hosts it.
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  const bool file_store = !env.store_file.empty();
  const bool server = !file_store && env.rank == 0 && !(agent && std::string(agent) == "True");
  const std::string rendezvous = file_store ? "the private file " + env.store_file
                                            : env.master_addr + ":" + std::to_string(env.master_port);
  // A port another program listens on is named as such (it was reported as a timeout).
  if (server) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      const int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_ANY);
      a.sin_port = htons(uint16_t(env.master_port));
      const bool in_use = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno == EADDRINUSE;
      ::close(fd);
      if (in_use)
        return Status::Error("bad input: " + where + ": MASTER_PORT " + std::to_string(env.master_port) +
                             " is in use on this machine (another program listens there): choose a free port");
    }
  }
  // Every wait of the rendezvous honours --dist-timeout: libtorch's TCPStore client waits without
  // end on a listener that accepts and never answers, so a watchdog ends the process,
  // naming the address, when the rendezvous has not finished 5 s after the timeout.
  struct Watchdog {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread t;
    ~Watchdog() {
      {
        std::lock_guard<std::mutex> l(m);
        done = true;
      }
      cv.notify_all();
      if (t.joinable()) t.join();
    }
  } dog;
  const std::string hung = where + ": rendezvous at " + rendezvous +
                           " did not complete within --dist-timeout " + std::to_string(timeout.count()) +
                           " s (nothing that answers as rank 0's store listens there, or a rank never came); stopping";
  dog.t = std::thread([&dog, hung, limit = timeout + std::chrono::seconds(5)] {
    std::unique_lock<std::mutex> l(dog.m);
    if (!dog.cv.wait_for(l, limit, [&] { return dog.done; })) {
      spdlog::error("{}", hung);
      spdlog::shutdown();
      std::_Exit(1);  // kExitFailure: the store's own wait cannot be interrupted
    }
  });
  try {
    c10::intrusive_ptr<c10d::Store> base;
    if (file_store) {
      spdlog::info("{}: rendezvous through {} (no network)", where, env.store_file);
      base = c10::make_intrusive<c10d::FileStore>(env.store_file, env.world_size);
      base->setTimeout(timeout);
    } else {
      c10d::TCPStoreOptions so;
      so.port = uint16_t(env.master_port);
      so.isServer = server;
      so.numWorkers = size_t(env.world_size);
      so.waitWorkers = true;
      so.timeout = timeout;
      spdlog::info("{}: rendezvous at {} ({})", where, rendezvous, so.isServer ? "hosting the TCPStore" : "joining");
      base = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    }
    // Our keys under a prefix of their own, apart from the agent's.
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::PrefixStore>("catdog/", base);
    if (device.is_cuda()) {
#if CATDOG_HAVE_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, opts);
      *out = std::make_unique<PgDistributed<c10d::ProcessGroupNCCL>>(env, "nccl", timeout, device, store, pg);
      return Status::Ok();
#else
      return Status::Error("bad input: --device " + device.str() + " with distributed training needs NCCL, and this "
                           "catdog was built without ProcessGroupNCCL; use --device cpu (Gloo)");
#endif
    }
#if CATDOG_HAVE_GLOO
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    // As torch.distributed: GLOO_SOCKET_IFNAME names the interface, else the host name's address;
    // a one-machine run listens on loopback only.
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (const std::string local = GlooListenAddress(env); !local.empty())
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(local));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, opts);
    *out = std::make_unique<PgDistributed<c10d::ProcessGroupGloo>>(env, "gloo", timeout, device, store, pg);
    return Status::Ok();
#else
    return Status::Error("bad input: distributed training on the CPU needs Gloo, and this catdog was built "
                         "without it (install libgloo-dev and rebuild)");
#endif
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (auto* c = dynamic_cast<const c10::Error*>(&e)) msg = c->what_without_backtrace();
    return Status::Error(where + ": rendezvous at " + rendezvous + " failed within --dist-timeout " + std::to_string(timeout.count()) + " s: " + msg);
  }
#endif
}

}  // namespace catdog::train
