// `catdog quantize` (quantize.h): read with the one model reader (model_files.h), re-encode with the
// format's one writer (catdog/tfjs_format.h), seal with the core (seal.h), write with the one
// model-folder writer, then the index.
#include "quantize.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <vector>

#include "catdog/json_bounded.h"
#include "catdog/tfjs_format.h"
#include "fsutil.h"
#include "learning_check.h"
#include "model_files.h"
#include "seal.h"

namespace catdog::cli {
namespace {

using ojson = nlohmann::ordered_json;
namespace stdfs = std::filesystem;

// What the export's golden pairs (libtorch outputs on the float weights) may differ by after
// quantization: they stay in model.json as the float model's record; the self-check is re-sealed.
double GoldenTolerance(tfjs::DType d) {
  return d == tfjs::DType::kUint8 ? 0.05 : d == tfjs::DType::kUint16 ? 1e-3 : 1e-2;
}

std::string Dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

// The index.json with the quantized model's entry added (or replacing the entry of the same id).
// The entry starts from the source model's entry (same arch, epochs, title...) when the index
// lists it; its metrics describe the float weights, so they are dropped unless --metrics gives
// the quantized model's own (`catdog evaluate --json`).
Status PlanIndex(const QuantizeOptions& o, const std::string& src_json, const std::string& arch, uint64_t size_bytes,
                 QuantizeResult* r, std::string* text, bool* bad) {
  *bad = true;
  std::string raw, why;
  Status s = fs::ReadTextFile(o.index, &raw);
  if (!s) return Status::Error("--index " + s.message());
  ojson doc;
  if (!jsonb::Parse(raw, &doc, &why, o.index)) return Status::Error("--index " + why);
  if (!doc.is_object() || !doc.contains("models") || !doc["models"].is_array())
    return Status::Error("--index " + o.index + ": not the page's models/index.json (no \"models\" list)");
  std::error_code ec;
  const stdfs::path index_dir = stdfs::weakly_canonical(stdfs::absolute(o.index, ec).parent_path(), ec);
  const stdfs::path out_abs = stdfs::weakly_canonical(stdfs::absolute(o.out, ec), ec);
  const stdfs::path rel = out_abs.lexically_relative(index_dir);
  if (rel.empty() || *rel.begin() == ".." || rel == ".")
    return Status::Error("--out " + o.out + " is not inside " + index_dir.string() + ", the folder of --index " +
                         o.index + ": the page could not fetch it");
  const std::string path = (rel / "model.json").generic_string();
  const std::string src_rel =
      stdfs::weakly_canonical(stdfs::absolute(src_json, ec), ec).lexically_relative(index_dir).generic_string();

  ojson metrics;
  if (!o.metrics.empty()) {
    if (!(s = fs::ReadTextFile(o.metrics, &raw))) return Status::Error("--metrics " + s.message());
    if (!jsonb::Parse(raw, &metrics, &why, o.metrics)) return Status::Error("--metrics " + why);
    for (const char* k : {"accuracy", "auc", "ece", "n"})
      if (!metrics.is_object() || !metrics.contains(k) || !metrics[k].is_number())
        return Status::Error("--metrics " + o.metrics + ": no number '" + k + "' (expected `catdog evaluate --json` output)");
  }

  ojson entry = ojson::object();
  for (const ojson& e : doc["models"])
    if (e.is_object() && e.contains("path") && e["path"].is_string() && e["path"].get<std::string>() == src_rel) entry = e;
  const std::string src_title = entry.contains("title") && entry["title"].is_string() ? entry["title"].get<std::string>() : r->id;
  for (const char* k : {"test_accuracy", "auc", "ece", "test_n"}) entry.erase(k);
  entry["id"] = r->id;
  entry["path"] = path;
  if (!arch.empty()) entry["arch"] = arch;
  entry["quantization"] = o.dtype;
  entry["size_bytes"] = size_bytes;
  entry["title"] = o.title.empty() ? src_title + " (" + o.dtype + ")" : o.title;
  if (!metrics.is_null()) {
    entry["test_accuracy"] = metrics["accuracy"];
    entry["auc"] = metrics["auc"];
    entry["ece"] = metrics["ece"];
    entry["test_n"] = metrics["n"];
  }
  bool replaced = false;
  for (ojson& e : doc["models"])
    if (e.is_object() && e.contains("id") && e["id"] == r->id) e = entry, replaced = true;
  if (!replaced) doc["models"].push_back(entry);
  *text = doc.dump(2, ' ', false, ojson::error_handler_t::replace) + "\n";
  *bad = false;
  return Status::Ok();
}

}  // namespace

Status QuantizeModelDir(const std::string& model_path, const QuantizeOptions& o, QuantizeResult* r, bool* bad) {
  *bad = true;
  *r = QuantizeResult();
  tfjs::DType dtype;
  if (!tfjs::ParseDType(o.dtype, &dtype) || dtype == tfjs::DType::kFloat32)
    return Status::Error("--dtype '" + o.dtype + "': must be uint8, uint16 or float16");
  if (o.out.empty()) return Status::Error("--out: a folder for the quantized model is required");
  stdfs::path out(o.out);
  if (out.filename().empty()) out = out.parent_path();
  r->id = out.filename().string();
  // The output rule before anything is read (DESIGN contract 4): never the source, a folder
  // holding it or one inside it; a folder catdog did not write only with --force.
  const std::string src_dir = fs::ModelFolderOf(model_path);
  fs::ModelOutOptions mo;
  mo.force = o.force;
  mo.inputs = {src_dir};
  if (!o.index.empty()) mo.inputs.push_back(o.index);
  if (!o.metrics.empty()) mo.inputs.push_back(o.metrics);
  Status s = fs::CheckModelOutDir(out.string(), mo);
  if (!s) return s;

  // The float model, read and loaded by the one reader (reference backend: the oracle).
  LoadOptions lo;
  lo.backend = Backend::kReference;
  fs::ModelFiles files;
  s = fs::OpenModel(model_path, {lo}, &files);
  if (!s) return s;
  const std::string& src = files.json_path;
  std::vector<tfjs::NamedWeight> weights;
  if (!(s = tfjs::ReadWeights(files.text, files.Views(), src, &weights))) return s;
  for (const tfjs::NamedWeight& w : weights)
    if (w.stored != tfjs::DType::kFloat32)
      return Status::Error(src + ": weight '" + w.name + "' is stored as " + tfjs::DTypeName(w.stored) +
                           "; quantize the float32 model (quantizing twice adds both errors)");

  tfjs::WriteOptions wo;
  wo.dtype = dtype;
  tfjs::WeightFiles wf;
  if (!(s = tfjs::WriteWeights(weights, wo, &wf))) return s;

  // model.json: same topology and metadata (key order kept), the new manifest, the quantization
  // noted; the self-check is re-sealed below on the new shards.
  ojson doc;
  std::string why;
  if (!jsonb::Parse(files.text, &doc, &why, src)) return Status::Error(why);
  doc["weightsManifest"] = ojson::parse(wf.manifest_json);
  ojson& meta = doc["userDefinedMetadata"];
  if (meta.is_null()) meta = ojson::object();
  if (!meta.is_object()) return Status::Error(src + ": userDefinedMetadata is not an object");
  ojson& cd = meta["catdog"];
  if (cd.is_null()) cd = ojson::object();
  if (!cd.is_object()) return Status::Error(src + ": userDefinedMetadata.catdog is not an object");
  cd["quantization"] = o.dtype;
  if (cd.contains("golden")) cd["golden_tolerance"] = GoldenTolerance(dtype);
  const std::string arch = cd.contains("arch") && cd["arch"].is_string() ? cd["arch"].get<std::string>() : "";
  // A model that learned nothing (its run card's learning check, learning_check.h) does not ship.
  if (cd.contains("run_card") && cd["run_card"].is_object() && cd["run_card"].contains("learning_check")) {
    const train::LearningCheck c =
        train::LearningCheckFromJson(nlohmann::json::parse(Dump(cd["run_card"]["learning_check"]), nullptr, false));
    if (c.known && !c.beats_chance) {
      if (!o.allow_chance)
        return Status::Error(src + " does not beat chance: " + c.Describe() +
                             " (its run card). It learned nothing that holds on new photos; --allow-chance quantizes it "
                             "anyway");
      r->warning = src + " does not beat chance (" + c.Describe() + "); quantized anyway (--allow-chance)";
    }
  }

  const std::string out_json = (out / "model.json").string();
  std::string sealed;
  s = SealModelText(out_json, Dump(doc), wf.Views(), /*force=*/true, &sealed, &r->selfcheck);
  if (!s) return Status::Error("sealing the quantized model: " + s.message());

  // How far quantization moved the outputs: the float model on the new self-check's goldens.
  {
    ojson sd;
    jsonb::Parse(sealed, &sd, nullptr, out_json);
    std::vector<SelfCheckGolden> goldens;
    s = tfjs::ParseGoldens(Dump(sd["userDefinedMetadata"]["catdog"]["selfcheck"]["goldens"]),
                           "selfcheck.goldens", &goldens);
    if (!s) return s;
    const int side = int(files.model->info().input_shape[0]);
    std::vector<float> in, y(files.model->output_size());
    for (const SelfCheckGolden& g : goldens) {
      if (!(s = PreprocessGolden(g, side, &in)) || !(s = files.model->Run(in.data(), 1, y.data()))) return s;
      for (size_t k = 0; k < y.size() && k < g.expected.size(); ++k)
        r->max_abs_diff = std::max(r->max_abs_diff, std::fabs(double(y[k]) - double(g.expected[k])));
    }
  }

  r->weights = weights.size();
  for (const auto& b : wf.shards) r->weight_bytes += b.size();
  r->size_bytes = r->weight_bytes + sealed.size();
  std::string index_text;
  if (!o.index.empty()) {
    bool index_bad = false;
    if (!(s = PlanIndex(o, src, arch, r->size_bytes, r, &index_text, &index_bad))) {
      *bad = index_bad;
      return s;
    }
  }

  // Everything checked: the folder, then the index (each written atomically).
  *bad = false;
  if (!(s = fs::WriteModelDir(out.string(), sealed, wf.shard_names, wf.shards, mo))) return s;
  if (!o.index.empty() && !(s = fs::WriteFileAtomic(o.index, index_text)))
    return Status::Error("--index " + s.message() + " (the model folder " + out.string() + " was written)");
  return Status::Ok();
}

}  // namespace catdog::cli
