#include "models_torch.h"

#if CATDOG_FUSED_CUDA
#include "fused_ops.h"
#endif

#include <nlohmann/json.hpp>
#include "catdog/json_bounded.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "fsutil.h"

namespace catdog::train {

namespace nn = torch::nn;

NetImpl::NetImpl(std::vector<ResolvedLayer> layers) : layers_(std::move(layers)) {
  for (size_t i = 0; i < layers_.size(); ++i) {
    const ResolvedLayer& r = layers_[i];
    const LayerSpec& l = r.spec;
    const int64_t cin = r.in_shape.back();
    Entry e;
    e.kind = l.kind;
    e.act = l.activation;
    e.pool = l.kernel;
    switch (l.kind) {
      case LayerKind::kConv2D:
        e.conv = register_module(r.name, nn::Conv2d(nn::Conv2dOptions(cin, l.units, l.kernel)
                                                       .stride(l.stride)
                                                       .padding(l.same_padding ? l.kernel / 2 : 0)
                                                       .bias(l.use_bias)));
        break;
      case LayerKind::kSeparableConv2D: {
        auto holder = register_module(r.name, std::make_shared<nn::Module>());
        e.dw = holder->register_module("depthwise", nn::Conv2d(nn::Conv2dOptions(cin, cin, l.kernel)
                                                                  .groups(cin)
                                                                  .padding(l.same_padding ? l.kernel / 2 : 0)
                                                                  .bias(false)));
        e.pw = holder->register_module("pointwise", nn::Conv2d(nn::Conv2dOptions(cin, l.units, 1).bias(l.use_bias)));
        break;
      }
      case LayerKind::kBatchNorm:
        // Keras: epsilon 1e-3, moving average momentum 0.99 (torch counts the other way).
        e.bn = register_module(r.name, nn::BatchNorm2d(nn::BatchNorm2dOptions(cin).eps(1e-3).momentum(0.01)));
        break;
      case LayerKind::kDense:
        e.fc = register_module(r.name, nn::Linear(nn::LinearOptions(cin, l.units).bias(l.use_bias)));
        break;
      case LayerKind::kDropout:
        e.drop = register_module(r.name, nn::Dropout(nn::DropoutOptions(l.rate)));
        break;
      default:
        break;
    }
    entries_.push_back(e);
  }
}

static torch::Tensor Act(torch::Tensor x, Activation a) {
  switch (a) {
    case Activation::kRelu: return torch::relu(x);
    case Activation::kSigmoid: return torch::sigmoid(x);
    case Activation::kSoftmax: return torch::softmax(x, 1);
    case Activation::kLinear: break;
  }
  return x;
}

torch::Tensor NetImpl::forward(torch::Tensor x) {
  for (size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    const bool last = i + 1 == entries_.size();
    // conv + ReLU + 2x2 max-pool: pooling first is the same function (max and ReLU commute) and
    // runs the ReLU, forward and backward, on a quarter of the activations.
    const bool relu_then_pool = e.act == Activation::kRelu && !last && entries_[i + 1].kind == LayerKind::kMaxPool2D &&
                                (e.kind == LayerKind::kConv2D || e.kind == LayerKind::kSeparableConv2D);
    if (relu_then_pool) {
      x = e.kind == LayerKind::kConv2D ? e.conv->forward(x) : e.pw->forward(e.dw->forward(x));
      const int64_t k = entries_[++i].pool;
#if CATDOG_FUSED_CUDA
      if (fused_ && k == 2 && x.is_cuda()) {
        x = PoolRelu2x2(x);
        continue;
      }
#endif
      x = torch::max_pool2d(x, {k, k}, {k, k});
      x = torch::relu_(x);
      continue;
    }
    switch (e.kind) {
      case LayerKind::kConv2D: x = Act(e.conv->forward(x), e.act); break;
      case LayerKind::kSeparableConv2D: x = Act(e.pw->forward(e.dw->forward(x)), e.act); break;
      case LayerKind::kBatchNorm: x = e.bn->forward(x); break;
      case LayerKind::kMaxPool2D: x = torch::max_pool2d(x, {e.pool, e.pool}, {e.pool, e.pool}); break;
      case LayerKind::kGlobalAvgPool2D: x = x.mean({2, 3}); break;
      case LayerKind::kDropout: x = e.drop->forward(x); break;
      case LayerKind::kFlatten: x = x.flatten(1); break;
      case LayerKind::kDense:
        x = e.fc->forward(x);
        if (!last) x = Act(x, e.act);  // the final sigmoid is applied by the loss / Predict
        break;
    }
  }
  return x.size(1) == 1 ? x.view({-1}) : x;  // [N] logits of a sigmoid head, [N, K] of a softmax one
}

std::vector<torch::nn::BatchNorm2d> NetImpl::batch_norms() const {
  std::vector<torch::nn::BatchNorm2d> out;
  for (const Entry& e : entries_)
    if (e.kind == LayerKind::kBatchNorm) out.push_back(e.bn);
  return out;
}

std::vector<torch::Tensor> NetImpl::ordered_tensors() {
  std::vector<torch::Tensor> out;
  for (Entry& e : entries_) {
    switch (e.kind) {
      case LayerKind::kConv2D:
        out.push_back(e.conv->weight);
        if (e.conv->options.bias()) out.push_back(e.conv->bias);
        break;
      case LayerKind::kSeparableConv2D:
        out.push_back(e.dw->weight);
        out.push_back(e.pw->weight);
        if (e.pw->options.bias()) out.push_back(e.pw->bias);
        break;
      case LayerKind::kBatchNorm:
        out.push_back(e.bn->weight);
        out.push_back(e.bn->bias);
        out.push_back(e.bn->running_mean);
        out.push_back(e.bn->running_var);
        break;
      case LayerKind::kDense:
        out.push_back(e.fc->weight);
        if (e.fc->options.bias()) out.push_back(e.fc->bias);
        break;
      default:
        break;
    }
  }
  return out;
}

Status BuildNet(const ArchSpec& arch, int input_size, Net* out) {
  std::vector<ResolvedLayer> layers;
  Status s = ResolveArch(arch, input_size, &layers);
  if (!s) return s;
  *out = Net(std::move(layers));
  return Status::Ok();
}

void KerasInit(Net& net) {
  torch::NoGradGuard no_grad;
  std::vector<TensorSpec> specs = ModelTensors(net->layers());
  std::vector<torch::Tensor> tensors = net->ordered_tensors();
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& t = specs[i];
    torch::Tensor x = tensors[i];
    const std::string& n = t.name;
    auto ends = [&](const std::string& suffix) {
      return n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    const LayerKind kind = net->layers()[t.layer].spec.kind;
    if (kind == LayerKind::kBatchNorm) {
      if (ends(".weight") || ends(".running_var")) x.fill_(1.0);
      else x.zero_();
      continue;
    }
    if (ends(".bias")) {
      x.zero_();
      continue;
    }
    // Kernel: Keras computes fans from its own layout. conv [kh,kw,in,out]: receptive*in,
    // receptive*out; depthwise [kh,kw,in,1]: receptive*in, receptive*1; dense [in,out].
    double fan_in, fan_out;
    if (x.dim() == 4) {
      double receptive = double(x.size(2) * x.size(3));
      fan_in = receptive * double(x.size(1) == 1 && ends(".depthwise.weight") ? x.size(0) : x.size(1));
      fan_out = receptive * double(ends(".depthwise.weight") ? 1 : x.size(0));
    } else {
      fan_in = double(x.size(1));
      fan_out = double(x.size(0));
    }
    double limit = std::sqrt(6.0 / (fan_in + fan_out));
    x.uniform_(-limit, limit);
  }
}

namespace {

nlohmann::json TensorList(const std::vector<TensorSpec>& specs) {
  nlohmann::json a = nlohmann::json::array();
  for (const TensorSpec& t : specs) a.push_back({{"name", t.name}, {"shape", t.shape}, {"trainable", t.trainable}});
  return a;
}

}  // namespace

Status SaveCheckpointFile(const std::string& path, Net& net, const ArchSpec& arch, int input_size,
                          const std::string& meta_json, const AdamState* adam) {
  nlohmann::json meta = nlohmann::json::parse(meta_json.empty() ? "{}" : meta_json, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) return Status::Error(path + ": checkpoint meta is not a JSON object");
  meta["format"] = "catdog-checkpoint";
  meta["version"] = 1;
  meta["arch"] = nlohmann::json::parse(ArchToJson(arch));
  meta["input_size"] = input_size;
  meta["tensors"] = TensorList(ModelTensors(net->layers()));
  try {
    torch::serialize::OutputArchive archive;
    archive.write("catdog_meta", c10::IValue(meta.dump()));
    std::vector<torch::Tensor> tensors = net->ordered_tensors();
    for (size_t i = 0; i < tensors.size(); ++i)
      archive.write("t" + std::to_string(i), tensors[i].detach().to(torch::kCPU).contiguous().clone(), true);
    if (adam) {
      archive.write("adam_m", adam->m.detach().to(torch::kCPU).contiguous().clone(), true);
      archive.write("adam_v", adam->v.detach().to(torch::kCPU).contiguous().clone(), true);
      archive.write("adam_step", c10::IValue(adam->step));
    }
    std::ostringstream os;
    archive.save_to(os);
    return fs::WriteFileAtomic(path, os.str());
  } catch (const std::exception& e) {
    return Status::Error(path + ": cannot serialize checkpoint: " + e.what());
  }
}

Status LoadCheckpointFile(const std::string& path_in, Checkpoint* ckpt, AdamState* adam) {
  std::string path = path_in;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) path = (std::filesystem::path(path) / "best.pt").string();
  std::vector<uint8_t> bytes;
  Status s = fs::ReadFile(path, &bytes);
  if (!s) return s;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(reinterpret_cast<const char*>(bytes.data()), bytes.size(), torch::kCPU);
    c10::IValue meta_v;
    if (!archive.try_read("catdog_meta", meta_v) || !meta_v.isString())
      return Status::Error(path + ": not a catdog checkpoint (no catdog_meta)");
    Checkpoint c;
    c.meta_json = meta_v.toStringRef();
    // Bounded depth here, where checkpoint metadata enters: later parses of c.meta_json see this text.
    nlohmann::json meta;
    std::string why;
    if (!jsonb::Parse(c.meta_json, &meta, &why, path + ": catdog_meta")) return Status::Error(why);
    if (!meta.is_object() || meta.value("format", "") != "catdog-checkpoint")
      return Status::Error(path + ": checkpoint meta is not a catdog-checkpoint JSON object");
    if (!meta.contains("arch") || !meta["arch"].is_object())
      return Status::Error(path + ": checkpoint meta has no architecture");
    s = ArchFromJson(meta["arch"].dump(), &c.arch);
    if (!s) return Status::Error(path + ": " + s.message());
    c.input_size = meta.value("input_size", 0);
    std::vector<ResolvedLayer> layers;
    s = ResolveArch(c.arch, c.input_size, &layers);
    if (!s) return Status::Error(path + ": " + s.message());
    std::vector<TensorSpec> specs = ModelTensors(layers);
    for (size_t i = 0; i < specs.size(); ++i) {
      torch::Tensor t;
      if (!archive.try_read("t" + std::to_string(i), t, true))
        return Status::Error(path + ": missing tensor " + std::to_string(i) + " (" + specs[i].name + ")");
      if (t.sizes().vec() != specs[i].shape || t.scalar_type() != torch::kFloat)
        return Status::Error(path + ": tensor " + specs[i].name + " has shape " + c10::str(t.sizes()) +
                             ", the architecture needs " + c10::str(c10::IntArrayRef(specs[i].shape)));
      t = t.contiguous();
      HostTensor h;
      h.name = specs[i].name;
      h.shape = specs[i].shape;
      h.data.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
      // Training never saves a non-finite weight (a diverged epoch stops first), so NaN/Inf here
      // means damaged bytes: say so now rather than let training blame --lr later.
      for (size_t k = 0; k < h.data.size(); ++k)
        if (!std::isfinite(h.data[k]))
          return Status::Error(path + ": tensor " + specs[i].name + " holds a non-finite value (" +
                               std::to_string(h.data[k]) + ") at element " + std::to_string(k) +
                               ": the checkpoint is corrupt");
      c.tensors.push_back(std::move(h));
    }
    if (adam) {
      c10::IValue step;
      if (archive.try_read("adam_step", step) && step.isInt() && archive.try_read("adam_m", adam->m, true) &&
          archive.try_read("adam_v", adam->v, true)) {
        adam->step = step.toInt();
        if (!torch::isfinite(adam->m).all().item<bool>() || !torch::isfinite(adam->v).all().item<bool>())
          return Status::Error(path + ": the optimizer state holds non-finite values: the checkpoint is corrupt");
      } else {
        adam->step = -1;
      }
    }
    *ckpt = std::move(c);
    return Status::Ok();
  } catch (const c10::Error& e) {
    // libtorch's what() carries a C++ backtrace; one line is what a user needs.
    std::string why = e.what_without_backtrace();
    why = why.substr(0, why.find('\n'));
    return Status::Error(path + ": cannot read checkpoint (truncated or not a checkpoint): " + why);
  } catch (const std::exception& e) {
    std::string why = e.what();
    return Status::Error(path + ": cannot read checkpoint: " + why.substr(0, why.find('\n')));
  }
}

Status CopyIntoNet(const Checkpoint& ckpt, Net& net) {
  std::vector<torch::Tensor> tensors = net->ordered_tensors();
  if (tensors.size() != ckpt.tensors.size())
    return Status::Error("checkpoint has " + std::to_string(ckpt.tensors.size()) + " tensors, the model " +
                         std::to_string(tensors.size()));
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const HostTensor& h = ckpt.tensors[i];
    if (tensors[i].sizes().vec() != h.shape)
      return Status::Error("checkpoint tensor " + h.name + " does not fit the model");
    torch::Tensor src = torch::from_blob(const_cast<float*>(h.data.data()), h.shape, torch::kFloat);
    tensors[i].copy_(src);
  }
  return Status::Ok();
}

// ---- torch-free API of train.h ------------------------------------------------------------------

Status ReadCheckpoint(const std::string& path, Checkpoint* out) { return LoadCheckpointFile(path, out, nullptr); }

Status WriteCheckpoint(const std::string& path, const Checkpoint& ckpt) {
  Net net{nullptr};
  Status s = BuildNet(ckpt.arch, ckpt.input_size, &net);
  if (!s) return s;
  s = CopyIntoNet(ckpt, net);
  if (!s) return Status::Error(path + ": " + s.message());
  return SaveCheckpointFile(path, net, ckpt.arch, ckpt.input_size, ckpt.meta_json, nullptr);
}

Status TorchPredict(const Checkpoint& ckpt, const float* inputs, int n, std::vector<float>* out) {
  if (n < 0) return Status::Error("TorchPredict: bad count " + std::to_string(n));
  try {
    Net net{nullptr};
    Status s = BuildNet(ckpt.arch, ckpt.input_size, &net);
    if (!s) return s;
    s = CopyIntoNet(ckpt, net);
    if (!s) return s;
    net->eval();
    torch::NoGradGuard no_grad;
    const int64_t S = ckpt.input_size;
    torch::Tensor x = torch::from_blob(const_cast<float*>(inputs), {n, 1, S, S}, torch::kFloat);
    torch::Tensor z = net->forward(x);
    torch::Tensor p = (z.dim() == 2 ? torch::softmax(z, 1) : torch::sigmoid(z)).contiguous();
    out->assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Error(std::string("libtorch forward failed: ") + e.what());
  }
}

Status InitCheckpoint(const ArchSpec& arch, int input_size, uint64_t seed, Checkpoint* out) {
  Net net{nullptr};
  Status s = BuildNet(arch, input_size, &net);
  if (!s) return s;
  torch::manual_seed(seed);
  KerasInit(net);
  Checkpoint c;
  c.arch = arch;
  c.input_size = input_size;
  c.meta_json = "{}";
  std::vector<TensorSpec> specs = ModelTensors(net->layers());
  std::vector<torch::Tensor> tensors = net->ordered_tensors();
  for (size_t i = 0; i < specs.size(); ++i) {
    torch::Tensor t = tensors[i].detach().contiguous();
    c.tensors.push_back({specs[i].name, specs[i].shape,
                         std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel())});
  }
  *out = std::move(c);
  return Status::Ok();
}

}  // namespace catdog::train
