#include "recovery.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "fsutil.h"
#include "tensorboard.h"

namespace catdog::train {

namespace {
using json = nlohmann::json;
namespace stdfs = std::filesystem;

int MetaInt(const json& meta, const char* key) {
  auto it = meta.find(key);
  return it != meta.end() && it->is_number() ? int(it->get<double>()) : -1;
}
}  // namespace

Status RemoveRunTemps(const std::string& out_dir, const std::string& log_dir, const std::string& export_dir,
                      size_t* removed) {
  *removed = 0;
  std::vector<std::pair<std::string, std::string>> places = {
      {out_dir, ""}, {(stdfs::path(log_dir) / "train").string(), ""}, {(stdfs::path(log_dir) / "validation").string(), ""}};
  if (!export_dir.empty()) {
    stdfs::path e(export_dir);
    if (e.filename().empty()) e = e.parent_path();
    places.push_back({e.has_parent_path() ? e.parent_path().string() : ".", e.filename().string()});
  }
  for (const auto& [dir, prefix] : places) {
    size_t n = 0;
    Status s = fs::RemoveStaleTemps(dir, &n, prefix);
    if (!s) return s;
    *removed += n;
  }
  return Status::Ok();
}

std::vector<std::string> RunFiles(const std::string& out_dir, const std::string& log_dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const char* name : {"best.pt", "last.pt", "history.jsonl", "run.json"}) {
    const stdfs::path p = stdfs::path(out_dir) / name;
    if (stdfs::exists(stdfs::symlink_status(p, ec))) found.push_back(p.string());
  }
  for (const char* sub : {"train", "validation"}) {
    const stdfs::path dir = stdfs::path(log_dir) / sub;
    if (!stdfs::is_directory(dir, ec)) continue;
    std::vector<std::string> events;
    for (const auto& e : stdfs::directory_iterator(dir, ec))
      if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0 && e.is_regular_file(ec))
        events.push_back(e.path().string());
    std::sort(events.begin(), events.end());
    found.insert(found.end(), events.begin(), events.end());
  }
  return found;
}

Status RecoverRunDir(const std::string& out_dir, const std::string& log_dir, const Checkpoint& last,
                     RecoveryReport* report) {
  *report = RecoveryReport();
  json meta = json::parse(last.meta_json, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) return Status::Error("last.pt: checkpoint meta is not a JSON object");
  const int epoch = MetaInt(meta, "epoch"), best_epoch = MetaInt(meta, "best_epoch");
  if (epoch < 0) return Status::Error("last.pt: checkpoint meta has no epoch");

  // history.jsonl: exactly last.pt's epochs, one line each (the writer's format: StatsJson dumps).
  std::string text;
  if (meta.contains("history") && meta["history"].is_array())
    for (const json& e : meta["history"]) text += e.dump() + "\n";
  const std::string history_path = (stdfs::path(out_dir) / "history.jsonl").string();
  std::string current;
  if (!fs::ReadTextFile(history_path, &current) || current != text) {
    Status s = fs::WriteFileAtomic(history_path, text);
    if (!s) return s;
    report->history_rewritten = true;
  }

  // best.pt: written right after last.pt in an improving epoch; a kill in between leaves it one
  // improvement behind, and then last.pt holds exactly the best weights.
  const std::string best_path = (stdfs::path(out_dir) / "best.pt").string();
  if (best_epoch > 0) {
    Checkpoint best;
    int have = -1;
    if (ReadCheckpoint(best_path, &best)) {
      json bm = json::parse(best.meta_json, nullptr, false);
      if (bm.is_object()) have = MetaInt(bm, "epoch");
    }
    if (have != best_epoch) {
      if (best_epoch == epoch) {
        Status s = WriteCheckpoint(best_path, last);
        if (!s) return s;
        report->best_rewritten = true;
      } else {
        report->warning = best_path + " holds epoch " + std::to_string(have) + ", last.pt names epoch " +
                          std::to_string(best_epoch) + " as the best; it is replaced at the next improvement";
      }
    }
  }

  // TensorBoard: Keras logs epoch k at step k-1, so steps >= epoch were never checkpointed.
  for (const char* sub : {"train", "validation"}) {
    const stdfs::path dir = stdfs::path(log_dir) / sub;
    std::error_code ec;
    if (!stdfs::is_directory(dir, ec)) continue;
    for (const auto& entry : stdfs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("events.out.tfevents.", 0) != 0 || !entry.is_regular_file(ec))
        continue;
      bool changed = false;
      Status s = tb::RepairEventFile(entry.path().string(), epoch, &changed);
      if (!s) return s;
      if (changed) ++report->event_files_repaired;
    }
  }
  return Status::Ok();
}

}  // namespace catdog::train
