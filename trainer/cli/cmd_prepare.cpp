// `catdog prepare`: image folders -> dataset pack (the pipeline is in prepare.cpp / prepare.h).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <unistd.h>

#include "commands.h"
#include "flag_checks.h"
#include "fsutil.h"
#include "prepare.h"

namespace catdog::cli {
namespace {
using Clock = std::chrono::steady_clock;

bool ShowProgress() {
  const char* ci = std::getenv("CI");
  if (ci && *ci && std::string(ci) != "0" && std::string(ci) != "false") return false;
  return ::isatty(STDERR_FILENO) == 1;
}

void DrawProgress(size_t done, size_t total, Clock::time_point start) {
  const int width = 30;
  double frac = total ? double(done) / double(total) : 1.0;
  int filled = static_cast<int>(frac * width);
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\rprepare [%s] %zu/%zu  %.0f images/s ", bar.c_str(), done, total, secs > 0 ? done / secs : 0.0);
  if (done >= total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace

void RegisterPrepare(CLI::App& app) {
  struct Args {
    prepare::Options o;
    std::string fit = "stretch";
    std::string report;
    double max_shard_mb = 50;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("prepare", "Image folders (Cat/Dog, cats_and_dogs_filtered, ...) -> a dataset pack");
  cmd->add_option("--images", args->o.image_dirs, "Folder holding cat/dog class folders (repeatable)")->required();
  cmd->add_option("--out", args->o.out, "Pack directory to write")->required();
  cmd->add_option("--val-fraction", args->o.val_fraction, "Fraction of each class for validation")
      ->check(CLI::Range(0.0, 1.0) & Finite)->capture_default_str();
  cmd->add_option("--test-fraction", args->o.test_fraction, "Fraction of each class for test")
      ->check(CLI::Range(0.0, 1.0) & Finite)->capture_default_str();
  cmd->add_option("--seed", args->o.seed, "Seed of the split")->check(Uint64Text)->capture_default_str();
  cmd->add_option("--fit", args->fit, "stretch (whole image) or crop (center square)")
      ->check(CLI::IsMember({"stretch", "crop"}))->capture_default_str();
  cmd->add_option("--size", args->o.size, "Output side in pixels")->check(CLI::Range(8, 1024))->capture_default_str();
  cmd->add_option("--report", args->report, "JSON report path (default PACK/report.json)");
  cmd->add_option("--max-shard-mb", args->max_shard_mb, "Largest shard file in MiB (<= 60)")
      ->check(CLI::Range(0.0, 60.0) & Finite)->capture_default_str();
  cmd->add_option("--threads", args->o.threads, "Decode threads (0 = all cores)")->check(CLI::Range(0, 256))->capture_default_str();
  cmd->add_option("--max-pixels", args->o.decode.max_pixels, "Refuse images whose header claims more pixels")
      ->check(CLI::Range(uint64_t(1), uint64_t(1) << 32))->capture_default_str();
  cmd->add_flag("--allow-one-class", args->o.allow_one_class,
                "Write a pack holding only cats or only dogs (refused otherwise: a classifier trained on it learns "
                "nothing)");
  cmd->add_option("--zstd-level", args->o.write.zstd_level, "zstd level of the shards (1..19)")
      ->check(CLI::Range(1, 19))->capture_default_str();
  cmd->callback([args] {
    prepare::Options& o = args->o;
    o.fit = args->fit == "crop" ? Fit::kCenterCrop : Fit::kStretch;
    if (!(args->max_shard_mb > 0) || args->max_shard_mb > 60) {
      spdlog::error("--max-shard-mb {} must be in (0, 60]", args->max_shard_mb);
      ExitCode() = kExitBadInput;
      return;
    }
    o.write.max_shard_bytes = static_cast<uint64_t>(args->max_shard_mb * double(1 << 20));
    if (o.write.max_shard_bytes > pack::kMaxShardBytesLimit) o.write.max_shard_bytes = pack::kMaxShardBytesLimit;
    const auto start = Clock::now();
    if (ShowProgress()) o.progress = [start](size_t done, size_t total) { DrawProgress(done, total, start); };
    // One prepare per --out: a second one into the same folder (which would interleave shards) is
    // refused. The flock is the kernel's, so a killed prepare never leaves a stale lock.
    if (Status ds = fs::MakeOutputDir(o.out, "--out"); !ds) {
      spdlog::error("prepare: {}", ds.message());
      ExitCode() = o.out.empty() || std::filesystem::exists(o.out) ? kExitBadInput : kExitFailure;
      return;
    }
    fs::DirLock lock;
    if (Status ls = lock.Lock(o.out, "another `catdog prepare` or `catdog train` is using this folder"); !ls) {
      spdlog::error("prepare: {}", ls.message());
      ExitCode() = kExitBadInput;
      return;
    }
    // A prepare killed while writing leaves its staging folder (pack.json, written last, is then
    // absent, so the folder is not a pack); only marked staging folders are removed (fsutil.h).
    size_t stale = 0;
    if (Status ts = fs::RemoveStaleTemps(o.out, &stale); !ts) {
      spdlog::error("{}", ts.message());
      ExitCode() = kExitFailure;
      return;
    }
    if (stale) spdlog::info("{}: removed {} staging folder(s) an interrupted prepare left", o.out, stale);
    prepare::Result r;
    Status s = prepare::Run(o, &r);
    const bool scanned = r.files_found > 0 || !r.skipped.empty();
    std::string report_path = args->report;
    if (report_path.empty() && s) report_path = (std::filesystem::path(o.out) / "report.json").string();
    bool report_failed = false;
    if (!report_path.empty() && scanned) {
      Status ws = fs::WriteFileAtomic(report_path, prepare::Report(o, r).dump(1) + "\n");
      if (!ws) {
        spdlog::error("prepare: --report: {}", ws.message());
        report_failed = true;
      }
    }
    if (!s) {
      spdlog::error("prepare: {}", s.message());
      ExitCode() = r.write_failed ? kExitFailure : kExitBadInput;
      if (scanned) std::printf("%s\n", prepare::SummaryLine(o, r).c_str());
      return;
    }
    std::printf("%s\n", prepare::SummaryLine(o, r).c_str());
    ExitCode() = report_failed ? kExitFailure : kExitOk;
  });
}

}  // namespace catdog::cli
