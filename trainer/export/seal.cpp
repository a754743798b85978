// Model self-check for the CLI (seal.h): loading with the check, and sealing an exported model.
// Kept apart from cmd_seal.cpp (the subcommand) so tests can link it without the CLI's main.
#include "seal.h"

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include "catdog/json_bounded.h"
#include "catdog/tfjs_format.h"
#include <spdlog/spdlog.h>

#include "fsutil.h"
#include "model_files.h"

namespace catdog::cli {
namespace stdfs = std::filesystem;

Status LoadModelDirChecked(const std::string& dir_or_json, const LoadOptions& options, std::unique_ptr<Model>* out,
                           SelfCheckReport* report) {
  fs::ModelFiles files;
  fs::OpenOptions o;
  o.load = options;
  o.selfcheck_report = report;
  Status s = fs::OpenModel(dir_or_json, o, &files);
  if (!s) return s;
  *out = std::move(files.model);
  return Status::Ok();
}

Status SealModelText(const std::string& json_path, const std::string& text, const std::vector<ShardBytes>& shards,
                     bool force, std::string* sealed, std::string* summary) {
  using ojson = nlohmann::ordered_json;
  LoadOptions lo;
  lo.backend = Backend::kReference;  // the oracle every other backend is tested against
  std::unique_ptr<Model> model;
  Status s = Model::Parse(text, &model, lo, json_path);
  if (!s) return s;
  s = model->LoadWeights(shards);
  if (!s) return s;

  ojson doc;
  std::string why;
  if (!jsonb::Parse(text, &doc, &why, json_path)) return Status::Error(why);
  if (!doc.is_object()) return Status::Error(json_path + ": not a JSON object");
  ojson& meta = doc["userDefinedMetadata"];
  if (meta.is_null()) meta = ojson::object();
  if (!meta.is_object()) return Status::Error(json_path + ": userDefinedMetadata is not an object");
  ojson& cd = meta["catdog"];
  if (cd.is_null()) cd = ojson::object();
  if (!cd.is_object()) return Status::Error(json_path + ": userDefinedMetadata.catdog is not an object");
  if (cd.contains("selfcheck") && !force) {
    const ojson& old = cd["selfcheck"];
    const std::string src = old.is_object() && old.contains("source") && old["source"].is_string()
                                ? old["source"].get<std::string>() : "?";
    return Status::Error(json_path + ": already has a selfcheck block (source " + src +
                         "); pass --force to replace it with outputs computed by the core");
  }

  const int side = model->info().input_shape.empty() ? 0 : int(model->info().input_shape[0]);
  // Gray photos: the real images (pack paths such as "val Cat/1.jpg", so the check runs on what
  // the model was built for) among the export's golden pairs and the self-check block being
  // replaced, read with the one golden parser (tfjs_format.h). A list in another schema is
  // skipped with a warning: the patterns below still cover the model.
  std::vector<std::pair<std::string, std::vector<uint8_t>>> photos;
  auto take_photos = [&](const ojson& list, const char* where) {
    std::vector<SelfCheckGolden> gs;
    Status ps = tfjs::ParseGoldens(list.dump(-1, ' ', false, ojson::error_handler_t::replace), where, &gs);
    if (!ps) {
      spdlog::warn("seal: {}: {}; its images are not reused", json_path, ps.message());
      return;
    }
    for (SelfCheckGolden& g : gs) {
      if (g.format != PixelFormat::kGray8 || g.width != side || g.height != side) continue;
      if (g.name.find('/') == std::string::npos) continue;  // "constant 128" and other synthetic inputs
      bool seen = false;
      for (const auto& p : photos) seen = seen || p.first == g.name;
      if (!seen) photos.emplace_back(g.name, std::move(g.pixels));
    }
  };
  if (cd.contains("golden")) take_photos(cd["golden"], "userDefinedMetadata.catdog.golden");
  if (cd.contains("selfcheck") && cd["selfcheck"].is_object() && cd["selfcheck"].contains("goldens"))
    take_photos(cd["selfcheck"]["goldens"], "userDefinedMetadata.catdog.selfcheck.goldens");
  std::string block;
  s = SealSelfCheck(*model, shards, DefaultSelfCheckGoldens(side, photos), &block);
  if (!s) return Status::Error(json_path + ": " + s.message());
  cd["selfcheck"] = ojson::parse(block);
  const std::string out = doc.dump(-1, ' ', false, ojson::error_handler_t::replace);

  // Verify what is about to be written before replacing the file.
  std::unique_ptr<Model> check;
  s = Model::Parse(out, &check, {}, json_path);
  if (s) s = check->LoadWeights(shards);
  SelfCheckReport rep;
  if (s) s = RunSelfCheck(*check, shards, &rep);
  if (!s) return Status::Error(json_path + ": the sealed model.json does not load: " + s.message());
  if (!rep.verified()) return Status::Error(json_path + ": the sealed model does not verify: " + rep.Summary());
  *sealed = out;
  *summary = rep.Summary();
  return Status::Ok();
}

Status SealModelDir(const std::string& dir_or_json, bool force, std::string* summary, bool* bad_input) {
  if (bad_input) *bad_input = true;
  LoadOptions lo;
  lo.backend = Backend::kReference;
  fs::ModelFiles files;
  fs::OpenOptions o;
  o.load = lo;
  o.weights = false;  // SealModelText loads them, from the same bytes
  Status s = fs::OpenModel(dir_or_json, o, &files);
  if (!s) return s;
  std::string sealed;
  s = SealModelText(files.json_path, files.text, files.Views(), force, &sealed, summary);
  if (!s) return s;
  if (bad_input) *bad_input = false;  // from here on a failure is the disk's, not the model's (exit 1)
  return fs::WriteFileAtomic(files.json_path, sealed);
}

}  // namespace catdog::cli
