// The wasm C ABI over the catdog core (see catdog_wasm.h). Handles index a small table of live
// models, so a stale or forged handle from JS is rejected instead of dereferenced.
#include "catdog_wasm.h"

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"
#include "catdog/classify.h"
#include "catdog/json_bounded.h"
#include "json_util.h"  // shared/src


namespace {

struct Instance {
  std::unique_ptr<catdog::Model> model;
  int threads = 1;        // kernel threads this model was parsed with
  bool loaded = false;
  std::vector<std::vector<uint8_t>> shards;
  std::vector<float> input;
  std::vector<float> output;
  int output_batch = 0;
  std::vector<float> probs;  // the K calibrated probabilities of the last catdog_classify
  std::vector<uint8_t> image;
  std::vector<uint8_t> rgba;  // a YUV frame converted for preprocess (catdog_preprocess_yuv)
  std::string metadata;
  catdog::SelfCheckReport check;  // run by catdog_finish while the shard bytes are still here
  std::string check_summary;
};

std::string& LastError() {
  static std::string e;
  return e;
}

template <typename T>
T Fail(T value, std::string message) {
  LastError() = std::move(message);
  return value;
}

std::vector<std::unique_ptr<Instance>>& Table() {
  static std::vector<std::unique_ptr<Instance>> t;
  return t;
}

Instance* Get(catdog_handle h, const char* fn) {
  auto& t = Table();
  if (h <= 0 || static_cast<size_t>(h) > t.size() || !t[h - 1]) {
    LastError() = std::string(fn) + ": invalid handle " + std::to_string(h);
    return nullptr;
  }
  return t[h - 1].get();
}

Instance* GetLoaded(catdog_handle h, const char* fn) {
  Instance* in = Get(h, fn);
  if (in && !in->loaded) {
    LastError() = std::string(fn) + ": the model's weights are not loaded yet (call catdog_finish)";
    return nullptr;
  }
  return in;
}

nlohmann::json ShapeJson(const std::vector<int64_t>& s) {
  nlohmann::json a = nlohmann::json::array();
  for (int64_t v : s) a.push_back(v);
  return a;
}

// In the pthreads build a model with T threads makes the core start T-1 pthreads, in one worker pool
// per thread count shared by every operator and model and kept until the page closes
// (simd/thread_pool.cpp, Workers). Emscripten can only start a pthread without returning to the event
// loop when a pre-spawned worker is free (PTHREAD_POOL_SIZE, CATDOG_PTHREAD_POOL here), so the thread
// counts in use are recorded here and their pools together never take more than that: a model whose
// pool would not fit gets a smaller thread count that does (an existing pool, or one that fits), down
// to 1, instead of blocking forever. Any number of models with the same thread count fit.
#ifdef __EMSCRIPTEN_PTHREADS__
#ifndef CATDOG_PTHREAD_POOL
#define CATDOG_PTHREAD_POOL 3
#endif
int AffordableThreads(int wanted) {
  static std::vector<int> pools;  // thread counts whose pools exist (or will, for a model in loading)
  int taken = 0;
  for (int t : pools) taken += t - 1;
  for (int t = wanted; t > 1; --t) {
    if (std::find(pools.begin(), pools.end(), t) != pools.end()) return t;
    if (t - 1 <= CATDOG_PTHREAD_POOL - taken) {
      pools.push_back(t);
      return t;
    }
  }
  return 1;
}
#else
int AffordableThreads(int) { return 1; }  // the single-thread build never starts threads
#endif

}  // namespace

// The definitions of catdog_abi.inc's list, in its order. They are exported because the list is
// -sEXPORTED_FUNCTIONS (wasm/CMakeLists.txt), not by an attribute here, so a function missing from
// the list is not reachable from JS (and tests/web/wasm-abi.test.mjs names it).
extern "C" {

const char* catdog_last_error(void) { return LastError().c_str(); }

catdog_handle catdog_create(const char* json, int32_t json_len, int32_t backend,
                           int32_t threads, const char* layer_aliases, int32_t aliases_len) {
  if (!json || json_len < 0) return Fail(0, "catdog_create: no model.json bytes");
  if (backend != 0 && backend != 1 && backend != 3)
    return Fail(0, "catdog_create: bad backend " + std::to_string(backend) +
                       " (0 reference, 1 simd, 3 auto)");
  if (threads < 1 || threads > 64)
    return Fail(0, "catdog_create: bad thread count " + std::to_string(threads) + " (1..64)");
  if (aliases_len < 0 || (aliases_len > 0 && !layer_aliases))
    return Fail(0, "catdog_create: bad layer alias text (" + std::to_string(aliases_len) + " bytes)");
  catdog::LoadOptions opt;
  opt.backend = static_cast<catdog::Backend>(backend);
  opt.threads = threads;
  const std::string_view aliases(layer_aliases ? layer_aliases : "", static_cast<size_t>(aliases_len));
  for (size_t start = 0; start < aliases.size();) {
    size_t end = aliases.find('\n', start);
    if (end == std::string_view::npos) end = aliases.size();
    catdog::Status as = catdog::ParseLayerAlias(aliases.substr(start, end - start), &opt);
    if (!as) return Fail(0, "layerAliases: " + as.message());
    start = end + 1;
  }
  auto inst = std::make_unique<Instance>();
  catdog::Status st = catdog::Model::Parse(std::string_view(json, static_cast<size_t>(json_len)),
                                           &inst->model, opt, "model.json");
  if (!st) return Fail(0, st.message());
  const int affordable = AffordableThreads(threads);
  if (affordable != threads) {
    opt.threads = affordable;
    st = catdog::Model::Parse(std::string_view(json, static_cast<size_t>(json_len)), &inst->model, opt,
                              "model.json");
    if (!st) return Fail(0, st.message());
  }
  inst->threads = affordable;
  inst->shards.resize(inst->model->shard_paths().size());
  auto& t = Table();
  for (size_t i = 0; i < t.size(); ++i) {
    if (!t[i]) {
      t[i] = std::move(inst);
      return static_cast<catdog_handle>(i + 1);
    }
  }
  t.push_back(std::move(inst));
  return static_cast<catdog_handle>(t.size());
}

void catdog_destroy(catdog_handle h) {
  auto& t = Table();
  if (h > 0 && static_cast<size_t>(h) <= t.size() && t[h - 1]) {
    t[h - 1].reset();
  }
}

int32_t catdog_shard_count(catdog_handle h) {
  Instance* in = Get(h, "catdog_shard_count");
  return in ? static_cast<int32_t>(in->model->shard_paths().size()) : -1;
}

const char* catdog_shard_path(catdog_handle h, int32_t index) {
  Instance* in = Get(h, "catdog_shard_path");
  if (!in) return nullptr;
  const auto& paths = in->model->shard_paths();
  if (index < 0 || static_cast<size_t>(index) >= paths.size())
    return Fail<const char*>(nullptr, "catdog_shard_path: index " + std::to_string(index) +
                                          " out of range (model has " +
                                          std::to_string(paths.size()) + " shards)");
  return paths[index].c_str();
}

uint8_t* catdog_shard_buffer(catdog_handle h, int32_t index, int32_t size) {
  Instance* in = Get(h, "catdog_shard_buffer");
  if (!in) return nullptr;
  if (in->loaded) return Fail<uint8_t*>(nullptr, "catdog_shard_buffer: weights already loaded");
  if (index < 0 || static_cast<size_t>(index) >= in->shards.size())
    return Fail<uint8_t*>(nullptr, "catdog_shard_buffer: index " + std::to_string(index) +
                                       " out of range (model has " +
                                       std::to_string(in->shards.size()) + " shards)");
  if (size < 0) return Fail<uint8_t*>(nullptr, "catdog_shard_buffer: negative size");
  in->shards[index].assign(static_cast<size_t>(size), 0);
  // A zero-size vector may have no storage; hand out a valid pointer anyway.
  if (size == 0) in->shards[index].reserve(1);
  return in->shards[index].data();
}

int32_t catdog_finish(catdog_handle h) {
  Instance* in = Get(h, "catdog_finish");
  if (!in) return -1;
  if (in->loaded) return Fail(-1, "catdog_finish: weights already loaded");
  std::vector<catdog::ShardBytes> views;
  views.reserve(in->shards.size());
  for (auto& s : in->shards) views.push_back({s.data(), s.size()});
  catdog::Status st = in->model->LoadWeights(views);
  // The self-check hashes the raw shard bytes, so it runs now, before they are freed.
  if (st) st = catdog::RunSelfCheck(*in->model, views, &in->check);
  if (st) in->check_summary = in->check.Summary();
  // The core copied what it needs; the raw shard bytes are no longer useful either way.
  std::vector<std::vector<uint8_t>>(in->shards.size()).swap(in->shards);
  if (!st) return Fail(-1, st.message());
  in->loaded = true;
  in->input.assign(in->model->input_size(), 0.f);
  return 0;
}

int32_t catdog_input_size(catdog_handle h) {
  Instance* in = GetLoaded(h, "catdog_input_size");
  return in ? static_cast<int32_t>(in->model->input_size()) : -1;
}

int32_t catdog_output_size(catdog_handle h) {
  Instance* in = GetLoaded(h, "catdog_output_size");
  return in ? static_cast<int32_t>(in->model->output_size()) : -1;
}

float* catdog_input(catdog_handle h, int32_t batch) {
  Instance* in = GetLoaded(h, "catdog_input");
  if (!in) return nullptr;
  const size_t per = in->model->input_size();
  if (batch < 1 || static_cast<uint64_t>(batch) * per * sizeof(float) > (1ull << 30))
    return Fail<float*>(nullptr, "catdog_input: bad batch " + std::to_string(batch) +
                                     " (1.., at most 1 GiB of input)");
  const size_t need = static_cast<size_t>(batch) * per;
  if (in->input.size() < need) in->input.resize(need, 0.f);
  return in->input.data();
}

int32_t catdog_run(catdog_handle h, int32_t batch) {
  Instance* in = GetLoaded(h, "catdog_run");
  if (!in) return -1;
  const size_t per_in = in->model->input_size();
  if (batch < 1 || static_cast<size_t>(batch) * per_in > in->input.size())
    return Fail(-1, "catdog_run: batch " + std::to_string(batch) +
                        " is larger than the input buffer (call catdog_input(h, batch) first)");
  const size_t need = static_cast<size_t>(batch) * in->model->output_size();
  if (in->output.size() < need) in->output.resize(need);
  catdog::Status st = in->model->Run(in->input.data(), batch, in->output.data());
  if (!st) return Fail(-1, st.message());
  in->output_batch = batch;
  return 0;
}

float* catdog_output(catdog_handle h) {
  Instance* in = GetLoaded(h, "catdog_output");
  if (!in) return nullptr;
  if (in->output_batch == 0) return Fail<float*>(nullptr, "catdog_output: no run yet");
  return in->output.data();
}

// The page never re-implements the calibration or the decision: it asks the core for both, for
// any number of classes (catdog/classify.h), and shows the index and the K probabilities returned.
int32_t catdog_classify(catdog_handle h, int32_t sample, int32_t mirrored) {
  Instance* in = GetLoaded(h, "catdog_classify");
  if (!in) return -2;
  if (in->output_batch < (mirrored ? 2 : 1) || sample < 0 || sample + (mirrored ? 1 : 0) >= in->output_batch)
    return Fail(-2, "catdog_classify: sample " + std::to_string(sample) + (mirrored ? " and its mirror" : "") +
                        " not in the last run (" + std::to_string(in->output_batch) + " samples)");
  const catdog::ModelInfo& info = in->model->info();
  const size_t per = in->model->output_size(), k = static_cast<size_t>(catdog::ClassCount(info));
  in->probs.resize(2 * k);
  const float* out = in->output.data() + static_cast<size_t>(sample) * per;
  return mirrored ? catdog::ClassifyMirrored(info, out, out + per, per, in->probs.data())
                  : catdog::Classify(info, out, per, in->probs.data());
}

float* catdog_probs(catdog_handle h) {
  Instance* in = GetLoaded(h, "catdog_probs");
  if (!in) return nullptr;
  if (in->probs.empty()) return Fail<float*>(nullptr, "catdog_probs: no catdog_classify yet");
  return in->probs.data();
}

// Nor the out-of-distribution decision (catdog.h "out of distribution").
int32_t catdog_ood(catdog_handle h, int32_t sample) {
  Instance* in = GetLoaded(h, "catdog_ood");
  if (!in) return -1;
  if (in->output_batch == 0) return Fail(-1, "catdog_ood: no run yet");
  if (sample < 0 || sample >= in->output_batch)
    return Fail(-1, "catdog_ood: sample " + std::to_string(sample) + " out of range (the last run had " +
                        std::to_string(in->output_batch) + ")");
  const size_t per = in->model->output_size();
  const float* out = in->output.data() + static_cast<size_t>(sample) * per;
  const float raw = per == 1 ? out[0] : per == 2 ? out[1] : std::numeric_limits<float>::quiet_NaN();
  return catdog::IsOutOfDistribution(*in->model, sample, raw) ? 1 : 0;
}

// The mirror goes in the core's buffer, so the page has no per-pixel loop (and the run reads the
// weights once for both samples).
int32_t catdog_mirror_input(catdog_handle h) {
  Instance* in = GetLoaded(h, "catdog_mirror_input");
  if (!in) return -1;
  const auto& shape = in->model->info().input_shape;
  if (shape.size() != 3 || shape[0] < 1 || shape[1] < 1 || shape[2] < 1)
    return Fail(-1, "catdog_mirror_input: the model input is not H x W x C, so it has no left and right");
  const size_t per = in->model->input_size();
  if (in->input.size() < 2 * per) in->input.resize(2 * per, 0.f);
  catdog::MirrorLeftRight(in->input.data(), in->input.data() + per, static_cast<size_t>(shape[0]),
                          static_cast<size_t>(shape[1]), static_cast<size_t>(shape[2]));
  return 0;
}


uint8_t* catdog_image_buffer(catdog_handle h, int32_t bytes) {
  Instance* in = Get(h, "catdog_image_buffer");
  if (!in) return nullptr;
  if (bytes <= 0 || bytes > (256 << 20))
    return Fail<uint8_t*>(nullptr, "catdog_image_buffer: bad size " + std::to_string(bytes) +
                                       " bytes (1..256 MiB)");
  if (in->image.size() < static_cast<size_t>(bytes)) in->image.resize(static_cast<size_t>(bytes));
  return in->image.data();
}

int32_t catdog_preprocess(catdog_handle h, const uint8_t* pixels, int32_t width, int32_t height,
                          int32_t stride, int32_t format, int32_t fit) {
  Instance* in = GetLoaded(h, "catdog_preprocess");
  if (!in) return -1;
  const auto& shape = in->model->info().input_shape;
  if (shape.size() != 3 || shape[0] != shape[1] || shape[2] != 1)
    return Fail(-1, "catdog_preprocess: the model input is not S x S x 1, so images cannot be fed");
  if (format != 1 && format != 3 && format != 4)
    return Fail(-1, "catdog_preprocess: bad pixel format " + std::to_string(format) +
                        " (1 gray, 3 RGB, 4 RGBA)");
  if (fit != 0 && fit != 1)
    return Fail(-1, "catdog_preprocess: bad fit " + std::to_string(fit) + " (0 stretch, 1 crop)");
  if (!pixels) return Fail(-1, "catdog_preprocess: no pixels");
  // Keep the image inside what JS handed over when it used our staging buffer.
  if (!in->image.empty() && pixels >= in->image.data() &&
      pixels < in->image.data() + in->image.size()) {
    const uint64_t need = static_cast<uint64_t>(stride) * (height > 0 ? height - 1 : 0) +
                          static_cast<uint64_t>(width) * format;
    if (width > 0 && height > 0 && stride > 0 &&
        static_cast<uint64_t>(pixels - in->image.data()) + need > in->image.size())
      return Fail(-1, "catdog_preprocess: a " + std::to_string(width) + "x" +
                          std::to_string(height) + " image with stride " + std::to_string(stride) +
                          " does not fit the " + std::to_string(in->image.size()) +
                          "-byte image buffer");
  }
  catdog::ImageView view;
  view.data = pixels;
  view.width = width;
  view.height = height;
  view.stride = stride;
  view.format = static_cast<catdog::PixelFormat>(format);
  catdog::Status st = catdog::preprocess(view, static_cast<catdog::Fit>(fit),
                                         static_cast<int>(shape[0]), in->input.data());
  if (!st) return Fail(-1, st.message());
  return 0;
}

int32_t catdog_preprocess_yuv(catdog_handle h, const uint8_t* data, int32_t width, int32_t height,
                              int32_t layout, int32_t matrix, int32_t full_range, int32_t fit) {
  Instance* in = GetLoaded(h, "catdog_preprocess_yuv");
  if (!in) return -1;
  if (!data) return Fail(-1, "catdog_preprocess_yuv: no frame");
  if (width <= 0 || height <= 0 || width > (1 << 14) || height > (1 << 14))
    return Fail(-1, "catdog_preprocess_yuv: frame size " + std::to_string(width) + "x" +
                        std::to_string(height) + " must be in 1..16384 per side");
  if (full_range != 0 && full_range != 1)
    return Fail(-1, "catdog_preprocess_yuv: bad full_range " + std::to_string(full_range) + " (0 or 1)");
  const uint64_t luma = static_cast<uint64_t>(width) * height;
  const uint64_t cw = (static_cast<uint64_t>(width) + 1) / 2, ch = (static_cast<uint64_t>(height) + 1) / 2;
  const uint64_t need = luma + 2 * cw * ch;  // the same for I420 and NV12
  if (!in->image.empty() && data >= in->image.data() && data < in->image.data() + in->image.size() &&
      static_cast<uint64_t>(data - in->image.data()) + need > in->image.size())
    return Fail(-1, "catdog_preprocess_yuv: a " + std::to_string(width) + "x" + std::to_string(height) +
                        " frame needs " + std::to_string(need) + " bytes; the image buffer has " +
                        std::to_string(in->image.size()));
  catdog::YuvView f;
  f.width = width;
  f.height = height;
  f.layout = static_cast<catdog::YuvLayout>(layout);
  f.matrix = static_cast<catdog::YuvMatrix>(matrix);
  f.full_range = full_range == 1;
  f.y = data;
  f.y_stride = width;
  f.u = data + luma;
  if (layout == 1) {
    f.u_stride = static_cast<int>(2 * cw);
  } else {
    f.u_stride = static_cast<int>(cw);
    f.v = data + luma + cw * ch;
    f.v_stride = static_cast<int>(cw);
  }
  in->rgba.resize(static_cast<size_t>(luma) * 4);
  catdog::Status st = catdog::yuv_to_rgba(f, in->rgba.data(), width * 4);
  if (!st) return Fail(-1, "catdog_preprocess_yuv: " + st.message());
  // catdog_preprocess's checks (model input S x S x 1, fit) apply; the RGBA is our own buffer.
  return catdog_preprocess(h, in->rgba.data(), width, height, width * 4, 4, fit);
}

const char* catdog_metadata(catdog_handle h) {
  Instance* in = GetLoaded(h, "catdog_metadata");
  if (!in) return nullptr;
  const catdog::ModelInfo& info = in->model->info();
  nlohmann::json j;
  j["input_shape"] = ShapeJson(info.input_shape);
  j["output_shape"] = ShapeJson(info.output_shape);
  j["backend"] = catdog::BackendName(in->model->backend());
  j["format"] = info.format;
  j["generated_by"] = info.generated_by;
  j["converted_by"] = info.converted_by;
  j["num_weights"] = info.num_weights;
  j["threads"] = in->threads;
  j["layers"] = info.layer_summary;
  j["temperature"] = info.temperature;
  // The model's facts as the core parsed them (ModelInfo): the page reads these, not userDefinedMetadata.
  j["fit"] = info.fit == catdog::Fit::kCenterCrop ? "crop" : "stretch";
  j["threshold"] = info.threshold;
  j["labels"] = info.labels;
  j["ood"] = info.has_ood ? nlohmann::json{{"method", info.ood_method}, {"threshold", info.ood_threshold}} : nlohmann::json();
  nlohmann::json user;  // the depth-limited parser, the only JSON parser the module carries
  j["user"] = catdog::jsonb::Parse(info.user_metadata_json, &user, nullptr, "userDefinedMetadata") ? user
                                                                                                   : nlohmann::json::object();
  const catdog::SelfCheckReport& c = in->check;
  j["selfcheck"] = {{"present", c.present}, {"verified", c.verified()}, {"passed", c.passed}, {"total", c.total},
                    {"source", c.source},   {"first_mismatch", c.first_mismatch}, {"summary", in->check_summary}};
  in->metadata = catdog::jsonu::Dump(j, std::string::npos);  // dump() without nlohmann's serializer (printf)
  return in->metadata.c_str();
}

int32_t catdog_heap_used(void) {
  struct mallinfo mi = mallinfo();
  return static_cast<int32_t>(mi.uordblks);
}

int32_t catdog_build_flags(void) {
  int32_t f = 0;
#if defined(__wasm_simd128__)
  f |= 1;
#endif
#if defined(__EMSCRIPTEN_PTHREADS__)
  f |= 2;
#endif
  return f;
}

int32_t catdog_set_thread_cap(int32_t threads) {
  if (!catdog::SetThreadCap(threads))
    return Fail(-1, "catdog_set_thread_cap: bad thread count " + std::to_string(threads) + " (0..64)");
  return catdog::ThreadCap();
}

}  // extern "C"
