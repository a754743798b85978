#include "calibrate_model.h"

#include <nlohmann/json.hpp>
#include "catdog/json_bounded.h"
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <system_error>

#include "calibrate.h"
#include "catdog/catdog.h"
#include "catdog/classify.h"
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

// --keep-recall "LABEL[,LABEL...]=RATE" against the model's labels: which classes form the group
// (in_group[c]) and the rate in (0, 1]. The group must leave at least one class out.
Status ParseKeepRecall(const std::string& spec, const std::vector<std::string>& labels, std::vector<bool>* in_group,
                       double* rate) {
  const std::string at = "--keep-recall '" + spec + "': ";
  const size_t eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0) return Status::Error(at + "expected LABEL[,LABEL...]=RATE, e.g. cat,dog=0.97");
  const std::string r = spec.substr(eq + 1);
  char* end = nullptr;
  *rate = std::strtod(r.c_str(), &end);
  if (r.empty() || *end != '\0' || !std::isfinite(*rate) || !(*rate > 0) || *rate > 1)
    return Status::Error(at + "the rate '" + r + "' is not a number in (0, 1]");
  in_group->assign(labels.size(), false);
  size_t named = 0;
  for (size_t pos = 0; pos <= eq;) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos || comma > eq) comma = eq;
    const std::string name = spec.substr(pos, comma - pos);
    const auto it = std::find(labels.begin(), labels.end(), name);
    if (it == labels.end())
      return Status::Error(at + "'" + name + "' is not one of the model's labels " + nlohmann::json(labels).dump());
    if ((*in_group)[size_t(it - labels.begin())]) return Status::Error(at + "'" + name + "' is named twice");
    (*in_group)[size_t(it - labels.begin())] = true;
    ++named;
    pos = comma + 1;
  }
  if (named == labels.size()) return Status::Error(at + "names every class; leave out the ones to hold back");
  return Status::Ok();
}

// For --keep-recall: each image's margin max(group's z) - max(others' z) with z = log p / T; an image
// is called one of the group when its margin plus the offset is > 0.
std::vector<double> GroupMargins(const std::vector<double>& logp, size_t k, double T, const std::vector<bool>& in_group) {
  std::vector<double> m(logp.size() / k);
  for (size_t i = 0; i < m.size(); ++i) {
    double gin = -HUGE_VAL, gout = -HUGE_VAL;
    for (size_t c = 0; c < k; ++c) {
      const double z = logp[i * k + c] / T;
      double& g = in_group[c] ? gin : gout;
      g = std::max(g, z);
    }
    m[i] = gin - gout;
  }
  return m;
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
  Status s = fs::OpenModel(a.model, {lo}, &files);
  if (!s) return Fail(kExitBadInput, s.message());
  const stdfs::path src_json = files.json_path;
  const std::vector<std::string> shard_paths = files.model->shard_paths();
  std::unique_ptr<Model> model = std::move(files.model);
  const ModelInfo& info = model->info();
  const size_t k = size_t(ClassCount(info));
  const bool k_classes = k > 2 && model->output_size() == k;
  if (info.input_shape.size() != 3 || info.input_shape[0] != info.input_shape[1] || info.input_shape[2] != 1 ||
      (model->output_size() != 1 && !k_classes))
    return Fail(kExitBadInput, src_json.string() + ": expected a [S,S,1] image model with one sigmoid output or one "
                                                   "softmax output per label");
  const int S = int(info.input_shape[0]);
  std::vector<bool> in_group;
  double keep_rate = 0;
  if (!a.keep_recall.empty()) {
    if (!k_classes)
      return Fail(kExitBadInput, "--keep-recall is for a model of K > 2 softmax classes; " + src_json.string() +
                                     " has two (its threshold decides)");
    if (!(s = ParseKeepRecall(a.keep_recall, info.labels, &in_group, &keep_rate))) return Fail(kExitBadInput, s.message());
  }

  pack::Pack p;
  s = pack::ReadPack(a.pack, &p);
  if (!s) return Fail(kExitBadInput, s.message());
  if (p.size != S)
    return Fail(kExitBadInput, a.pack + ": images are " + std::to_string(p.size) + "x" + std::to_string(p.size) +
                                   ", the model " + src_json.string() + " takes " + std::to_string(S) + "x" +
                                   std::to_string(S));
  const std::vector<size_t> idx = p.Indices(sp);
  if (idx.empty()) return Fail(kExitBadInput, a.pack + ": the '" + a.split + "' split is empty");
  if (k_classes && p.class_names != info.labels)
    return Fail(kExitBadInput, a.pack + ": the pack's classes " + nlohmann::json(p.class_names).dump() +
                                   " are not the model's labels " + nlohmann::json(info.labels).dump());
  // A temperature fitted on one class only pushes every score towards that class: refused.
  {
    std::vector<size_t> per(p.class_names.size(), 0);
    for (size_t i : idx) ++per[p.labels[i]];
    size_t present = 0;
    for (size_t c : per) present += c > 0;
    if (present < 2)
      return Fail(kExitBadInput, a.pack + ": the '" + a.split + "' split holds one class only (" +
                                     std::to_string(idx.size()) + " images); calibration needs two or more");
  }

  const size_t plane = size_t(S) * S;
  double T = 1, nll0 = 0, nll1 = 0, ece0 = 0, ece1 = 0, accuracy = 0;
  std::vector<double> class_bias;        // --keep-recall's offsets, one per class
  nlohmann::ordered_json keep_json;      // and what they do on the split
  if (k_classes) {  // K softmax outputs: T on log p (catdog::Classify's calibration)
    std::vector<double> logp;
    std::vector<uint8_t> labels;
    std::vector<float> in, out;
    for (size_t start = 0; start < idx.size(); start += size_t(a.batch)) {
      const size_t len = std::min(idx.size() - start, size_t(a.batch));
      in.resize(len * plane);
      out.resize(len * k);
      for (size_t i = 0; i < len; ++i) {
        const uint8_t* px = p.image(idx[start + i]);
        for (size_t q = 0; q < plane; ++q) in[i * plane + q] = float(px[q]) / 255.f;
      }
      s = model->Run(in.data(), int(len), out.data());
      if (!s) return Fail(kExitFailure, src_json.string() + ": inference failed: " + s.message());
      for (size_t i = 0; i < len * k; ++i) {
        if (!std::isfinite(out[i]) || out[i] < 0 || out[i] > 1)
          return Fail(kExitBadInput, src_json.string() + ": output " + std::to_string(out[i]) + " for pack record " +
                                         std::to_string(idx[start + i / k]) + " is not a probability in [0, 1]");
        logp.push_back(std::log(std::max(double(out[i]), 1e-7)));
      }
      for (size_t i = 0; i < len; ++i) labels.push_back(p.labels[idx[start + i]]);
    }
    T = calibrate::FitTemperatureK(logp, k, labels);
    if (!std::isfinite(T) || !(T > 0)) return Fail(kExitFailure, "the fit gave temperature " + std::to_string(T));
    if (*calibrate::DegenerateFit(T))
      return Fail(kExitBadInput, a.pack + " split " + a.split + " (" + std::to_string(idx.size()) + " images), model " +
                                     src_json.string() + ": " + calibrate::DegenerateFit(T) + "; nothing was written");
    nll0 = calibrate::TemperatureNllK(logp, k, labels, 1.0);
    nll1 = calibrate::TemperatureNllK(logp, k, labels, T);
    // Top-label ECE (10 bins) before and after, and the accuracy (a temperature keeps the argmax).
    auto ece = [&](double t) {
      std::vector<double> conf(10, 0), hit(10, 0);
      size_t right = 0;
      for (size_t i = 0; i < labels.size(); ++i) {
        const double* z = logp.data() + i * k;
        size_t best = 0;
        double norm = 0;
        for (size_t c = 0; c < k; ++c) {
          if (z[c] > z[best]) best = c;
          norm += std::exp((z[c] - z[0]) / t);
        }
        const double pb = std::exp((z[best] - z[0]) / t) / norm;
        const size_t b = std::min<size_t>(9, size_t(pb * 10));
        conf[b] += pb;
        hit[b] += best == labels[i];
        right += best == labels[i];
      }
      accuracy = double(right) / double(labels.size());
      double e = 0;
      for (size_t b = 0; b < 10; ++b) e += std::fabs(conf[b] - hit[b]) / double(labels.size());
      return e;
    };
    ece0 = ece(1.0);
    ece1 = ece(T);
    if (!in_group.empty()) {
      // The smallest offset that lets at most floor((1 - rate) n) of the group's images fall
      // outside it, and what it costs the other classes' images (their share called one of them).
      const std::vector<double> m = GroupMargins(logp, k, T, in_group);
      std::vector<double> mg;
      size_t out_n = 0, out_before = 0;
      for (size_t i = 0; i < labels.size(); ++i) {
        if (in_group[labels[i]]) mg.push_back(m[i]);
        else ++out_n, out_before += m[i] < 0;
      }
      if (mg.empty())
        return Fail(kExitBadInput, a.pack + ": the '" + a.split + "' split has no image of " + a.keep_recall.substr(0, a.keep_recall.rfind('=')));
      std::sort(mg.begin(), mg.end());
      const size_t may_fail = size_t(std::floor((1.0 - keep_rate) * double(mg.size()) + 1e-9));
      const double delta = may_fail < mg.size() ? std::max(0.0, -mg[may_fail] + 1e-4) : 0.0;
      size_t kept_before = 0, kept_after = 0, out_after = 0;
      for (double v : mg) kept_before += v > 0, kept_after += v + delta > 0;
      for (size_t i = 0; i < labels.size(); ++i)
        if (!in_group[labels[i]]) out_after += m[i] + delta < 0;
      class_bias.assign(k, 0.0);
      for (size_t c = 0; c < k; ++c)
        if (!in_group[c]) class_bias[c] = -delta;
      keep_json = {{"classes", a.keep_recall.substr(0, a.keep_recall.rfind('='))},
                   {"rate", keep_rate},
                   {"offset", delta},
                   {"images", mg.size()},
                   {"kept_before", double(kept_before) / double(mg.size())},
                   {"kept_after", double(kept_after) / double(mg.size())},
                   {"others", out_n},
                   {"others_held_before", out_n ? double(out_before) / double(out_n) : 0.0},
                   {"others_held_after", out_n ? double(out_after) / double(out_n) : 0.0}};
    }
  } else {
  // Raw outputs through the shared core.
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
  T = calibrate::FitTemperature(logits, labels);
  if (!std::isfinite(T) || !(T > 0)) return Fail(kExitFailure, "the fit gave temperature " + std::to_string(T));
  if (*calibrate::DegenerateFit(T))
    return Fail(kExitBadInput, a.pack + " split " + a.split + " (" + std::to_string(idx.size()) + " images), model " +
                                   src_json.string() + ": " + calibrate::DegenerateFit(T) + "; nothing was written");
  std::vector<float> cal(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) cal[i] = ApplyTemperature(T, raw[i]);

  metrics::Report before, after;
  if (!(s = metrics::Compute(raw, labels, 0.5, 10, &before)) || !(s = metrics::Compute(cal, labels, 0.5, 10, &after)))
    return Fail(kExitFailure, s.message());
  nll0 = before.log_loss, nll1 = after.log_loss, ece0 = before.ece, ece1 = after.ece, accuracy = after.accuracy;
  }

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
                                 {"n", idx.size()},              {"nll_before", nll0},
                                 {"nll_after", nll1},            {"ece_before", ece0},
                                 {"ece_after", ece1}};
  if (!class_bias.empty()) {
    calj["class_bias"] = class_bias;
    calj["keep_recall"] = keep_json;
  }
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
    std::printf("NLL %.5f -> %.5f   ECE %.5f -> %.5f   accuracy %.4f (%s)\n", nll0, nll1, ece0, ece1, accuracy,
                k_classes ? "unchanged: the largest class stays the largest" : "unchanged at threshold 0.5");
    if (!class_bias.empty())
      std::printf("keep-recall %s: offset %.6f on the other classes; %s images called one of them %.4f -> %.4f, "
                  "the other classes' images held out of them %.4f -> %.4f\n",
                  keep_json["classes"].get<std::string>().c_str(), keep_json["offset"].get<double>(),
                  keep_json["classes"].get<std::string>().c_str(), keep_json["kept_before"].get<double>(),
                  keep_json["kept_after"].get<double>(), keep_json["others_held_before"].get<double>(),
                  keep_json["others_held_after"].get<double>());
  }
  return kExitOk;
}

}  // namespace catdog::cli
