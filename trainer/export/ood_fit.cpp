#include "ood_fit.h"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <numeric>
#include <system_error>

#include "catdog/json_bounded.h"
#include "fsutil.h"
#include "imaging.h"
#include "model_files.h"
#include "ood.h"
#include "pack.h"

namespace catdog::ood {
namespace {
namespace stdfs = std::filesystem;

Status Bad(bool* bad, std::string msg) {
  *bad = true;
  return Status::Error(std::move(msg));
}

bool IsImageName(const stdfs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return e == ".jpg" || e == ".jpeg" || e == ".png" || e == ".bmp" || e == ".webp";
}

// The model's [S,S,1] -> [1] shape, or a message naming `where`.
Status CheckCatDog(const Model& m, const std::string& where, int* size) {
  const ModelInfo& info = m.info();
  if (info.input_shape.size() != 3 || info.input_shape[0] != info.input_shape[1] || info.input_shape[2] != 1 ||
      m.output_size() != 1)
    return Status::Error(where + ": expected a [S,S,1] -> [1] sigmoid cat/dog model");
  *size = int(info.input_shape[0]);
  return Status::Ok();
}

// Runs `count` samples of S*S bytes (`pixels(i)`) in batches; after each batch calls
// each(i, raw output, index in the batch) while the model still holds that batch (its features).
template <class Pixels, class Each>
Status RunAll(Model& model, int S, int batch, size_t count, Pixels pixels, Each each) {
  const size_t plane = size_t(S) * S;
  std::vector<float> in, out;
  for (size_t start = 0; start < count; start += size_t(batch)) {
    const size_t len = std::min(count - start, size_t(batch));
    in.resize(len * plane);
    out.resize(len);
    for (size_t i = 0; i < len; ++i) {
      const uint8_t* px = pixels(start + i);
      for (size_t k = 0; k < plane; ++k) in[i * plane + k] = float(px[k]) / 255.f;
    }
    Status s = model.Run(in.data(), int(len), out.data());
    if (!s) return s;
    for (size_t i = 0; i < len; ++i) each(start + i, out[i], int(i));
  }
  return Status::Ok();
}

// Raw outputs and features of `count` samples.
template <class Pixels>
Status RunCollect(Model& model, int S, int batch, size_t count, Pixels pixels, std::vector<float>* raw,
                  std::vector<float>* features) {
  const size_t C = model.feature_size();
  raw->assign(count, 0.f);
  features->assign(count * C, 0.f);
  return RunAll(model, S, batch, count, pixels, [&](size_t i, float r, int b) {
    (*raw)[i] = r;
    if (const float* f = model.features(b)) std::copy(f, f + C, features->begin() + long(i * C));
  });
}

// 6 significant digits: what is stored, and so what the scores below are computed with.
float Round6(double v) { return float(std::stod(fmt::format("{:.6g}", v))); }

// Class means and pooled within-class variances of the features (n x C, labels 0/1) into
// info->ood_means / ood_inv_var. A variance is floored at 1e-6 of the mean variance so a feature
// that never varies on the training split (a dead ReLU) weighs a lot but not infinitely.
Status FitFeatureStats(const std::vector<float>& f, const std::vector<uint8_t>& labels, size_t C, ModelInfo* info) {
  const size_t n = labels.size();
  size_t count[2] = {0, 0};
  for (uint8_t y : labels) ++count[y ? 1 : 0];
  if (count[0] == 0 || count[1] == 0) return Status::Error("the training split needs both classes for the feature statistics");
  std::vector<double> mean(2 * C, 0.0), var(C, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < C; ++k) mean[(labels[i] ? C : 0) + k] += f[i * C + k];
  for (size_t c = 0; c < 2; ++c)
    for (size_t k = 0; k < C; ++k) mean[c * C + k] /= double(count[c]);
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < C; ++k) {
      const double d = f[i * C + k] - mean[(labels[i] ? C : 0) + k];
      var[k] += d * d;
    }
  double avg = 0;
  for (double& v : var) avg += (v /= double(n > 2 ? n - 2 : 1));
  avg /= double(C);
  info->ood_means.resize(2 * C);
  info->ood_inv_var.resize(C);
  for (size_t k = 0; k < 2 * C; ++k) info->ood_means[k] = Round6(mean[k]);
  for (size_t k = 0; k < C; ++k) info->ood_inv_var[k] = Round6(1.0 / std::max(var[k], 1e-6 * avg + 1e-30));
  return Status::Ok();
}

std::vector<float> MaxProbScores(const ModelInfo& info, const std::vector<float>& raw) {
  std::vector<float> s(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) s[i] = OodScore(info, raw[i]);
  return s;
}
std::vector<float> FeatureScores(const ModelInfo& info, const std::vector<float>& f, size_t C) {
  std::vector<float> s(C ? f.size() / C : 0);
  for (size_t i = 0; i < s.size(); ++i) s[i] = FeatureDistance(info, f.data() + i * C, C);
  return s;
}

nlohmann::ordered_json FloatsJson(const float* v, size_t n) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (size_t i = 0; i < n; ++i) a.push_back(std::stod(fmt::format("{:.6g}", v[i])));
  return a;
}

}  // namespace

Status ScoreFolder(Model& model, const std::string& dir, Fit fit, int batch, FolderScores* out, bool* bad) {
  *out = FolderScores();
  int S = 0;
  if (Status s = CheckCatDog(model, "the model", &S); !s) return Bad(bad, s.message());
  std::error_code ec;
  if (!stdfs::is_directory(dir, ec)) return Bad(bad, "--ood-images " + dir + ": not a folder");
  std::vector<stdfs::path> files;
  // Only the folder's own regular files are read; anything else is counted and named (a subfolder
  // of photos was ignored without a word).
  std::vector<std::pair<stdfs::path, const char*>> others;
  for (stdfs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2)) files.push_back(it->path());
    else if (it->is_directory(e2)) others.push_back({it->path(), "a folder (--ood-images reads only the files directly in it)"});
    else others.push_back({it->path(), "not a regular file"});
  }
  if (ec) return Bad(bad, "--ood-images " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::sort(others.begin(), others.end());
  for (const auto& [path, why] : others)
    out->skipped.push_back({{"path", fs::JsonSafeName(path.string())}, {"reason", why}});
  std::vector<std::vector<uint8_t>> pixels;
  for (const stdfs::path& f : files) {
    if (!IsImageName(f)) {
      out->skipped.push_back({{"path", fs::JsonSafeName(f.string())}, {"reason", "not an image name"}});
      continue;
    }
    imaging::Image img;
    imaging::Problem problem = imaging::Problem::kNone;
    std::vector<uint8_t> u8(size_t(S) * S);
    Status d = imaging::DecodeFile(f.string(), imaging::DecodeOptions{}, &img, &problem);
    if (d) d = preprocess_u8(img.view(), fit, S, u8.data());
    if (!d) {
      out->skipped.push_back({{"path", fs::JsonSafeName(f.string())}, {"reason", imaging::ProblemName(problem)},
                              {"detail", fs::JsonSafeName(d.message())}});
      continue;
    }
    out->names.push_back(f.filename().string());
    pixels.push_back(std::move(u8));
  }
  if (pixels.empty()) {
    std::string why;
    for (size_t i = 0; i < out->skipped.size() && i < 3; ++i)
      why += std::string(i ? "; " : ": ") + out->skipped[i]["path"].get<std::string>() + ": " +
             out->skipped[i]["reason"].get<std::string>() +
             (out->skipped[i].contains("detail") ? " (" + out->skipped[i]["detail"].get<std::string>() + ")" : "");
    if (out->skipped.size() > 3) why += "; ...";
    return Bad(bad, "--ood-images " + dir + ": no decodable images (" + std::to_string(out->skipped.size()) + " skipped" +
                        why + ")");
  }
  Status s = RunCollect(model, S, batch, pixels.size(), [&](size_t i) { return pixels[i].data(); }, &out->raw, &out->features);
  if (!s) return Status::Error("inference failed: " + s.message());
  return Status::Ok();
}

Status FitModel(const FitOptions& o, nlohmann::ordered_json* report, bool* bad) {
  *bad = false;
  if (!(o.tpr > 0 && o.tpr < 1)) return Bad(bad, "--tpr " + fmt::format("{}", o.tpr) + ": must be in (0, 1)");
  if (o.batch < 1) return Bad(bad, "--batch " + std::to_string(o.batch) + ": must be >= 1");
  if (o.method != "auto" && o.method != kOodMaxProb && o.method != kOodFeatureDistance)
    return Bad(bad, "--method '" + o.method + "': must be auto, max-prob or feature-distance");
  pack::Split sp;
  if (!pack::ParseSplit(o.split, &sp) || sp == pack::kTrain) return Bad(bad, "--split '" + o.split + "': must be val or test (the feature statistics come from train)");
  if (sp == pack::kTest) spdlog::warn("ood-fit: choosing the threshold on the test split makes its test numbers optimistic");

  LoadOptions lo;
  lo.threads = o.threads;
  fs::ModelFiles files;
  Status s = fs::OpenModel(o.model, {lo}, &files);
  if (!s) return Bad(bad, s.message());
  Model& model = *files.model;
  int S = 0;
  if (!(s = CheckCatDog(model, files.json_path, &S))) return Bad(bad, s.message());
  const size_t C = model.feature_size();

  pack::Pack p;
  if (!(s = pack::ReadPack(o.pack, &p))) return Bad(bad, s.message());
  if (p.size != S)
    return Bad(bad, o.pack + ": images are " + std::to_string(p.size) + "x" + std::to_string(p.size) + ", the model " +
                        files.json_path + " takes " + std::to_string(S) + "x" + std::to_string(S));
  const std::vector<size_t> idx = p.Indices(sp);
  if (idx.empty()) return Bad(bad, o.pack + ": the '" + o.split + "' split is empty");
  std::vector<float> val_raw, val_f;
  if (!(s = RunCollect(model, S, o.batch, idx.size(), [&](size_t i) { return p.image(idx[i]); }, &val_raw, &val_f)))
    return Status::Error(files.json_path + ": inference failed: " + s.message());
  FolderScores photos;
  if (!(s = ScoreFolder(model, o.images, model.info().fit, o.batch, &photos, bad))) return s;

  // The candidates: max-prob always; feature-distance where the model has penultimate features
  // and the pack a training split to fit their statistics on.
  ModelInfo stats = model.info();
  const std::vector<size_t> train = p.Indices(pack::kTrain);
  std::string no_features;
  if (C == 0) no_features = files.json_path + " has no penultimate features (its last weighted layer reads the input)";
  else if (train.empty()) no_features = o.pack + ": the 'train' split is empty";
  if (no_features.empty()) {
    std::vector<float> tr_raw, tr_f;
    std::vector<uint8_t> labels(train.size());
    for (size_t i = 0; i < train.size(); ++i) labels[i] = p.labels[train[i]];
    if (!(s = RunCollect(model, S, o.batch, train.size(), [&](size_t i) { return p.image(train[i]); }, &tr_raw, &tr_f)))
      return Status::Error(files.json_path + ": inference failed: " + s.message());
    if (!(s = FitFeatureStats(tr_f, labels, C, &stats))) no_features = o.pack + ": " + s.message();
  }
  if (o.method == kOodFeatureDistance && !no_features.empty()) return Bad(bad, "--method feature-distance: " + no_features);

  // The split's sure-and-right images (ood.h kSure), which auto keeps a score from rejecting.
  const std::vector<float> val_max_prob = MaxProbScores(stats, val_raw);
  std::vector<bool> sure_right(idx.size());
  size_t n_sure_right = 0;
  for (size_t i = 0; i < idx.size(); ++i) {
    sure_right[i] = val_max_prob[i] <= kSure && (val_raw[i] >= 0.5f) == (p.labels[idx[i]] == 1);
    n_sure_right += sure_right[i];
  }
  std::vector<OodCandidate> cands;
  auto add = [&](const std::string& method, const std::vector<float>& in, const std::vector<float>& out) {
    OodCandidate c;
    c.method = method;
    c.threshold = ThresholdAtTpr(in, o.tpr);
    c.val = Accepted(in, c.threshold);
    c.choose = Accepted(out, c.threshold);
    c.auroc = Auroc(in, out);
    for (size_t i = 0; i < in.size(); ++i) c.sure_rejected += sure_right[i] && !(in[i] <= c.threshold);
    if (std::isfinite(c.threshold)) cands.push_back(c);
  };
  add(kOodMaxProb, val_max_prob, MaxProbScores(stats, photos.raw));
  if (no_features.empty()) add(kOodFeatureDistance, FeatureScores(stats, val_f, C), FeatureScores(stats, photos.features, C));
  const OodCandidate* pick = PickCandidate(cands, o.method, n_sure_right);
  if (!pick)
    return Status::Error("no threshold accepts " + fmt::format("{:.1f}%", 100 * o.tpr) + " of the " + o.split +
                         " split (NaN outputs?)");

  nlohmann::ordered_json compared = nlohmann::ordered_json::array();
  for (const OodCandidate& c : cands)
    compared.push_back({{"method", c.method}, {"threshold", c.threshold}, {"val_accepted", c.val.accepted},
                        {"choose_accepted", c.choose.accepted}, {"choose_fpr", c.choose.rate()}, {"auroc", c.auroc},
                        {"sure_right_rejected", c.sure_rejected}});
  const bool feat = pick->method == kOodFeatureDistance;
  nlohmann::ordered_json block = {
      {"method", pick->method},
      {"threshold", pick->threshold},
      {"score", feat ? "min over classes of mean((f - mean)^2 / variance) of the penultimate features; above the "
                       "threshold: neither cat nor dog"
                     : "min(p, 1 - p) of the calibrated P(dog); above the threshold: neither cat nor dog"},
      {"temperature", model.info().temperature},
      {"tpr_target", o.tpr},
      {"split", o.split},
      {"pack_hash", p.content_hash},
      {"n", pick->val.n},
      {"accepted", pick->val.accepted},
      {"sure_right", n_sure_right},
      {"sure_right_rejected", pick->sure_rejected},
      {"choose", {{"images", photos.names.size()},
                  {"skipped", photos.skipped.size()},
                  {"accepted", pick->choose.accepted},
                  {"fpr", pick->choose.rate()},
                  {"auroc", pick->auroc}}},
      {"compared", compared}};
  if (!no_features.empty()) block["feature_distance_unavailable"] = no_features;
  if (feat) {
    block["stats_split"] = "train";
    block["stats_n"] = train.size();
    block["means"] = {FloatsJson(stats.ood_means.data(), C), FloatsJson(stats.ood_means.data() + C, C)};
    block["inv_var"] = FloatsJson(stats.ood_inv_var.data(), C);
  }

  // The new model.json, checked to parse and to carry the block before it replaces the file.
  nlohmann::ordered_json doc;
  std::string why;
  if (!jsonb::Parse(files.text, &doc, &why, files.json_path)) return Bad(bad, why);
  if (!doc.is_object()) return Bad(bad, files.json_path + ": not a JSON object");
  auto& meta = doc["userDefinedMetadata"];
  if (meta.is_null()) meta = nlohmann::ordered_json::object();
  if (!meta.is_object()) return Bad(bad, files.json_path + ": userDefinedMetadata " + meta.dump().substr(0, 80) + " is not an object");
  auto& c = meta["catdog"];
  if (c.is_null()) c = nlohmann::ordered_json::object();
  if (!c.is_object()) return Bad(bad, files.json_path + ": userDefinedMetadata.catdog " + c.dump().substr(0, 80) + " is not an object");
  c["ood"] = block;
  const std::string text = doc.dump();
  std::unique_ptr<Model> check;
  if (!(s = Model::Parse(text, &check, LoadOptions{}, files.json_path)) || !check->info().has_ood ||
      check->info().ood_threshold != pick->threshold || check->info().ood_means != (feat ? stats.ood_means : std::vector<float>{}))
    return Status::Error("the model.json with the ood block does not read back as written: " + s.message());
  if (!(s = fs::WriteFileAtomic(files.json_path, text))) return s;

  *report = block;
  if (feat) {  // the statistics are in model.json; the report keeps their size only
    (*report).erase("means");
    (*report).erase("inv_var");
    (*report)["features"] = C;
  }
  (*report)["model"] = files.json_path;
  (*report)["images"] = o.images;
  (*report)["choose"]["skipped_files"] = photos.skipped;
  return Status::Ok();
}

Status Measure(Model& model, Fit fit, int batch, size_t count, const std::function<const uint8_t*(size_t)>& pixels,
               const std::string& split, const std::string& dir, nlohmann::json* out, bool* bad) {
  *bad = false;
  const ModelInfo& info = model.info();
  if (!info.has_ood)
    return Bad(bad, "--ood-images: the model has no userDefinedMetadata.catdog.ood; run `catdog ood-fit` first");
  int S = 0;
  if (Status s = CheckCatDog(model, "the model", &S); !s) return Bad(bad, s.message());
  std::vector<float> in_scores(count);
  size_t in_accepted = 0;
  Status s = RunAll(model, S, batch, count, pixels, [&](size_t i, float raw, int b) {
    in_scores[i] = ModelOodScore(model, b, raw);
    in_accepted += IsOutOfDistributionScore(info, in_scores[i]) ? 0 : 1;
  });
  if (!s) return Status::Error("inference failed: " + s.message());

  FolderScores photos;
  if (!(s = ScoreFolder(model, dir, fit, batch, &photos, bad))) return s;
  // The photos' decisions from the features and outputs ScoreFolder kept, through the same
  // catdog::IsOutOfDistributionScore as the split's above.
  std::vector<float> out_scores(photos.raw.size());
  size_t accepted = 0;
  nlohmann::json acc_names = nlohmann::json::array();
  const size_t C = model.feature_size();
  for (size_t i = 0; i < photos.raw.size(); ++i) {
    const float raw = photos.raw[i];
    out_scores[i] = info.ood_method == kOodFeatureDistance ? FeatureDistance(info, photos.features.data() + i * C, C)
                                                           : OodScore(info, raw);
    if (!IsOutOfDistributionScore(info, out_scores[i])) {
      ++accepted;
      acc_names.push_back({{"name", fs::JsonSafeName(photos.names[i])}, {"p_dog", ApplyCalibration(info, raw)},
                           {"score", out_scores[i]}});
    }
  }
  *out = {{"method", info.ood_method},
          {"threshold", info.ood_threshold},
          {"split", split},
          {"tpr", count ? double(in_accepted) / double(count) : 0.0},
          {"split_images", count},
          {"split_accepted", in_accepted},
          {"images", dir},
          {"ood_images", photos.raw.size()},
          {"ood_accepted", accepted},
          {"fpr", photos.raw.empty() ? 0.0 : double(accepted) / double(photos.raw.size())},
          {"auroc", Auroc(in_scores, out_scores)},
          {"accepted_as_cat_or_dog", acc_names},
          {"skipped", photos.skipped}};
  return Status::Ok();
}

std::string MeasureText(const nlohmann::json& m) {
  std::string s = fmt::format(
      "neither cat nor dog ({} score, threshold {:.4f}): TPR {:.2f}% ({} of {} cat/dog images of {} accepted)\n",
      m["method"].get<std::string>(), m["threshold"].get<double>(), 100 * m["tpr"].get<double>(),
      m["split_accepted"].get<size_t>(), m["split_images"].get<size_t>(), m["split"].get<std::string>());
  s += fmt::format("          FPR {:.2f}% ({} of {} non-animal photos in {} accepted as cat/dog; {} skipped)   AUROC {:.4f}\n",
                   100 * m["fpr"].get<double>(), m["ood_accepted"].get<size_t>(), m["ood_images"].get<size_t>(),
                   m["images"].get<std::string>(), m["skipped"].size(), m["auroc"].get<double>());
  return s;
}

}  // namespace catdog::ood
