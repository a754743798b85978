// Crash safety of a training output directory (train.h describes its files).
//
// Every file a run writes is replaced atomically (temp file + fsync + rename), so a SIGKILL or a
// power cut leaves each file either old or new, never torn. What a kill can leave is:
//   - staging folders (".catdog-tmp-<pid>-<n>/" with a marker file, fsutil.h) that never got renamed;
//   - files from different epochs: the epoch's files are written one after the other
//     (last.pt, then best.pt, history.jsonl, run.json), and TensorBoard event files are appended
//     to (each record flushed whole, but a kill can cut one short).
// last.pt is the truth: --resume starts from it and first makes the rest agree with it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "catdog/catdog.h"
#include "train.h"

namespace catdog::train {

// Removes stale staging folders (fs::RemoveStaleTemps: marker checked, never a user's file) in
// `out_dir`, the TensorBoard folders `log_dir`/{train,validation}, and (when `export_dir` is given)
// the export's beside it. Call while holding the run's DirLock.
Status RemoveRunTemps(const std::string& out_dir, const std::string& log_dir, const std::string& export_dir,
                      size_t* removed);

// The files a run writes in `out_dir` (best.pt, last.pt, history.jsonl, run.json) and the event
// files in `log_dir`/{train,validation}: the ones that exist, in that order. Nothing else is named.
std::vector<std::string> RunFiles(const std::string& out_dir, const std::string& log_dir);

struct RecoveryReport {
  bool history_rewritten = false;  // history.jsonl did not match last.pt's history
  bool best_rewritten = false;     // best.pt lagged behind a last.pt whose epoch was the best
  size_t event_files_repaired = 0; // torn tails or epochs beyond last.pt dropped
  std::string warning;             // something that cannot be repaired (say, best.pt lost)
};

// On --resume, with `last` read from out_dir/last.pt: rewrites history.jsonl from last.pt's
// history, rewrites best.pt from last.pt when last.pt's epoch is its best epoch but best.pt is
// older or unreadable (the kill fell between the two writes), and repairs the event files.
Status RecoverRunDir(const std::string& out_dir, const std::string& log_dir, const Checkpoint& last,
                     RecoveryReport* report);

}  // namespace catdog::train
