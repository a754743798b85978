#include "prepare_command.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <unistd.h>

#include "exit_codes.h"
#include "fsutil.h"

namespace catdog::prepare {
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

int RunCommand(Command c) {
  prepare::Options& o = c.o;
  if (!ParseFit(c.fit, &o.fit)) {
    spdlog::error("prepare: --fit '{}': must be stretch or crop", c.fit);
    return kExitBadInput;
  }
  if (!(c.max_shard_mb > 0) || c.max_shard_mb > 60) {
    spdlog::error("--max-shard-mb {} must be in (0, 60]", c.max_shard_mb);
    return kExitBadInput;
  }
  o.write.max_shard_bytes = static_cast<uint64_t>(c.max_shard_mb * double(1 << 20));
  if (o.write.max_shard_bytes > pack::kMaxShardBytesLimit) o.write.max_shard_bytes = pack::kMaxShardBytesLimit;
  // The pack never goes into an image folder it reads, nor into a folder holding one (DESIGN contract 4).
  if (Status os = fs::CheckNotAnInput(o.out, o.image_dirs, "--out"); !os) {
    spdlog::error("prepare: {}", os.message());
    return kExitBadInput;
  }
  // An explicit --report is a single-file output (DESIGN contract 4): not an existing file without
  // --force, never inside the pack (or any pack or model folder), checked before any work.
  if (!c.report.empty()) {
    std::error_code ec;
    const std::filesystem::path def = std::filesystem::weakly_canonical(
        std::filesystem::absolute(std::filesystem::path(o.out) / "report.json", ec), ec);
    const std::filesystem::path mine = std::filesystem::weakly_canonical(std::filesystem::absolute(c.report, ec), ec);
    if (mine == def) {
      c.report.clear();  // the pack's own report, named explicitly
    } else if (Status rs = fs::CheckOutputFile(c.report, "--report", c.force, {o.out}); !rs) {
      spdlog::error("prepare: {}", rs.message());
      return kExitBadInput;
    }
  }
  const auto start = Clock::now();
  if (ShowProgress()) o.progress = [start](size_t done, size_t total) { DrawProgress(done, total, start); };
  // One prepare per --out: a second one into the same folder (which would interleave shards) is
  // refused. The flock is the kernel's, so a killed prepare never leaves a stale lock.
  // The classes are checked before anything is made.
  {
    std::vector<std::string> names;
    if (Status cs = prepare::ClassNames(o.classes, &names); !cs) {
      spdlog::error("prepare: {}", cs.message());
      return kExitBadInput;
    }
  }
  // A --out folder this run makes and leaves empty (bad input found while scanning) goes again:
  // a refused prepare leaves nothing behind. Declared before the lock, so it runs after its release.
  struct RemoveIfLeftEmpty {
    std::string dir;
    bool armed = false;
    ~RemoveIfLeftEmpty() {
      if (armed) ::rmdir(dir.c_str());  // only an empty folder is removed
    }
  } made;
  {
    std::error_code ec;
    made.armed = !o.out.empty() && !std::filesystem::exists(o.out, ec);
    made.dir = o.out;
  }
  if (Status ds = fs::MakeOutputDir(o.out, "--out"); !ds) {
    spdlog::error("prepare: {}", ds.message());
    return o.out.empty() || std::filesystem::exists(o.out) ? kExitBadInput : kExitFailure;
  }
  fs::DirLock lock;
  if (Status ls = lock.Lock(o.out, "another `catdog prepare` or `catdog train` is using this folder"); !ls) {
    spdlog::error("prepare: {}", ls.message());
    return kExitBadInput;
  }
  // A prepare killed while writing leaves its staging folder (pack.json, written last, is then
  // absent, so the folder is not a pack); only marked staging folders are removed (fsutil.h).
  size_t stale = 0;
  if (Status ts = fs::RemoveStaleTemps(o.out, &stale); !ts) {
    spdlog::error("{}", ts.message());
    return kExitFailure;
  }
  if (stale) spdlog::info("{}: removed {} staging folder(s) an interrupted prepare left", o.out, stale);
  prepare::Result r;
  Status s = prepare::Run(o, &r);
  const bool scanned = r.files_found > 0 || !r.skipped.empty();
  std::string report_path = c.report;
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
    if (scanned) std::printf("%s\n", prepare::SummaryLine(o, r).c_str());
    return r.write_failed ? kExitFailure : kExitBadInput;
  }
  made.armed = false;
  std::printf("%s\n", prepare::SummaryLine(o, r).c_str());
  return report_failed ? kExitFailure : kExitOk;
}

}  // namespace catdog::prepare
