// Model self-check for the CLI (seal.h): loading with the check, and sealing an exported model.
// Kept apart from cmd_seal.cpp (the subcommand) so tests can link it without the CLI's main.
#include "seal.h"

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include "catdog/json_bounded.h"

#include "fsutil.h"
#include "model_files.h"
#include "models.h"

namespace catdog::cli {
namespace stdfs = std::filesystem;

Status LoadModelDirChecked(const std::string& dir_or_json, const LoadOptions& options, std::unique_ptr<Model>* out,
                           SelfCheckReport* report) {
  fs::ModelFiles files;
  Status s = fs::ReadModelFiles(dir_or_json, options, &files);
  if (!s) return s;
  const std::string& json_path = files.json_path;
  std::unique_ptr<Model>& model = files.model;
  const std::vector<ShardBytes> shards = files.Views();
  s = model->LoadWeights(shards);
  if (!s) return s;
  s = RunSelfCheck(*model, shards, report);
  if (!s) return Status::Error(json_path + ": " + s.message());
  *out = std::move(model);
  return Status::Ok();
}

Status SealModelDir(const std::string& dir_or_json, bool force, std::string* summary) {
  using ojson = nlohmann::ordered_json;
  LoadOptions lo;
  lo.backend = Backend::kReference;  // the oracle every other backend is tested against
  fs::ModelFiles files;
  Status s = fs::ReadModelFiles(dir_or_json, lo, &files);
  if (!s) return s;
  const std::string& json_path = files.json_path;
  const std::string& text = files.text;
  std::unique_ptr<Model>& model = files.model;
  const std::vector<ShardBytes> shards = files.Views();
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

  // Gray photos: the inputs of the export's existing golden pairs that are real images (pack
  // paths such as "val Cat/1.jpg"), so the check runs on what the model was built for.
  std::vector<std::pair<std::string, std::vector<uint8_t>>> photos;
  if (cd.contains("golden") && cd["golden"].is_array()) {
    for (const ojson& g : cd["golden"]) {
      if (!g.is_object() || !g.contains("desc") || !g["desc"].is_string() || !g.contains("input_u8_base64") ||
          !g["input_u8_base64"].is_string())
        continue;
      const std::string desc = g["desc"].get<std::string>();
      if (desc.find('/') == std::string::npos) continue;  // "constant 128" and other synthetic inputs
      std::vector<uint8_t> px;
      if (!train::Base64Decode(g["input_u8_base64"].get<std::string>(), &px)) continue;
      photos.emplace_back(desc, std::move(px));
    }
  }
  const int side = model->info().input_shape.empty() ? 0 : int(model->info().input_shape[0]);
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
  s = fs::WriteFileAtomic(json_path, out);
  if (!s) return s;
  *summary = rep.Summary();
  return Status::Ok();
}

}  // namespace catdog::cli
