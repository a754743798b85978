#include "predict.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"
#include "catdog/classify.h"
#include "exit_codes.h"
#include "fsutil.h"
#include "seal.h"

namespace catdog::cli {
namespace {
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

// The image side S of a model predict can run ([S,S,1] in, P(dog) out). Threshold, fit and
// input_size were checked by Model::Parse (ModelInfo's facts, DESIGN contract 3).
Status ImageSide(const Model& model, const std::string& name, int* side) {
  const ModelInfo& info = model.info();
  if (info.input_shape.size() != 3 || info.input_shape[0] != info.input_shape[1] || info.input_shape[2] != 1)
    return Status::Error(name + ": predict needs a square one-channel image input [S,S,1], the model takes " +
                         [&] {
                           std::string s = "[";
                           for (size_t i = 0; i < info.input_shape.size(); ++i) s += (i ? "," : "") + std::to_string(info.input_shape[i]);
                           return s + "]";
                         }());
  *side = static_cast<int>(info.input_shape[0]);
  const size_t k = size_t(ClassCount(info));
  if (model.output_size() != 1 && model.output_size() != k)
    return Status::Error(name + ": predict needs 1 output (a sigmoid) or one softmax output per class, the model has " +
                         std::to_string(model.output_size()) + " outputs for " + std::to_string(k) + " labels");
  return Status::Ok();
}

}  // namespace

int RunPredict(const PredictOptions& o) {
  LoadOptions lo;
  if (!ParseBackend(o.backend, &lo.backend)) {
    spdlog::error("predict: --backend '{}': must be auto, reference, simd or xnnpack", o.backend);
    return kExitBadInput;
  }
  lo.threads = o.threads;
  for (const std::string& a : o.layer_aliases)
    if (Status as = ParseLayerAlias(a, &lo); !as) {
      spdlog::error("predict: {}", as.message());
      return kExitBadInput;
    }
  if (lo.backend != Backend::kAuto && !BackendAvailable(lo.backend)) {
    spdlog::error("predict: backend {} is not in this build", o.backend);
    return kExitBadInput;
  }
  std::unique_ptr<Model> model;
  SelfCheckReport check;
  Status s = o.selfcheck == "off" ? fs::LoadModelDir(o.model, lo, &model)
                                  : LoadModelDirChecked(o.model, lo, &model, &check);
  int side = 0;
  if (s) s = ImageSide(*model, o.model, &side);
  if (!s) {
    spdlog::error("predict: {}", s.message());
    return kExitBadInput;
  }
  const bool check_failed = o.selfcheck != "off" && check.present && !check.verified();
  if (o.selfcheck != "off") {
    if (check_failed) spdlog::warn("{}: {}", o.model, check.Summary());
    else spdlog::info("{}: {}{}", o.model, check.Summary(), check.present ? " [" + check.source + " goldens]" : "");
  }
  Fit fit = model->info().fit;  // the model's, unless --fit says otherwise
  if (!o.fit.empty() && !ParseFit(o.fit, &fit)) {
    spdlog::error("predict: --fit '{}': must be stretch or crop", o.fit);
    return kExitBadInput;
  }
  const double threshold = model->info().threshold;
  imaging::DecodeOptions dopt;
  dopt.max_pixels = o.max_pixels;

  json results = json::array(), errors = json::array();
  // JSON strings must be UTF-8: every name (and message naming it) goes through fs::JsonSafeName,
  // so one file name that is not UTF-8 is written escaped and flagged instead of losing every result.
  auto named = [](json j, const std::string& path) {
    bool escaped = false;
    j["path"] = fs::JsonSafeName(path, &escaped);
    if (escaped) j["path_escaped"] = true;
    if (j.contains("message")) j["message"] = fs::JsonSafeName(j["message"].get<std::string>());
    return j;
  };
  // With --flip the input holds two samples: the image, then its left-right mirror (one run).
  const int batch = o.flip ? 2 : 1;
  std::vector<float> input(batch * model->input_size()), output(batch * model->output_size());
  for (const std::string& path : o.images) {
    const auto t0 = Clock::now();
    imaging::Image img;
    imaging::Problem problem = imaging::Problem::kNone;
    Status st = imaging::DecodeFile(path, dopt, &img, &problem);
    if (st) {
      st = preprocess(img.view(), fit, side, input.data());
      if (!st) {
        problem = imaging::Problem::kCorrupt;
        st = Status::Error(path + ": " + st.message());
      }
    }
    if (st && o.flip) {  // sample 1: the mirror of sample 0
      const size_t S = static_cast<size_t>(side);
      MirrorLeftRight(input.data(), input.data() + model->input_size(), S, S, 1);
    }
    const auto t1 = Clock::now();
    if (st) st = model->Run(input.data(), batch, output.data());
    const auto t2 = Clock::now();
    if (!st) {
      const char* reason = problem == imaging::Problem::kNone ? "model" : imaging::ProblemName(problem);
      errors.push_back(named({{"reason", reason}, {"message", st.message()}}, path));
      if (!o.as_json) std::printf("%s: error (%s): %s\n", path.c_str(), reason, st.message().c_str());
      continue;
    }
    // The core's answer (catdog::Classify: the stored temperature on the logits, the threshold of a
    // two-class model, the largest class of K). --flip: ClassifyMirrored, as evaluate --flip and the
    // page compute it.
    const ModelInfo& info = model->info();
    const size_t per = model->output_size(), k = size_t(ClassCount(info));
    std::vector<float> probs(2 * k);
    const int cls = o.flip ? ClassifyMirrored(info, output.data(), output.data() + per, per, probs.data())
                           : Classify(info, output.data(), per, probs.data());
    bool finite = cls >= 0;
    for (size_t c = 0; c < k; ++c) finite = finite && std::isfinite(probs[c]);
    if (!finite) {
      errors.push_back(named({{"reason", "model"}, {"message", path + ": the model returned a non-finite value"}}, path));
      if (!o.as_json) std::printf("%s: error (model): non-finite output\n", path.c_str());
      continue;
    }
    const std::string& label = info.labels[size_t(cls)];
    json by_class = json::object();
    for (size_t c = 0; c < k; ++c) by_class[info.labels[c]] = probs[c];
    json res = named({{"label", label}, {"class", cls}, {"probs", by_class}, {"ms", Ms(t0, t2)},
                      {"decode_ms", Ms(t0, t1)}, {"run_ms", Ms(t1, t2)}}, path);
    // P(dog): the second class of a two-class model (what the tutorial's models output).
    const double p_dog = k == 2 ? probs[1] : NAN;
    if (k == 2) res["p_dog"] = p_dog;
    // "Neither cat nor dog" (the model's ood block, `catdog ood-fit`): the page's decision through the
    // same core call, on the image's own run (sample 0) also with --flip, as the page decides.
    std::string neither_text;
    if (model->info().has_ood) {
      const float raw = output[per == 2 ? 1 : 0];
      const float score = ModelOodScore(*model, 0, raw);
      const bool neither = IsOutOfDistributionScore(model->info(), score);
      res["neither"] = neither;
      res["ood_score"] = std::isfinite(score) ? json(score) : json(nullptr);
      if (neither) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "  -> neither cat nor dog (%s score %.4f > %.4f)", model->info().ood_method.c_str(),
                      double(score), model->info().ood_threshold);
        neither_text = buf;
      }
    }
    results.push_back(std::move(res));
    if (!o.as_json) {
      std::string shown;
      char buf[96];
      if (k == 2) {
        std::snprintf(buf, sizeof buf, "P(%s)=%.4f", info.labels[1].c_str(), p_dog);
        shown = buf;
      } else {
        for (size_t c = 0; c < k; ++c) {
          std::snprintf(buf, sizeof buf, "%s%.4f", c ? " " : "P=", double(probs[c]));
          shown += buf;
        }
      }
      std::printf("%s: %s  %s  %.2f ms (model %.2f ms)%s\n", fs::JsonSafeName(path).c_str(), label.c_str(), shown.c_str(),
                  Ms(t0, t2), Ms(t1, t2), neither_text.c_str());
    }
  }
  if (o.as_json) {
    json doc = {{"model", fs::JsonSafeName(o.model)}, {"backend", BackendName(model->backend())},
                {"labels", model->info().labels},
                {"threshold", ClassCount(model->info()) == 2 ? json(threshold) : json(nullptr)},
                {"fit", FitName(fit)},      {"input_size", side},                {"temperature", model->info().temperature},
                {"flip_averaging", o.flip},
                {"ood", model->info().has_ood ? json{{"method", model->info().ood_method},
                                                     {"threshold", model->info().ood_threshold}}
                                              : json(nullptr)},
                {"results", results},
                {"errors", errors}};
    if (o.selfcheck != "off")
      doc["selfcheck"] = {{"present", check.present}, {"verified", check.verified()}, {"passed", check.passed},
                          {"total", check.total},     {"source", check.source},       {"summary", check.Summary()},
                          {"first_mismatch", check.first_mismatch}};
    std::printf("%s\n", doc.dump(1).c_str());
  }
  if (!errors.empty()) spdlog::error("predict: {} of {} images failed", errors.size(), o.images.size());
  return !errors.empty() ? kExitBadInput : check_failed && o.selfcheck == "fail" ? kExitSelfCheck : kExitOk;
}

}  // namespace catdog::cli
