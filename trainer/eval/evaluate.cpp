#include "evaluate.h"

#include <nlohmann/json.hpp>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>

#include "catdog/catdog.h"
#include "catdog/classify.h"
#include "exit_codes.h"
#include "fsutil.h"
#include "metrics.h"
#include "models.h"
#include "pack.h"
#ifdef CATDOG_HAVE_OPENCV
#include "corruptions.h"
#include "imaging.h"
#include "ood_fit.h"
#include "prepare.h"
#endif

namespace catdog::cli {

namespace {

struct Sample {
  std::string path;
  uint8_t label = 0;
  std::vector<uint8_t> u8;  // size*size
};

// Where the evaluated images came from: the prose line ("source") for a reader, and the pack split and
// content hash as fields of their own (null for --images), so that a tool (scripts/make-report.mjs)
// reads them instead of parsing the prose.
struct Source {
  std::string text, split, pack_hash;
  nlohmann::json SplitJson() const { return split.empty() ? nlohmann::json(nullptr) : nlohmann::json(split); }
  nlohmann::json PackHashJson() const { return pack_hash.empty() ? nlohmann::json(nullptr) : nlohmann::json(pack_hash); }
};

int Fail(int code, const std::string& msg) {
  spdlog::error("{}", msg);
  return code;
}

// A K-class model (K > 2 softmax units, catdog/classify.h): accuracy, the K x K confusion matrix,
// per-class precision and recall, log loss and the top-label calibration error (ECE, 10 bins), with
// every answer from the core's Classify (as predict and the page).
int EvaluateK(const EvaluateOptions& a, Model& model, const std::vector<Sample>& samples, const Source& source,
              const nlohmann::json& skipped) {
  const ModelInfo& info = model.info();
  const size_t k = size_t(ClassCount(info)), S = size_t(info.input_shape[0]), plane = S * S, per = model.output_size();
  std::vector<std::vector<int64_t>> confusion(k, std::vector<int64_t>(k, 0));
  std::vector<float> in, out, mir_in, mir_out, probs(2 * k);
  std::vector<float> p_true(samples.size());
  std::vector<int> predicted(samples.size());
  double log_loss = 0;
  std::vector<double> bin_conf(10, 0), bin_acc(10, 0);
  for (size_t start = 0; start < samples.size(); start += size_t(a.batch)) {
    const size_t len = std::min(samples.size() - start, size_t(a.batch));
    in.resize(len * plane);
    out.resize(len * per);
    for (size_t i = 0; i < len; ++i)
      for (size_t q = 0; q < plane; ++q) in[i * plane + q] = float(samples[start + i].u8[q]) / 255.f;
    Status rs = model.Run(in.data(), int(len), out.data());
    if (rs && a.flip) {
      mir_in.resize(in.size());
      mir_out.resize(out.size());
      for (size_t i = 0; i < len; ++i) MirrorLeftRight(in.data() + i * plane, mir_in.data() + i * plane, S, S, 1);
      rs = model.Run(mir_in.data(), int(len), mir_out.data());
    }
    if (!rs) return Fail(kExitFailure, a.model_dir + ": inference failed: " + rs.message());
    for (size_t i = 0; i < len; ++i) {
      const int c = a.flip ? ClassifyMirrored(info, out.data() + i * per, mir_out.data() + i * per, per, probs.data())
                           : Classify(info, out.data() + i * per, per, probs.data());
      if (c < 0) return Fail(kExitFailure, a.model_dir + ": " + samples[start + i].path + ": the model returned NaN");
      const size_t truth = samples[start + i].label;
      ++confusion[truth][size_t(c)];
      predicted[start + i] = c;
      p_true[start + i] = probs[truth];
      log_loss -= std::log(std::max(double(probs[truth]), 1e-7));
      const double conf = probs[size_t(c)];
      const size_t b = std::min<size_t>(9, size_t(conf * 10));
      bin_conf[b] += conf;
      bin_acc[b] += size_t(c) == truth;
    }
  }
  const double n = double(samples.size());
  int64_t right = 0;
  for (size_t c = 0; c < k; ++c) right += confusion[c][c];
  double ece = 0;
  for (size_t b = 0; b < 10; ++b) ece += std::fabs(bin_acc[b] - bin_conf[b]) / n;
  nlohmann::json per_class = nlohmann::json::array();
  for (size_t c = 0; c < k; ++c) {
    int64_t row = 0, col = 0;
    for (size_t q = 0; q < k; ++q) row += confusion[c][q], col += confusion[q][c];
    per_class.push_back({{"label", info.labels[c]}, {"images", row},
                         {"recall", row ? nlohmann::json(double(confusion[c][c]) / double(row)) : nlohmann::json(nullptr)},
                         {"precision", col ? nlohmann::json(double(confusion[c][c]) / double(col)) : nlohmann::json(nullptr)}});
  }
  std::vector<size_t> order(samples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return p_true[x] < p_true[y]; });
  std::vector<size_t> worst;
  for (size_t i : order)
    if (worst.size() < a.worst && size_t(predicted[i]) != samples[i].label) worst.push_back(i);
  if (a.json) {
    nlohmann::json j = {{"model", fs::JsonSafeName(a.model_dir)}, {"source", fs::JsonSafeName(source.text)},
                        {"split", source.SplitJson()}, {"pack_hash", source.PackHashJson()},
                        {"backend", BackendName(model.backend())}, {"labels", info.labels}, {"n", samples.size()},
                        {"accuracy", double(right) / n}, {"log_loss", log_loss / n}, {"ece", ece},
                        {"confusion", confusion}, {"per_class", per_class}, {"temperature", info.temperature},
                        {"calibrated", info.temperature != 1.0}, {"flip_averaging", a.flip}, {"skipped", skipped}};
    nlohmann::json w = nlohmann::json::array();
    for (size_t i : worst)
      w.push_back({{"path", fs::JsonSafeName(samples[i].path)}, {"label", info.labels[samples[i].label]},
                   {"predicted", info.labels[size_t(predicted[i])]}, {"p_true", p_true[i]},
                   {"pixels_b64", train::Base64Encode(samples[i].u8.data(), samples[i].u8.size())}});
    j["worst"] = w;
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  std::printf("%s on %s: %zu images (%zu skipped), backend %s, %zu classes\n", a.model_dir.c_str(), source.text.c_str(),
              samples.size(), skipped.size(), BackendName(model.backend()), k);
  std::printf("accuracy  %.2f%%   log loss %.4f   ECE %.4f (temperature %.4f)\n", 100.0 * double(right) / n, log_loss / n,
              ece, info.temperature);
  size_t wname = 9;
  for (const std::string& l : info.labels) wname = std::max(wname, l.size());
  for (const auto& pc : per_class) {
    auto pct = [](const nlohmann::json& v) { return v.is_number() ? fmt::format("{:.2f}%", 100 * v.get<double>()) : "n/a"; };
    std::printf("%-*s precision %s  recall %s  (%lld images)\n", int(wname), pc["label"].get<std::string>().c_str(),
                pct(pc["precision"]).c_str(), pct(pc["recall"]).c_str(), (long long)pc["images"].get<int64_t>());
  }
  std::printf("confusion (rows true, cols predicted)\n%-*s", int(wname), "");
  for (size_t c = 0; c < k; ++c) std::printf(" %9.9s", info.labels[c].c_str());
  std::printf("\n");
  for (size_t c = 0; c < k; ++c) {
    std::printf("%-*s", int(wname), info.labels[c].c_str());
    for (size_t q = 0; q < k; ++q) std::printf(" %9lld", (long long)confusion[c][q]);
    std::printf("\n");
  }
  if (!worst.empty()) std::printf("worst mistakes (P(true class), true, predicted, path):\n");
  for (size_t i : worst)
    std::printf("  %.4f  %s  %s  %s\n", p_true[i], info.labels[samples[i].label].c_str(),
                info.labels[size_t(predicted[i])].c_str(), samples[i].path.c_str());
  return kExitOk;
}

}  // namespace

int RunEvaluate(const EvaluateOptions& a) {
  if (a.images.empty() == a.pack.empty()) return Fail(kExitBadInput, "evaluate: give exactly one of --images or --pack");
  if (a.batch < 1) return Fail(kExitBadInput, "--batch " + std::to_string(a.batch) + ": must be >= 1");
#ifdef CATDOG_HAVE_OPENCV
  if (a.corruptions && a.pack.empty())
    return Fail(kExitBadInput, "--corruptions needs --pack (the corrupted copies are made from a pack split)");
  for (int sev : a.severities)
    if (sev < 0 || sev > corrupt::kMaxSeverity)
      return Fail(kExitBadInput, "--severities: " + std::to_string(sev) + " is not in 0.." +
                                     std::to_string(corrupt::kMaxSeverity));
#else
  if (a.corruptions) return Fail(kExitBadInput, "--corruptions needs a build with OpenCV");
  if (!a.ood_images.empty()) return Fail(kExitBadInput, "--ood-images needs a build with OpenCV");
#endif
  if (!a.ood_images.empty() && a.uncalibrated)
    return Fail(kExitBadInput, "--ood-images: the threshold is on calibrated outputs; drop --uncalibrated");
  LoadOptions lo;
  if (!ParseBackend(a.backend, &lo.backend)) return Fail(kExitBadInput, "--backend '" + a.backend + "': must be reference, simd, xnnpack or auto");
  lo.threads = a.threads;
  for (const std::string& alias : a.layer_aliases)
    if (Status as = ParseLayerAlias(alias, &lo); !as) return Fail(kExitBadInput, as.message());
  std::unique_ptr<Model> model;
  Status s = fs::LoadModelDir(a.model_dir, lo, &model);
  if (!s) return Fail(kExitBadInput, s.message());
  const ModelInfo& info = model->info();
  const bool k_classes = ClassCount(info) > 2 && model->output_size() == size_t(ClassCount(info));
  if (info.input_shape.size() != 3 || info.input_shape[0] != info.input_shape[1] || info.input_shape[2] != 1 ||
      (model->output_size() != 1 && !k_classes))
    return Fail(kExitBadInput, a.model_dir + ": expected a [S,S,1] image model with one sigmoid output or one softmax "
                                             "output per label");
  if (k_classes && (a.corruptions || !a.ood_images.empty() || a.uncalibrated))
    return Fail(kExitBadInput, a.model_dir + ": --corruptions, --ood-images and --uncalibrated are for two-class models; "
                                             "this model has " + std::to_string(ClassCount(info)) + " classes");
  const int S = int(info.input_shape[0]);
  const double threshold = info.threshold;  // ModelInfo's facts, checked by Model::Parse
  const Fit fit = info.fit;

  std::vector<Sample> samples;
  nlohmann::json skipped = nlohmann::json::array();
  Source source;
  if (!a.pack.empty()) {
    pack::Pack p;
    s = pack::ReadPack(a.pack, &p);
    if (!s) return Fail(kExitBadInput, s.message());
    if (p.size != S)
      return Fail(kExitBadInput, a.pack + ": images are " + std::to_string(p.size) + "x" + std::to_string(p.size) +
                                     ", the model takes " + std::to_string(S) + "x" + std::to_string(S));
    if (k_classes && p.class_names != info.labels)
      return Fail(kExitBadInput, a.pack + ": the pack's classes " + nlohmann::json(p.class_names).dump() +
                                     " are not the model's labels " + nlohmann::json(info.labels).dump());
    pack::Split sp;
    if (!pack::ParseSplit(a.split, &sp)) return Fail(kExitBadInput, "--split '" + a.split + "': must be train, val or test");
    for (size_t i : p.Indices(sp)) {
      Sample smp;
      smp.path = i < p.paths.size() ? p.paths[i] : "#" + std::to_string(i);
      smp.label = p.labels[i];
      smp.u8.assign(p.image(i), p.image(i) + size_t(S) * S);
      samples.push_back(std::move(smp));
    }
    if (samples.empty()) return Fail(kExitBadInput, a.pack + ": the '" + a.split + "' split is empty");
    source.text = "pack " + a.pack + " split " + a.split + " (content hash " + p.content_hash + ")";
    source.split = a.split;
    source.pack_hash = p.content_hash;
  } else {
#ifdef CATDOG_HAVE_OPENCV
    std::vector<prepare::SourceFile> files;
    std::vector<prepare::Skipped> sk;
    s = prepare::Scan({a.images}, &files, &sk, k_classes ? info.labels : std::vector<std::string>{});
    if (!s) return Fail(kExitBadInput, s.message());
    for (const auto& x : sk) skipped.push_back({{"path", fs::JsonSafeName(x.path)}, {"reason", x.reason}});
    for (const prepare::SourceFile& f : files) {
      imaging::Image img;
      imaging::Problem problem = imaging::Problem::kNone;
      Status d = imaging::DecodeFile(f.path, imaging::DecodeOptions{}, &img, &problem);
      Sample smp;
      smp.path = f.rel;
      smp.label = f.label;
      smp.u8.resize(size_t(S) * S);
      if (d) d = preprocess_u8(img.view(), fit, S, smp.u8.data());
      if (!d) {
        skipped.push_back({{"path", fs::JsonSafeName(f.path)}, {"reason", imaging::ProblemName(problem)}, {"detail", fs::JsonSafeName(d.message())}});
        continue;
      }
      samples.push_back(std::move(smp));
    }
    if (samples.empty()) return Fail(kExitBadInput, a.images + ": no decodable images in the class folders");
    source.text = "images " + a.images;
#else
    return Fail(kExitBadInput, "--images needs a build with OpenCV; use --pack");
#endif
  }
  if (k_classes) return EvaluateK(a, *model, samples, source, skipped);

  std::vector<float> scores(samples.size());
  std::vector<uint8_t> labels(samples.size());
  std::vector<float> in, out, mirrored;
  const size_t plane = size_t(S) * S;
  // P(dog) of every sample, its pixels given by `pixels(i)`.
  auto score_all = [&](const std::function<const uint8_t*(size_t)>& pixels, std::vector<float>* sc) -> Status {
    sc->resize(samples.size());
    for (size_t start = 0; start < samples.size(); start += size_t(a.batch)) {
      const size_t len = std::min(samples.size() - start, size_t(a.batch));
      in.resize(len * plane);
      out.resize(len);
      for (size_t i = 0; i < len; ++i) {
        const uint8_t* px = pixels(start + i);
        for (size_t k = 0; k < plane; ++k) in[i * plane + k] = float(px[k]) / 255.f;
      }
      Status rs = model->Run(in.data(), int(len), out.data());
      if (!rs) return rs;
      auto cal = [&](float p) { return a.uncalibrated ? p : ApplyCalibration(info, p); };
      for (size_t i = 0; i < len; ++i) (*sc)[start + i] = cal(out[i]);
      if (a.flip) {  // the mirrored images, averaged in
        mirrored.resize(in.size());
        for (size_t i = 0; i < len; ++i) MirrorLeftRight(in.data() + i * plane, mirrored.data() + i * plane, S, S, 1);
        rs = model->Run(mirrored.data(), int(len), out.data());
        if (!rs) return rs;
        for (size_t i = 0; i < len; ++i) (*sc)[start + i] = MirrorAverage((*sc)[start + i], cal(out[i]));
      }
    }
    return Status::Ok();
  };
  s = score_all([&](size_t i) { return samples[i].u8.data(); }, &scores);
  if (!s) return Fail(kExitFailure, a.model_dir + ": inference failed: " + s.message());
  for (size_t i = 0; i < samples.size(); ++i) labels[i] = samples[i].label;
  metrics::Report r;
  s = metrics::Compute(scores, labels, threshold, 10, &r);
  if (!s) return Fail(kExitFailure, a.model_dir + ": " + s.message());
  std::vector<size_t> worst = metrics::WorstMistakes(scores, labels, threshold, a.worst);
  nlohmann::json oj;  // --ood-images
#ifdef CATDOG_HAVE_OPENCV
  if (!a.ood_images.empty()) {
    bool bad = false;
    s = ood::Measure(*model, fit, a.batch, samples.size(), [&](size_t i) { return samples[i].u8.data(); },
                     a.pack.empty() ? a.images : "split " + a.split, a.ood_images, &oj, &bad);
    if (!s) return Fail(bad ? kExitBadInput : kExitFailure, a.model_dir + ": " + s.message());
  }
#endif

  // Corrupted copies: accuracy per (kind, severity), and the mean over kinds per severity.
  nlohmann::json cj;
#ifdef CATDOG_HAVE_OPENCV
  if (a.corruptions) {
    cj = {{"seed", a.corruption_seed}, {"images", samples.size()}, {"clean_accuracy", r.accuracy},
          {"threshold", threshold}};
    nlohmann::json rows = nlohmann::json::array(), means = nlohmann::json::object(), kinds = nlohmann::json::object();
    std::vector<std::vector<uint8_t>> corrupted(samples.size());
    std::vector<float> sc;
    for (int sev : a.severities) {
      double sum = 0;
      for (corrupt::Kind k : corrupt::AllKinds()) {
        for (size_t i = 0; i < samples.size(); ++i) {
          s = corrupt::Apply(k, sev, a.corruption_seed, i, samples[i].u8.data(), S, &corrupted[i]);
          if (!s) return Fail(kExitFailure, s.message());
        }
        s = score_all([&](size_t i) { return corrupted[i].data(); }, &sc);
        if (!s) return Fail(kExitFailure, a.model_dir + ": inference failed: " + s.message());
        size_t right = 0;
        for (size_t i = 0; i < sc.size(); ++i) right += (sc[i] >= threshold ? 1 : 0) == labels[i];
        const double acc = double(right) / double(sc.size());
        sum += acc;
        rows.push_back({{"corruption", corrupt::KindName(k)}, {"severity", sev}, {"accuracy", acc}});
        kinds[corrupt::KindName(k)] = corrupt::KindDescription(k);
      }
      means[std::to_string(sev)] = sum / double(corrupt::AllKinds().size());
    }
    cj["results"] = rows;
    cj["mean_by_severity"] = means;
    cj["kinds"] = kinds;
  }
#endif

  if (a.json) {
    nlohmann::json j = metrics::ToJson(r);
    j["model"] = fs::JsonSafeName(a.model_dir);
    j["source"] = fs::JsonSafeName(source.text);
    j["split"] = source.SplitJson();
    j["pack_hash"] = source.PackHashJson();
    j["backend"] = BackendName(model->backend());
    j["temperature"] = info.temperature;
    j["calibrated"] = !a.uncalibrated && info.temperature != 1.0;
    j["flip_averaging"] = a.flip;
    nlohmann::json w = nlohmann::json::array();
    for (size_t i : worst)
      w.push_back({{"path", fs::JsonSafeName(samples[i].path)}, {"label", samples[i].label ? "dog" : "cat"}, {"p_dog", scores[i]},
                   {"pixels_b64", train::Base64Encode(samples[i].u8.data(), samples[i].u8.size())}});
    j["worst"] = w;
    j["skipped"] = skipped;
    if (!cj.is_null()) j["corruptions"] = cj;
    if (!oj.is_null()) j["ood"] = oj;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    auto pct = [](double v) { return std::isfinite(v) ? fmt::format("{:.2f}%", 100 * v) : std::string("n/a"); };
    std::printf("%s on %s: %zu images (%zu skipped), backend %s, threshold %.3f\n", a.model_dir.c_str(), source.text.c_str(),
                r.n, skipped.size(), BackendName(model->backend()), threshold);
    std::printf("P(dog)    %s (temperature %.4f)\n",
                a.uncalibrated ? "raw model outputs (--uncalibrated)" : "calibrated", info.temperature);
    std::printf("accuracy  %s   log loss %.4f   ROC AUC %.4f   ECE %.4f\n", pct(r.accuracy).c_str(), r.log_loss, r.auc,
                r.ece);
    std::printf("cat       precision %s  recall %s\n", pct(r.precision[0]).c_str(), pct(r.recall[0]).c_str());
    std::printf("dog       precision %s  recall %s\n", pct(r.precision[1]).c_str(), pct(r.recall[1]).c_str());
    std::printf("confusion (rows true, cols predicted)   cat     dog\n");
    std::printf("                                 cat %7lld %7lld\n", (long long)r.confusion[0][0],
                (long long)r.confusion[0][1]);
    std::printf("                                 dog %7lld %7lld\n", (long long)r.confusion[1][0],
                (long long)r.confusion[1][1]);
    if (!worst.empty()) std::printf("worst mistakes (P(dog), true label, path):\n");
    for (size_t i : worst)
      std::printf("  %.4f  %s  %s\n", scores[i], samples[i].label ? "dog" : "cat", samples[i].path.c_str());
#ifdef CATDOG_HAVE_OPENCV
    if (!oj.is_null()) std::printf("%s", ood::MeasureText(oj).c_str());
#endif
    if (!cj.is_null()) {
      std::printf("corruptions (seed %llu, accuracy; clean %s):\n", (unsigned long long)a.corruption_seed,
                  pct(r.accuracy).c_str());
      std::printf("  %-16s", "corruption");
      for (int sev : a.severities) std::printf("  severity %d", sev);
      std::printf("\n");
      const auto& rows = cj["results"];
      const size_t nk = rows.size() / a.severities.size();
      for (size_t k = 0; k < nk; ++k) {
        std::printf("  %-16s", rows[k]["corruption"].get<std::string>().c_str());
        for (size_t v = 0; v < a.severities.size(); ++v)
          std::printf("  %10s", pct(rows[v * nk + k]["accuracy"].get<double>()).c_str());
        std::printf("\n");
      }
      std::printf("  %-16s", "mean");
      for (int sev : a.severities)
        std::printf("  %10s", pct(cj["mean_by_severity"][std::to_string(sev)].get<double>()).c_str());
      std::printf("\n");
    }
  }
  return kExitOk;
}

}  // namespace catdog::cli
