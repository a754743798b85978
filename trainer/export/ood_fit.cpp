#include "ood_fit.h"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
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

// Raw outputs for `count` samples of S*S bytes each, `pixels(i)` giving sample i.
template <class Pixels>
Status RunAll(Model& model, int S, int batch, size_t count, Pixels pixels, std::vector<float>* raw) {
  const size_t plane = size_t(S) * S;
  std::vector<float> in, out;
  raw->resize(count);
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
    std::copy(out.begin(), out.end(), raw->begin() + long(start));
  }
  return Status::Ok();
}

std::vector<float> Scores(const ModelInfo& info, const std::vector<float>& raw) {
  std::vector<float> s(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) s[i] = OodScore(info, raw[i]);
  return s;
}

Fit FitOf(const ModelInfo& info) {
  nlohmann::json meta = nlohmann::json::parse(info.user_metadata_json, nullptr, false);
  if (meta.is_object() && meta.contains("catdog") && meta["catdog"].is_object()) {
    const auto& c = meta["catdog"];
    if (c.contains("fit") && c["fit"].is_string() && c["fit"].get<std::string>() == "crop") return Fit::kCenterCrop;
  }
  return Fit::kStretch;
}

}  // namespace

Status ScoreFolder(Model& model, const std::string& dir, Fit fit, int batch, FolderScores* out, bool* bad) {
  *out = FolderScores();
  int S = 0;
  if (Status s = CheckCatDog(model, "the model", &S); !s) return Bad(bad, s.message());
  std::error_code ec;
  if (!stdfs::is_directory(dir, ec)) return Bad(bad, "--ood-images " + dir + ": not a folder");
  std::vector<stdfs::path> files;
  for (stdfs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path());
  if (ec) return Bad(bad, "--ood-images " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
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
  if (pixels.empty())
    return Bad(bad, "--ood-images " + dir + ": no decodable images (" + std::to_string(out->skipped.size()) + " skipped)");
  Status s = RunAll(model, S, batch, pixels.size(), [&](size_t i) { return pixels[i].data(); }, &out->raw);
  if (!s) return Status::Error("inference failed: " + s.message());
  return Status::Ok();
}

Status FitModel(const FitOptions& o, nlohmann::ordered_json* report, bool* bad) {
  *bad = false;
  if (!(o.tpr > 0 && o.tpr < 1)) return Bad(bad, "--tpr " + fmt::format("{}", o.tpr) + ": must be in (0, 1)");
  if (o.batch < 1) return Bad(bad, "--batch " + std::to_string(o.batch) + ": must be >= 1");
  pack::Split sp;
  if (o.split == "train") sp = pack::kTrain;
  else if (o.split == "val") sp = pack::kVal;
  else if (o.split == "test") sp = pack::kTest;
  else return Bad(bad, "--split '" + o.split + "': must be val, train or test");
  if (sp == pack::kTest) spdlog::warn("ood-fit: choosing the threshold on the test split makes its test numbers optimistic");

  LoadOptions lo;
  lo.threads = o.threads;
  fs::ModelFiles files;
  Status s = fs::ReadModelFiles(o.model, lo, &files);
  if (s) s = files.model->LoadWeights(files.Views());
  if (!s) return Bad(bad, s.message());
  Model& model = *files.model;
  const ModelInfo& info = model.info();
  int S = 0;
  if (!(s = CheckCatDog(model, files.json_path, &S))) return Bad(bad, s.message());

  pack::Pack p;
  if (!(s = pack::ReadPack(o.pack, &p))) return Bad(bad, s.message());
  if (p.size != S)
    return Bad(bad, o.pack + ": images are " + std::to_string(p.size) + "x" + std::to_string(p.size) + ", the model " +
                        files.json_path + " takes " + std::to_string(S) + "x" + std::to_string(S));
  const std::vector<size_t> idx = p.Indices(sp);
  if (idx.empty()) return Bad(bad, o.pack + ": the '" + o.split + "' split is empty");
  std::vector<float> raw;
  if (!(s = RunAll(model, S, o.batch, idx.size(), [&](size_t i) { return p.image(idx[i]); }, &raw)))
    return Status::Error(files.json_path + ": inference failed: " + s.message());
  const std::vector<float> in_scores = Scores(info, raw);
  const double t = ThresholdAtTpr(in_scores, o.tpr);
  if (!std::isfinite(t)) return Status::Error("no threshold accepts " + fmt::format("{:.1f}%", 100 * o.tpr) + " of the " + o.split + " split (NaN outputs?)");
  const Acceptance in_acc = Accepted(in_scores, t);

  FolderScores photos;
  if (!(s = ScoreFolder(model, o.images, FitOf(info), o.batch, &photos, bad))) return s;
  const std::vector<float> out_scores = Scores(info, photos.raw);
  const Acceptance out_acc = Accepted(out_scores, t);

  nlohmann::ordered_json block = {
      {"method", kOodMethod},
      {"threshold", t},
      {"score", "min(p, 1 - p) of the calibrated P(dog); above the threshold: neither cat nor dog"},
      {"temperature", info.temperature},
      {"tpr_target", o.tpr},
      {"split", o.split},
      {"pack_hash", p.content_hash},
      {"n", in_acc.n},
      {"accepted", in_acc.accepted},
      {"choose", {{"images", photos.names.size()},
                  {"skipped", photos.skipped.size()},
                  {"accepted", out_acc.accepted},
                  {"fpr", out_acc.rate()},
                  {"auroc", Auroc(in_scores, out_scores)}}}};

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
      check->info().ood_threshold != t)
    return Status::Error("the model.json with the ood block does not read back: " + s.message());
  if (!(s = fs::WriteFileAtomic(files.json_path, text))) return s;

  *report = block;
  (*report)["model"] = files.json_path;
  (*report)["images"] = o.images;
  (*report)["choose"]["skipped_files"] = photos.skipped;
  return Status::Ok();
}

Status Measure(Model& model, Fit fit, int batch, const std::vector<float>& p_dog, const std::string& split,
               const std::string& dir, nlohmann::json* out, bool* bad) {
  *bad = false;
  const ModelInfo& info = model.info();
  if (!info.has_ood)
    return Bad(bad, "--ood-images: the model has no userDefinedMetadata.catdog.ood; run `catdog ood-fit` first");
  FolderScores photos;
  if (Status s = ScoreFolder(model, dir, fit, batch, &photos, bad); !s) return s;
  // The split's decision from the calibrated P(dog) evaluate already has; the photos' through the
  // core's IsOutOfDistribution, as the page decides.
  std::vector<float> in_scores(p_dog.size());
  for (size_t i = 0; i < p_dog.size(); ++i) in_scores[i] = OodScoreOfCalibrated(p_dog[i]);
  const Acceptance in_acc = Accepted(in_scores, info.ood_threshold);
  size_t accepted = 0;
  nlohmann::json acc_names = nlohmann::json::array();
  std::vector<float> out_scores = Scores(info, photos.raw);
  for (size_t i = 0; i < photos.raw.size(); ++i)
    if (!IsOutOfDistribution(info, photos.raw[i])) {
      ++accepted;
      acc_names.push_back({{"name", fs::JsonSafeName(photos.names[i])},
                           {"p_dog", ApplyCalibration(info, photos.raw[i])},
                           {"score", out_scores[i]}});
    }
  *out = {{"method", info.ood_method},
          {"threshold", info.ood_threshold},
          {"split", split},
          {"tpr", in_acc.rate()},
          {"split_images", in_acc.n},
          {"split_accepted", in_acc.accepted},
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
      "neither cat nor dog ({} score, threshold {:.4f}): TPR {:.2f}% ({} of {} {} images accepted as cat/dog)\n",
      m["method"].get<std::string>(), m["threshold"].get<double>(), 100 * m["tpr"].get<double>(),
      m["split_accepted"].get<size_t>(), m["split_images"].get<size_t>(), m["split"].get<std::string>());
  s += fmt::format("          FPR {:.2f}% ({} of {} non-animal photos in {} accepted as cat/dog; {} skipped)   AUROC {:.4f}\n",
                   100 * m["fpr"].get<double>(), m["ood_accepted"].get<size_t>(), m["ood_images"].get<size_t>(),
                   m["images"].get<std::string>(), m["skipped"].size(), m["auroc"].get<double>());
  return s;
}

}  // namespace catdog::ood
