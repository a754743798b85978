// catdog inference core — public API.
//
// Loads TensorFlow.js layers models (model.json + weight shards) from bytes and runs them on
// NHWC float32 tensors; converts 8-bit images into the model input (DESIGN contract 1).
// Nothing here touches files, the DOM, torch or OpenCV: callers hand in bytes.
//
// Errors: every fallible call returns a Status. No exception crosses this API (the wasm build
// runs with exceptions disabled); messages name the file / layer / value that was wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace catdog {

// ---- status ------------------------------------------------------------------------------------
class Status {
 public:
  Status() = default;  // OK
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { Status s; s.ok_ = false; s.msg_ = std::move(message); return s; }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const std::string& message() const { return msg_; }  // empty when ok
 private:
  bool ok_ = true;
  std::string msg_;
};

// ---- preprocessing (DESIGN contract 1) ----------------------------------------------------------
enum class PixelFormat : int { kGray8 = 1, kRGB8 = 3, kRGBA8 = 4 };  // value = bytes per pixel
enum class Fit : int { kStretch = 0, kCenterCrop = 1 };

struct ImageView {
  const uint8_t* data = nullptr;  // first byte of the top row
  int width = 0;                  // pixels
  int height = 0;                 // pixels
  int stride = 0;                 // bytes from one row to the next (>= width * bytes per pixel)
  PixelFormat format = PixelFormat::kRGBA8;
};

// The one function that turns an image into model input: optional center square crop, area-average
// resize to out_size x out_size, BT.601 luma (0.299 R + 0.587 G + 0.114 B), divided by 255.
// Writes out_size*out_size floats in [0,1], row-major, to `out`. Deterministic and identical on
// every platform (the trainer's `prepare`, the CLI and the web page all call it).
Status preprocess(const ImageView& image, Fit fit, int out_size, float* out);

// Same, but stops before the /255: out_size*out_size bytes 0..255 (rounded). What packs store.
// preprocess() == preprocess_u8() / 255 exactly.
Status preprocess_u8(const ImageView& image, Fit fit, int out_size, uint8_t* out);

// ---- camera frames: planar YUV -> RGBA ----------------------------------------------------------
// Browsers (WebCodecs VideoFrame) and webcams hand over frames as planar YUV. Converting them here,
// instead of asking the browser for RGBA, keeps the conversion off the page's main thread (in
// Chromium, VideoFrame.copyTo(RGBA) waits on it; see web/catdog-engine.js). The result is the
// RGBA image that preprocess() takes, so contract 1 is unchanged: this is only a frame adapter.
// The math is the standard one a JPEG decoder uses for its YCbCr (no primaries or transfer
// conversion): R = Y' + 2(1-Kr) Cr, G = Y' - (2 Kb (1-Kb) Cb + 2 Kr (1-Kr) Cr) / Kg,
// B = Y' + 2(1-Kb) Cb, with Y' = (Y-16) 255/219 and C = (c-128) 255/224 for limited range
// (Y' = Y, C = c-128 for full range), chroma shared by each 2x2 block (point upsampling, as
// libyuv does), in 14-bit fixed point rounded to nearest and clamped: exact integers, the same
// bytes on every platform.
enum class YuvLayout : int { kI420 = 0, kNV12 = 1 };  // I420: Y, U, V planes; NV12: Y, interleaved UV
enum class YuvMatrix : int { kBT601 = 0, kBT709 = 1 };

struct YuvView {
  const uint8_t* y = nullptr;
  int y_stride = 0;
  const uint8_t* u = nullptr;  // I420: the U plane; NV12: the interleaved UV plane
  int u_stride = 0;
  const uint8_t* v = nullptr;  // I420: the V plane; NV12: unused
  int v_stride = 0;
  int width = 0;   // luma pixels; chroma planes are ceil(width/2) x ceil(height/2) samples
  int height = 0;
  YuvLayout layout = YuvLayout::kI420;
  YuvMatrix matrix = YuvMatrix::kBT601;
  bool full_range = false;
};

// Writes width x height RGBA pixels (alpha 255), rows `rgba_stride` bytes apart.
Status yuv_to_rgba(const YuvView& frame, uint8_t* rgba, int rgba_stride);

// ---- model --------------------------------------------------------------------------------------
enum class Backend : int {
  kReference = 0,  // plain scalar loops: the oracle for every other path
  kSimd = 1,       // the core's own SIMD kernels (SSE/AVX natively, simd128 in wasm)
  kXnnpack = 2,    // Debian's XNNPACK for heavy layers (native builds with CATDOG_WITH_XNNPACK)
  kAuto = 3,       // the build's fastest: kSimd when built, else kReference
};

struct LoadOptions {
  Backend backend = Backend::kAuto;
  int threads = 1;                      // worker threads for kernels that can split work
  uint64_t max_total_bytes = 1ull << 30;  // refuse models whose weights or activations exceed this
  // Custom Keras classes to load as a class the core runs, {custom class_name -> known class}: a
  // subclass whose config is its base's (Keras2toKeras3DepthwiseConv2D -> DepthwiseConv2D). Only
  // the user knows that the subclass computes what its base does, so nothing is aliased by
  // default; Parse refuses an alias whose target the core does not run or whose name is a class it
  // runs itself. Fill it with ParseLayerAlias (the CLI's --layer-alias, createClassifier's
  // layerAliases).
  std::vector<std::pair<std::string, std::string>> layer_aliases;
};

// A run-time cap on the threads that run the core's SIMD kernels, for every model of this process:
// a model loaded with LoadOptions.threads = T then runs on min(T, cap) threads (the caller
// included), its results unchanged (each kernel's tasks are the same whoever runs them). 0 (the
// default) = no cap; 1 = the calling thread only. Lets a page or a program choose the thread count
// from measured times without reloading the model (the web page's thread chooser,
// web/thread-chooser.js). XNNPACK's own pool (Backend::kXnnpack) is not capped. Returns false,
// changing nothing, for a value outside 0..64.
bool SetThreadCap(int threads);
int ThreadCap();

// Parses one "NAME=CLASS" alias (the CLI's --layer-alias) into options->layer_aliases. Fails,
// naming the text, on a missing '=', an empty side, a CLASS the core does not run, a NAME that is a
// class the core runs, or a NAME aliased twice to different classes.
Status ParseLayerAlias(std::string_view text, LoadOptions* options);

struct ShardBytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// One layer of the model as model.json describes it (before any backend fuses layers), for
// tools that count work (`catdog bench`'s GFLOP/s) and for displays.
struct LayerInfo {
  std::string name;                               // Keras layer name, e.g. "conv2d"
  std::string class_name;                         // Keras class, e.g. "Conv2D"
  std::vector<std::vector<int64_t>> input_shapes; // each input, without batch
  std::vector<int64_t> output_shape;              // without batch
  uint64_t weight_count = 0;                      // floats of all its weights (kernel, bias, ...)
  // Multiply-adds per sample of its kernels (Conv2D, DepthwiseConv2D, SeparableConv2D,
  // Conv2DTranspose, Dense): kernel size x the positions it is applied at. 0 for other layers.
  uint64_t macs = 0;
  // Its weights as the core bound them: {kind, weightsManifest entry name} in Keras' order
  // ({"kernel", "sequential/conv2d/kernel"}); the name a converter wrote, however it was matched
  // (docs/MODEL_FORMAT.md, "What loads"). A shared layer's later calls list the first call's.
  std::vector<std::pair<std::string, std::string>> weights;
};

// What a loaded model says about itself.
struct ModelInfo {
  std::vector<int64_t> input_shape;   // without batch, e.g. {100,100,1}
  std::vector<int64_t> output_shape;  // without batch, e.g. {1}
  std::string format;                 // "layers-model" or "" (old files)
  std::string generated_by;
  std::string converted_by;
  std::string user_metadata_json;     // userDefinedMetadata serialized, "{}" if absent
  size_t num_weights = 0;             // float count after dequantization
  // Bytes the shards must hold together (every weight's encoded size, all groups): a reader can
  // refuse a shard list whose files add up to more before reading any of them.
  uint64_t weight_bytes = 0;
  std::vector<std::string> layer_summary;  // one line per layer: "conv2d (Conv2D) -> [98,98,32]"
  std::vector<LayerInfo> layers;           // the same layers, structured (from model.json, unfused)
  uint64_t macs = 0;                       // sum of layers[i].macs: multiply-adds per sample
  // The model's facts from userDefinedMetadata.catdog (docs/MODEL_FORMAT.md), parsed once here with
  // the depth-limited parser; every reader (CLI stages, the wasm ABI's catdog_metadata, the page)
  // takes them from here, never from the JSON. Parse refuses a bad value by name.
  Fit fit = Fit::kStretch;  // catdog.fit: "stretch" or "crop"; absent = stretch
  bool fit_given = false;   // catdog.fit was present
  double threshold = 0.5;   // catdog.threshold, in (0, 1): P(dog) at or above it is "dog"
  // catdog.labels: one non-empty name per class (2 for a sigmoid P(dog) output or a softmax of 2);
  // absent = {"cat", "dog"}.
  std::vector<std::string> labels = {"cat", "dog"};
  // Temperature-scaling calibration (userDefinedMetadata.catdog.calibration.temperature, written
  // by `catdog calibrate`); 1.0 when absent. Parse rejects values that are not finite and > 0.
  double temperature = 1.0;
  // calibration.class_bias (written by `catdog calibrate --keep-recall`): a model of K > 2 softmax
  // classes only, one finite offset per class added to the calibrated logits log(p) / T before the
  // softmax (a prior: a negative offset makes its class need more evidence). Empty when absent.
  std::vector<float> class_bias;
  // Out-of-distribution check (userDefinedMetadata.catdog.ood, written by `catdog ood-fit`; see
  // OodScore below): has_ood is false when the model has none, and then nothing is ever flagged.
  // Parse rejects an ood block whose method is unknown or whose threshold is not in [0, 0.5].
  bool has_ood = false;
  std::string ood_method;     // kOodMaxProb or kOodFeatureDistance
  double ood_threshold = 0;   // an image whose score is above it is "neither cat nor dog"
  // kOodFeatureDistance only: the class means (cat then dog, feature_size() each) and the inverse of
  // the pooled within-class variance of each feature, fitted on the training split.
  std::vector<float> ood_means, ood_inv_var;
};

class Model {
 public:
  virtual ~Model() = default;

  // Phase 1: parse model.json text. Fails on invalid JSON, unknown layer classes or activations
  // (message names class and layer), inconsistent shapes. `source_name` is used in messages.
  static Status Parse(std::string_view model_json, std::unique_ptr<Model>* out,
                      const LoadOptions& options = {}, std::string_view source_name = "model.json");

  // Weight files named by the manifest, in manifest order (paths as written, relative to model.json).
  // Parse has checked that each is a plain relative path inside model.json's folder (no absolute
  // path, no '..' above it, no scheme, query, '%', '\\' or control characters) and that no file is
  // listed twice; a reader must still refuse symlinks that leave the folder and special files.
  virtual const std::vector<std::string>& shard_paths() const = 0;

  // Phase 2: the bytes of each shard, same order and count as shard_paths(). Checks sizes
  // (missing/short/extra bytes, naming the shard), dequantizes, rejects NaN/Inf, binds weights
  // to layers and prepacks them for the chosen backend. Copies what it needs; the caller may free.
  virtual Status LoadWeights(const std::vector<ShardBytes>& shards) = 0;

  virtual const ModelInfo& info() const = 0;
  virtual Backend backend() const = 0;  // the backend actually in use

  // Number of floats one sample of input / output holds.
  virtual size_t input_size() const = 0;
  virtual size_t output_size() const = 0;

  // Runs `batch` samples. `input` holds batch*input_size() floats NHWC; `output` receives
  // batch*output_size() floats. Reuses internal buffers: no allocation after the first call with
  // a given batch size. Not thread-safe on one Model; use one Model per thread.
  virtual Status Run(const float* input, int batch, float* output) = 0;

  // Checks an explicit shape (with batch first) against the model's input, e.g. from a CLI flag.
  virtual Status CheckInputShape(const std::vector<int64_t>& shape_with_batch) const = 0;

  // The penultimate features of sample `sample` of the last Run: the input of the last layer that
  // has weights (for the catdog models the global-pooled activations feeding the final Dense),
  // feature_size() floats. nullptr before a Run or for a sample outside it.
  virtual size_t feature_size() const { return 0; }
  virtual const float* features(int sample) const { (void)sample; return nullptr; }
};

// The calibrated P(dog) for a raw sigmoid output: sigmoid(CalibrationLogit(p) / info.temperature).
// Returns p_dog unchanged when temperature == 1 or p_dog is NaN. Model::Run stays raw (what TF.js
// computes); calibration is computed here only: every place that shows P(dog) calls this (the
// CLI's predict/evaluate, `catdog calibrate`'s before/after metrics, the web page through the wasm
// export catdog_p_dog, see wasm/catdog_abi.inc).
float ApplyCalibration(const ModelInfo& info, float p_dog);
float ApplyTemperature(double temperature, float p_dog);
// logit(p) with p clamped to [1e-7, 1 - 1e-7]: what ApplyTemperature divides by the temperature,
// and so what `catdog calibrate` fits the temperature on.
double CalibrationLogit(double p);

// Mirror averaging (flip test-time averaging: `catdog evaluate --flip`, `catdog predict --flip`, the
// page's option through catdog_mirror_input / catdog_p_dog_mirrored): `out` := the left-right mirror
// of one height x width x channels (NHWC) sample `in` (each pixel's channels kept in order; in != out),
// and the P(dog) shown is MirrorAverage of the two calibrated P(dog). One definition, so the CLI and
// the page agree on the same image.
void MirrorLeftRight(const float* in, float* out, size_t height, size_t width, size_t channels);
inline float MirrorAverage(float p_dog, float p_dog_mirrored) { return 0.5f * (p_dog + p_dog_mirrored); }

// ---- out of distribution: "neither cat nor dog" ------------------------------
// Two scores, higher = less like a cat or a dog; `catdog ood-fit` compares them on held-out
// non-animal photos, writes the better one with its threshold (95% of the validation split's cats
// and dogs at or below it), and the CLI (`evaluate --ood-images`) and the page (wasm export
// catdog_ood) both decide through IsOutOfDistribution.
//  * "max-prob": the calibrated probability of the less likely class, min(p, 1 - p) with
//    p = ApplyCalibration(raw output): 0 for a fully confident answer, 0.5 for a coin toss. For a
//    one-logit sigmoid model it is a monotone function of the max logit |z| / T (and of the max
//    softmax probability), so those rank images identically.
//  * "feature-distance": how far the penultimate features (Model::features) lie from the nearer
//    class mean, in units of the pooled within-class spread: min over classes of the mean over
//    features of (f - mean)^2 / variance (a Mahalanobis distance with a diagonal shared covariance,
//    divided by the feature count).
constexpr const char* kOodMaxProb = "max-prob";
constexpr const char* kOodFeatureDistance = "feature-distance";
float OodScore(const ModelInfo& info, float raw_p_dog);  // max-prob
// The max-prob score from an already calibrated P(dog). NaN for NaN.
float OodScoreOfCalibrated(float p_dog);
// The feature-distance score of `n` features; NaN when the model has no such statistics or n differs.
float FeatureDistance(const ModelInfo& info, const float* features, size_t n);
// The score of sample `sample` of the model's last Run by the model's own method (raw_p_dog: that
// sample's raw output); NaN without an ood block.
float ModelOodScore(const Model& model, int sample, float raw_p_dog);
// The decision from a score already computed by the model's method: score > info.ood_threshold;
// false when the model has no ood block. A NaN score is out of distribution (it is no answer at all).
bool IsOutOfDistributionScore(const ModelInfo& info, float score);
// IsOutOfDistributionScore of ModelOodScore(model, sample, raw_p_dog).
bool IsOutOfDistribution(const Model& model, int sample, float raw_p_dog);

// ---- self-check (userDefinedMetadata.catdog.selfcheck, DESIGN contract 3) ---------------------------
// A model carries, in its metadata, the preprocessing it was trained with (contract 1: name and
// version below), a few golden images with the outputs a correct runtime must give for them, and
// the SHA-256 of every weight shard. Right after loading, RunSelfCheck preprocesses each golden
// image with preprocess() and runs it through the model (on the backend in use), and hashes the
// shard bytes it was loaded from, so a runtime, a backend or a file that drifted is named.
constexpr const char* kPreprocessName = "catdog-gray";  // area-average resize + BT.601 luma, / 255
constexpr int kPreprocessVersion = 1;

struct SelfCheckGolden {
  std::string name;                       // e.g. "val Cat/123.jpg", "rgba 23x17 pattern"
  PixelFormat format = PixelFormat::kGray8;
  int width = 0, height = 0;              // pixels; tightly packed rows
  Fit fit = Fit::kStretch;
  std::vector<uint8_t> pixels;            // width * height * bytes per pixel
  std::vector<float> expected;            // model output for the preprocessed image (output_size())
};

struct SelfCheckReport {
  bool present = false;        // the model carries a selfcheck block
  std::string source;          // who computed the expected outputs: "libtorch" or "catdog-core"
  int total = 0;               // checks: preprocessing contract + each golden + each shard hash
  int passed = 0;
  std::string first_mismatch;  // empty when passed == total; names the check and both values
  bool verified() const { return present && total > 0 && passed == total; }
  // "model verified (5/5)", "model self-check FAILED (4/5): <first mismatch>", or
  // "model has no self-check block".
  std::string Summary() const;
};

// Runs the model's self-check. `shards` are the bytes LoadWeights was given (same order as
// shard_paths()). A malformed block is a failed check naming the field, not an error; the
// Status fails only when the model has no weights loaded or `shards` has the wrong count.
Status RunSelfCheck(Model& model, const std::vector<ShardBytes>& shards, SelfCheckReport* report);

// The golden images export and `catdog seal` record: the given gray photos (each
// input_size x input_size, at most `max_photos` of them), then deterministic patterns (a ramp with
// rings, xorshift noise) while there are fewer than three gray images, then one small RGBA image
// with center-crop, so preprocessing is covered.
std::vector<SelfCheckGolden> DefaultSelfCheckGoldens(
    int input_size, const std::vector<std::pair<std::string, std::vector<uint8_t>>>& gray_photos,
    size_t max_photos = 2);

// The model input (input_size * input_size floats) for a golden image: preprocess() with its fit.
Status PreprocessGolden(const SelfCheckGolden& golden, int input_size, std::vector<float>* out);

// The selfcheck block as JSON text: preprocessing description, goldens (pixels base64) with
// their `expected` outputs and `tolerance` (absolute), and each shard's size and SHA-256.
// `source` says who computed the outputs ("libtorch" at export, "catdog-core" when sealed).
std::string MakeSelfCheckBlock(int input_size, const std::vector<SelfCheckGolden>& goldens,
                               const std::vector<std::string>& shard_paths,
                               const std::vector<ShardBytes>& shards, const std::string& source,
                               double tolerance = 1e-4);

// Computes every golden's expected output with `model` (the core itself; for models that have
// no training checkpoint any more), then MakeSelfCheckBlock with source "catdog-core".
Status SealSelfCheck(Model& model, const std::vector<ShardBytes>& shards,
                     std::vector<SelfCheckGolden> goldens, std::string* block_json);

// Human-readable name of a backend ("reference", "simd", "xnnpack", "auto").
const char* BackendName(Backend b);
// The one parser of a backend name (every command's --backend): the names above; false otherwise.
bool ParseBackend(std::string_view name, Backend* out);
// "stretch" / "crop", and the one parser of those names (--fit, userDefinedMetadata.catdog.fit).
const char* FitName(Fit f);
bool ParseFit(std::string_view name, Fit* out);
// Whether this build has the backend.
bool BackendAvailable(Backend b);
// One line for --version and bug reports: the SIMD kernel table in use on this CPU and why (best
// the CPU supports, or the CATDOG_ISA override, or why that override was ignored), every table
// compiled in and what the CPU lacks for each, the CPU flags seen, and whether XNNPACK is built in.
// *override_ignored (when given) says whether CATDOG_ISA asked for a table that cannot run here.
std::string DescribeKernels(bool* override_ignored = nullptr);

}  // namespace catdog
