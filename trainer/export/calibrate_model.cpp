#include "calibrate_model.h"

#include <nlohmann/json.hpp>
#include "catdog/json_bounded.h"
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <system_error>

#include "calibrate.h"
#include "catdog/catdog.h"
#include "exit_codes.h"
#include "fsutil.h"
#include "model_files.h"
#include "metrics.h"
#include "pack.h"

namespace catdog::cli {
namespace {
namespace stdfs = std::filesystem;

int Fail(int code, const std::string& msg) {
  spdlog::error("calibrate: {}", msg);
  return code;
}

}  // namespace

int CalibrateModel(const CalibrateOptions& a) {
  if (a.batch < 1) return Fail(kExitBadInput, "--batch " + std::to_string(a.batch) + ": must be >= 1");
  pack::Split sp;
  if (!pack::ParseSplit(a.split, &sp)) return Fail(kExitBadInput, "--split '" + a.split + "': must be train, val or test");
  if (sp == pack::kTest) spdlog::warn("calibrate: fitting on the test split makes its test metrics optimistic");

  // The model folder and its model.json (--model may name either), read once by the one
  // hostile-input-safe reader (model_files.h): the text rewritten below is the text loaded.
  LoadOptions lo;
  lo.threads = a.threads;
  // --out's rule first (DESIGN contract 4): never the model's folder, one holding it or inside it,
  // nor the pack; a folder catdog did not write only with --force.
  fs::ModelOutOptions rule;
  rule.force = a.force;
  if (!a.out.empty()) {
    rule.inputs = {fs::ModelFolderOf(a.model), a.pack};
    Status rs = fs::CheckModelOutDir(a.out, rule);
    if (!rs) return Fail(kExitBadInput, rs.message() + (a.out.empty() ? "" : " (without --out, calibrate writes in place)"));
  }
  fs::ModelFiles files;
  Status s = fs::ReadModelFiles(a.model, lo, &files);
  if (s) s = files.model->LoadWeights(files.Views());
  if (!s) return Fail(kExitBadInput, s.message());
  const stdfs::path src_json = files.json_path;
  const std::vector<std::string> shard_paths = files.model->shard_paths();
  std::unique_ptr<Model> model = std::move(files.model);
  const ModelInfo& info = model->info();
  if (info.input_shape.size() != 3 || info.input_shape[0] != info.input_shape[1] || info.input_shape[2] != 1 ||
      model->output_size() != 1)
    return Fail(kExitBadInput, src_json.string() + ": expected a [S,S,1] -> [1] sigmoid cat/dog model");
  const int S = int(info.input_shape[0]);

  pack::Pack p;
  s = pack::ReadPack(a.pack, &p);
  if (!s) return Fail(kExitBadInput, s.message());
  if (p.size != S)
    return Fail(kExitBadInput, a.pack + ": images are " + std::to_string(p.size) + "x" + std::to_string(p.size) +
                                   ", the model " + src_json.string() + " takes " + std::to_string(S) + "x" +
                                   std::to_string(S));
  const std::vector<size_t> idx = p.Indices(sp);
  if (idx.empty()) return Fail(kExitBadInput, a.pack + ": the '" + a.split + "' split is empty");
  // A temperature fitted on one class only pushes every score towards that class: refused.
  size_t dogs = 0;
  for (size_t i : idx) dogs += p.labels[i] ? 1 : 0;
  if (dogs == 0 || dogs == idx.size())
    return Fail(kExitBadInput, a.pack + ": the '" + a.split + "' split holds only " + (dogs ? "dogs" : "cats") + " (" +
                                   std::to_string(idx.size()) + " images); calibration needs both classes");

  // Raw outputs through the shared core.
  const size_t plane = size_t(S) * S;
  std::vector<float> raw(idx.size()), in, out;
  std::vector<uint8_t> labels(idx.size());
  for (size_t start = 0; start < idx.size(); start += size_t(a.batch)) {
    const size_t len = std::min(idx.size() - start, size_t(a.batch));
    in.resize(len * plane);
    out.resize(len);
    for (size_t i = 0; i < len; ++i) {
      const uint8_t* px = p.image(idx[start + i]);
      for (size_t k = 0; k < plane; ++k) in[i * plane + k] = float(px[k]) / 255.f;
    }
    s = model->Run(in.data(), int(len), out.data());
    if (!s) return Fail(kExitFailure, src_json.string() + ": inference failed: " + s.message());
    for (size_t i = 0; i < len; ++i) {
      if (!std::isfinite(out[i]) || out[i] < 0 || out[i] > 1)
        return Fail(kExitBadInput, src_json.string() + ": output " + std::to_string(out[i]) + " for pack record " +
                                       std::to_string(idx[start + i]) + " is not a probability in [0, 1]");
      raw[start + i] = out[i];
      labels[start + i] = p.labels[idx[start + i]];
    }
  }

  std::vector<double> logits(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) logits[i] = calibrate::Logit(raw[i]);
  const double T = calibrate::FitTemperature(logits, labels);
  if (!std::isfinite(T) || !(T > 0)) return Fail(kExitFailure, "the fit gave temperature " + std::to_string(T));
  if (*calibrate::DegenerateFit(T))
    return Fail(kExitBadInput, a.pack + " split " + a.split + " (" + std::to_string(idx.size()) + " images), model " +
                                   src_json.string() + ": " + calibrate::DegenerateFit(T) + "; nothing was written");
  std::vector<float> cal(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) cal[i] = ApplyTemperature(T, raw[i]);

  metrics::Report before, after;
  if (!(s = metrics::Compute(raw, labels, 0.5, 10, &before)) || !(s = metrics::Compute(cal, labels, 0.5, 10, &after)))
    return Fail(kExitFailure, s.message());

  // The calibrated model.json, made before anything is copied or written (bad input leaves nothing).
  const std::string& text = files.text;
  nlohmann::ordered_json doc;
  std::string why;
  if (!jsonb::Parse(text, &doc, &why, src_json.string())) return Fail(kExitBadInput, why);
  if (!doc.is_object()) return Fail(kExitBadInput, src_json.string() + ": not a JSON object");
  auto& meta = doc["userDefinedMetadata"];
  if (meta.is_null()) meta = nlohmann::ordered_json::object();
  if (!meta.is_object()) return Fail(kExitBadInput, src_json.string() + ": userDefinedMetadata " + meta.dump() + " is not an object");
  auto& c = meta["catdog"];
  if (c.is_null()) c = nlohmann::ordered_json::object();
  if (!c.is_object()) return Fail(kExitBadInput, src_json.string() + ": userDefinedMetadata.catdog " + c.dump().substr(0, 80) + " is not an object");
  nlohmann::ordered_json calj = {{"method", "temperature"},      {"temperature", T},
                                 {"split", a.split},             {"pack_hash", p.content_hash},
                                 {"n", idx.size()},              {"nll_before", before.log_loss},
                                 {"nll_after", after.log_loss},  {"ece_before", before.ece},
                                 {"ece_after", after.ece}};
  c["calibration"] = calj;
  // Metadata chosen under the old temperature: ood-fit's "neither cat nor dog" block.
  // A max-prob threshold is on the calibrated P(dog): rescaled so that it keeps its decisions (and
  // so the TPR/FPR ood-fit measured); a feature-distance score does not depend on T.
  std::string ood_note;
  if (c.contains("ood") && c["ood"].is_object()) {
    auto& ood = c["ood"];
    const double t_old = ood.contains("temperature") && ood["temperature"].is_number() &&
                                 ood["temperature"].get<double>() > 0
                             ? ood["temperature"].get<double>()
                             : info.temperature;
    const std::string method = ood.value("method", "");
    if (method == "max-prob" && ood.contains("threshold") && ood["threshold"].is_number()) {
      const double t0 = ood["threshold"].get<double>(), t1 = calibrate::RescaleMaxProbThreshold(t0, t_old, T);
      ood["threshold"] = t1;
      ood["rescaled_from"] = {{"temperature", t_old}, {"threshold", t0}};
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "ood (max-prob): threshold %.6g chosen under temperature %.6g rescaled to %.6g for T %.6g "
                    "(same decisions)", t0, t_old, t1, T);
      ood_note = buf;
    } else {
      ood_note = "ood (" + method + "): its score does not depend on the temperature; kept";
    }
    ood["temperature"] = T;
  }
  const std::string new_text = doc.dump();

  // What the runtimes will load must parse (and carry the temperature) before it is written.
  stdfs::path dst_json = a.out.empty() ? src_json : stdfs::path(a.out) / "model.json";
  std::unique_ptr<Model> check;
  if (!(s = Model::Parse(new_text, &check, LoadOptions{}, dst_json.string())))
    return Fail(kExitFailure, "the calibrated model.json does not parse: " + s.message());
  if (a.out.empty()) {
    if (!(s = fs::WriteFileAtomic(dst_json.string(), new_text))) return Fail(kExitFailure, s.message());
  } else {
    // A new model folder holds model.json and the shards it names, the bytes that were loaded:
    // nothing else of the source folder is read (no symlink, FIFO or stray file followed).
    if (!(s = fs::WriteModelDir(a.out, new_text, shard_paths, files.blobs, rule))) return Fail(kExitFailure, s.message());
  }
  if (!ood_note.empty()) spdlog::info("calibrate: {}", ood_note);

  if (a.json) {
    nlohmann::ordered_json j = calj;
    j["model"] = fs::JsonSafeName(dst_json.string());
    j["pack"] = fs::JsonSafeName(a.pack);
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s: temperature %.6f fitted on %s split %s (%zu images, pack %s)\n", dst_json.string().c_str(), T,
                a.pack.c_str(), a.split.c_str(), idx.size(), p.content_hash.c_str());
    std::printf("NLL %.5f -> %.5f   ECE %.5f -> %.5f   accuracy %.4f (unchanged at threshold 0.5)\n", before.log_loss,
                after.log_loss, before.ece, after.ece, after.accuracy);
  }
  return kExitOk;
}

}  // namespace catdog::cli
