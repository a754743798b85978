// `catdog predict --model DIR [--fit stretch|crop] [--json] [--backend B] IMAGE...`:
// decode (imaging.cpp) -> the core's preprocess -> Model::Run -> label, P(dog), milliseconds.
// The model's self-check runs after loading (--selfcheck fail|warn|off); its summary goes to stderr
// and, with --json, into the document.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "fsutil.h"
#include "imaging.h"
#include "seal.h"

namespace catdog::cli {
namespace {
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

// What the model says about its input (userDefinedMetadata.catdog, DESIGN contract 3).
struct ModelFacts {
  double threshold = 0.5;
  std::string fit;  // "" when the model does not say
  int size = 0;
};

Status ReadFacts(const Model& model, const std::string& name, ModelFacts* f) {
  const ModelInfo& info = model.info();
  if (info.input_shape.size() != 3 || info.input_shape[0] != info.input_shape[1] || info.input_shape[2] != 1)
    return Status::Error(name + ": predict needs a square one-channel image input [S,S,1], the model takes " +
                         [&] {
                           std::string s = "[";
                           for (size_t i = 0; i < info.input_shape.size(); ++i) s += (i ? "," : "") + std::to_string(info.input_shape[i]);
                           return s + "]";
                         }());
  f->size = static_cast<int>(info.input_shape[0]);
  if (model.output_size() != 1 && model.output_size() != 2)
    return Status::Error(name + ": predict needs 1 output (sigmoid P(dog)) or 2 (softmax cat, dog), the model has " +
                         std::to_string(model.output_size()));
  json meta = json::parse(info.user_metadata_json.empty() ? "{}" : info.user_metadata_json, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) return Status::Ok();
  auto it = meta.find("catdog");
  if (it == meta.end() || !it->is_object()) return Status::Ok();
  const json& c = *it;
  if (c.contains("threshold")) {
    if (!c["threshold"].is_number() || !(c["threshold"].get<double>() > 0 && c["threshold"].get<double>() < 1))
      return Status::Error(name + ": userDefinedMetadata.catdog.threshold " + c["threshold"].dump() + " is not a number in (0, 1)");
    f->threshold = c["threshold"].get<double>();
  }
  if (c.contains("fit")) {
    if (!c["fit"].is_string() || (c["fit"] != "stretch" && c["fit"] != "crop"))
      return Status::Error(name + ": userDefinedMetadata.catdog.fit " + c["fit"].dump() + " is not \"stretch\" or \"crop\"");
    f->fit = c["fit"].get<std::string>();
  }
  if (c.contains("input_size") && (!c["input_size"].is_number_integer() || c["input_size"].get<int>() != f->size))
    return Status::Error(name + ": userDefinedMetadata.catdog.input_size " + c["input_size"].dump() +
                         " disagrees with the input layer (" + std::to_string(f->size) + ")");
  return Status::Ok();
}

}  // namespace

void RegisterPredict(CLI::App& app) {
  struct Args {
    std::string model, fit, backend = "auto", selfcheck = "fail";
    bool as_json = false;
    int threads = 1;
    uint64_t max_pixels = imaging::DecodeOptions().max_pixels;
    std::vector<std::string> images;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("predict", "Classify photos: label, P(dog) and time per image");
  cmd->add_option("--model", args->model, "Folder holding model.json (or the model.json path)")->required();
  cmd->add_option("--fit", args->fit, "stretch or crop (default: what the model's metadata says, else stretch)")
      ->check(CLI::IsMember({"stretch", "crop"}));
  cmd->add_flag("--json", args->as_json, "Print one JSON document");
  cmd->add_option("--backend", args->backend, "auto, reference, simd or xnnpack")
      ->check(CLI::IsMember({"auto", "reference", "simd", "xnnpack"}))->capture_default_str();
  cmd->add_option("--threads", args->threads, "Kernel threads")->check(CLI::Range(1, 256))->capture_default_str();
  cmd->add_option("--max-pixels", args->max_pixels, "Refuse images whose header claims more pixels")
      ->check(CLI::Range(uint64_t(1), uint64_t(1) << 32))->capture_default_str();
  cmd->add_option("--selfcheck", args->selfcheck,
                  "The model's self-check after loading: fail (a mismatch is reported and the exit code is 3, "
                  "results are still printed), warn (reported only) or off")
      ->check(CLI::IsMember({"fail", "warn", "off"}))->capture_default_str();
  cmd->add_option("images", args->images, "Image files (JPEG, PNG, BMP, WebP)")->required();
  cmd->callback([args] {
    LoadOptions lo;
    lo.backend = args->backend == "reference" ? Backend::kReference
                 : args->backend == "simd"    ? Backend::kSimd
                 : args->backend == "xnnpack" ? Backend::kXnnpack
                                              : Backend::kAuto;
    lo.threads = args->threads;
    if (lo.backend != Backend::kAuto && !BackendAvailable(lo.backend)) {
      spdlog::error("predict: backend {} is not in this build", args->backend);
      ExitCode() = kExitBadInput;
      return;
    }
    std::unique_ptr<Model> model;
    SelfCheckReport check;
    Status s = args->selfcheck == "off" ? fs::LoadModelDir(args->model, lo, &model)
                                        : LoadModelDirChecked(args->model, lo, &model, &check);
    ModelFacts facts;
    if (s) s = ReadFacts(*model, args->model, &facts);
    if (!s) {
      spdlog::error("predict: {}", s.message());
      ExitCode() = kExitBadInput;
      return;
    }
    const bool check_failed = args->selfcheck != "off" && check.present && !check.verified();
    if (args->selfcheck != "off") {
      if (check_failed) spdlog::warn("{}: {}", args->model, check.Summary());
      else spdlog::info("{}: {}{}", args->model, check.Summary(), check.present ? " [" + check.source + " goldens]" : "");
    }
    const std::string fit_name = !args->fit.empty() ? args->fit : !facts.fit.empty() ? facts.fit : "stretch";
    const Fit fit = fit_name == "crop" ? Fit::kCenterCrop : Fit::kStretch;
    imaging::DecodeOptions dopt;
    dopt.max_pixels = args->max_pixels;

    json results = json::array(), errors = json::array();
    std::vector<float> input(model->input_size()), output(model->output_size());
    for (const std::string& path : args->images) {
      const auto t0 = Clock::now();
      imaging::Image img;
      imaging::Problem problem = imaging::Problem::kNone;
      Status st = imaging::DecodeFile(path, dopt, &img, &problem);
      if (st) {
        st = preprocess(img.view(), fit, facts.size, input.data());
        if (!st) {
          problem = imaging::Problem::kCorrupt;
          st = Status::Error(path + ": " + st.message());
        }
      }
      const auto t1 = Clock::now();
      if (st) st = model->Run(input.data(), 1, output.data());
      const auto t2 = Clock::now();
      if (!st) {
        const char* reason = problem == imaging::Problem::kNone ? "model" : imaging::ProblemName(problem);
        errors.push_back({{"path", path}, {"reason", reason}, {"message", st.message()}});
        if (!args->as_json) std::printf("%s: error (%s): %s\n", path.c_str(), reason, st.message().c_str());
        continue;
      }
      // Calibrated by the model's stored temperature (ModelInfo::temperature, 1 when absent).
      const double p_dog = ApplyCalibration(model->info(), output.size() == 2 ? output[1] : output[0]);
      if (!std::isfinite(p_dog)) {
        errors.push_back({{"path", path}, {"reason", "model"}, {"message", path + ": the model returned a non-finite value"}});
        if (!args->as_json) std::printf("%s: error (model): non-finite output\n", path.c_str());
        continue;
      }
      const char* label = p_dog >= facts.threshold ? "dog" : "cat";
      results.push_back({{"path", path}, {"label", label}, {"p_dog", p_dog}, {"ms", Ms(t0, t2)}, {"decode_ms", Ms(t0, t1)},
                         {"run_ms", Ms(t1, t2)}});
      if (!args->as_json)
        std::printf("%s: %s  P(dog)=%.4f  %.2f ms (model %.2f ms)\n", path.c_str(), label, p_dog, Ms(t0, t2), Ms(t1, t2));
    }
    if (args->as_json) {
      json doc = {{"model", args->model}, {"backend", BackendName(model->backend())}, {"threshold", facts.threshold},
                  {"fit", fit_name},      {"input_size", facts.size},                {"temperature", model->info().temperature},
                  {"results", results},
                  {"errors", errors}};
      if (args->selfcheck != "off")
        doc["selfcheck"] = {{"present", check.present}, {"verified", check.verified()}, {"passed", check.passed},
                            {"total", check.total},     {"source", check.source},       {"summary", check.Summary()},
                            {"first_mismatch", check.first_mismatch}};
      std::printf("%s\n", doc.dump(1).c_str());
    }
    if (!errors.empty()) spdlog::error("predict: {} of {} images failed", errors.size(), args->images.size());
    ExitCode() = !errors.empty() ? kExitBadInput : check_failed && args->selfcheck == "fail" ? kExitSelfCheck : kExitOk;
  });
}

}  // namespace catdog::cli
