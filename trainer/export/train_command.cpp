#include "train_command.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>

#include "exit_codes.h"
#include "export.h"
#include "finetune.h"
#include "fsutil.h"
#include "model_files.h"
#include "models.h"
#include "pack.h"

namespace catdog::cli {

int RunTrainCommand(TrainCommand c) {
  train::TrainOptions& opt = c.options;
  opt.pack_path = c.pack;
  if (opt.force && opt.resume) {
    spdlog::error("--force and --resume contradict each other (--force deletes the run --resume continues)");
    return kExitBadInput;
  }
  if (opt.out_dir.empty()) {
    spdlog::error("--out is empty: give a folder for the run");
    return kExitBadInput;
  }
  // The run folder is never an input, a folder holding one or a folder inside one (DESIGN contract 4).
  {
    std::vector<std::string> inputs = {c.pack, c.finetune};
    inputs.insert(inputs.end(), c.teachers.begin(), c.teachers.end());
    Status os = fs::CheckNotAnInput(opt.out_dir, inputs, "--out");
    if (!os) {
      spdlog::error("{}", os.message());
      return kExitBadInput;
    }
  }
  // --export's output rule before any long work (DESIGN contract 4): not the run folder or a folder
  // holding it or an input, not a folder catdog did not write (unless --force).
  fs::ModelOutOptions export_rule;
  export_rule.flag = "--export";
  export_rule.force = opt.force;
  export_rule.inputs = {c.pack, (std::filesystem::path(opt.out_dir) / "best.pt").string()};
  if (!c.finetune.empty()) export_rule.inputs.push_back(c.finetune);
  for (const std::string& t : c.teachers) export_rule.inputs.push_back(t);
  if (!opt.export_dir.empty()) {
    Status es = fs::CheckModelOutDir(opt.export_dir, export_rule);
    if (!es) {
      spdlog::error("{}", es.message());
      return kExitBadInput;
    }
  }
  if (!c.finetune.empty()) {
    train::TfjsCheckpoint src;
    Status ls = train::CheckpointFromTfjs(c.finetune, opt.arch, &src);
    if (!ls) {
      spdlog::error("--finetune: {}", ls.message());
      return kExitBadInput;
    }
    opt.arch = src.ckpt.arch.name;
    opt.finetune_json = src.source_json;
    opt.init = std::make_shared<const train::Checkpoint>(std::move(src.ckpt));
    if (!c.lr_given) opt.lr = 1e-4;
    if (!c.epochs_given) opt.epochs = 10;
    spdlog::info("fine-tuning {} ({}) at lr {}", c.finetune, opt.arch, opt.lr);
  } else if (opt.arch.empty()) {
    spdlog::error("--arch is required (one of {}), unless --finetune names a model", train::ArchNames());
    return kExitBadInput;
  }
  if (!c.teachers.empty()) {
    Status ts = train::LoadTeachers(c.teachers, &opt);
    if (!ts) {
      spdlog::error("--teacher {}", ts.message());
      return kExitBadInput;
    }
  }
  if (!c.quantize.empty() && opt.export_dir.empty()) {
    spdlog::error("--quantize {} needs --export DIR", c.quantize);
    return kExitBadInput;
  }
  pack::Pack pack;
  Status s = pack::ReadPack(c.pack, &pack);
  if (!s) {
    spdlog::error("{}", s.message());
    return kExitBadInput;
  }
  // --new-head: a two-class model fine-tuned on K > 2 classes whose first two are its own.
  if (opt.new_head && opt.init && train::ArchClasses(opt.init->arch) == 2 && pack.classes() > 2) {
    train::Checkpoint wide;
    s = train::WidenHead(*opt.init, pack.class_names, &wide);
    if (s) {
      const nlohmann::json im = nlohmann::json::parse(opt.init->meta_json.empty() ? "{}" : opt.init->meta_json, nullptr, false);
      const nlohmann::json want = {pack.class_names[0], pack.class_names[1]};
      if (im.is_object() && im.contains("labels") && im["labels"] != want)
        s = Status::Error("the model's classes " + im["labels"].dump() + " are not the pack's first two " + want.dump() +
                          " (prepare with --classes " + pack.class_names[0] + "," + pack.class_names[1] + ",...)");
    }
    if (!s) {
      spdlog::error("--new-head: {}", s.message());
      return kExitBadInput;
    }
    spdlog::info("--new-head: {} classes ({}), the model's two kept", pack.classes(), nlohmann::json(pack.class_names).dump());
    opt.init = std::make_shared<const train::Checkpoint>(std::move(wide));
  } else if (opt.new_head) {
    spdlog::error("--new-head widens a two-class --finetune model for a pack of 3 or more classes (model: {}, pack: {} classes)",
                  opt.init ? std::to_string(train::ArchClasses(opt.init->arch)) + " classes" : "none", pack.classes());
    return kExitBadInput;
  }
  train::TrainResult result;
  s = train::Train(pack, opt, &result);
  if (!s) {
    const bool bad = s.message().rfind("bad input: ", 0) == 0;
    spdlog::error("{}", bad ? s.message().substr(11) : s.message());
    return bad ? kExitBadInput : kExitFailure;
  }
  if (!result.history.empty()) {
    const auto& last = result.history.back();
    spdlog::info("done ({}): {} epochs, best val_loss {:.4f} at epoch {}, last val_accuracy {:.4f}; {:.1f} s on {}",
                 result.stop_reason, result.history.size(), result.best_val_loss, result.best_epoch,
                 last.val_accuracy, result.seconds, result.device);
  }
  if (!opt.export_dir.empty() && result.rank == 0) {  // [dist] rank 0 exports
    const std::string best = (std::filesystem::path(opt.out_dir) / "best.pt").string();
    train::Checkpoint ck;
    train::ExportOptions eo;
    eo.quantize = c.quantize;
    eo.force = export_rule.force;
    eo.inputs = export_rule.inputs;
    train::TfjsModel m;
    s = train::ReadCheckpoint(best, &ck);
    std::string warning;
    if (s) s = train::CheckLearned(ck, best, opt.allow_chance, &warning);
    if (!s && s.message().rfind("bad input: ", 0) == 0) {
      spdlog::error("--export: {} (the run stays in {})", s.message().substr(11), opt.out_dir);
      return kExitBadInput;
    }
    if (!warning.empty()) spdlog::warn("--export: {}", warning);
    if (s) s = train::ExportTfjs(ck, eo, opt.export_dir, &m);
    if (!s) {
      spdlog::error("--export: {}", s.message());
      return kExitFailure;
    }
    spdlog::info("exported {} to {}{}", best, opt.export_dir, c.quantize.empty() ? "" : " (" + c.quantize + ")");
  }
  return kExitOk;
}

}  // namespace catdog::cli
