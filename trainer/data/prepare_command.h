// `catdog prepare` (cli/cmd_prepare.cpp) once its flags are read: the --out folder made and locked
// (one prepare per folder), staging folders an interrupted prepare left removed, the pipeline
// (prepare.h) run with a progress bar on a terminal, the report and the summary line written.
#pragma once

#include <string>

#include "prepare.h"

namespace catdog::prepare {

struct Command {
  Options o;                    // from the flags; fit, write.max_shard_bytes, progress are set here
  std::string fit = "stretch";  // --fit: stretch | crop
  std::string report;           // --report ("" = PACK/report.json)
  bool force = false;           // --force: --report may replace an existing file
  double max_shard_mb = 50;     // --max-shard-mb, in (0, 60]
};

// Logs errors through spdlog, prints the summary line on stdout; returns the exit code: 2 bad
// input (flags, images, an --out in use), 1 failure (writing), 0.
int RunCommand(Command command);

}  // namespace catdog::prepare
