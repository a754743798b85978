// `catdog launch --nproc N -- train ...` (cli/cmd_launch.cpp): data-parallel training on one
// machine without torchrun. Starts N copies of this catdog with the variables torchrun sets (RANK,
// LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), prefixes each line they
// print with its rank, and when one exits with an error (or a signal) stops the others (SIGTERM,
// then SIGKILL after --grace) and exits with that rank's code. The ranks rendezvous themselves
// (distributed.h): by default through a c10d FileStore in a private folder this launcher makes
// (mkdtemp, mode 0700; CATDOG_RDZV_FILE) and removes at the end, so nothing listens on the network
// for the store and no one else can join; `--rdzv tcp` uses the TCPStore at MASTER_ADDR:MASTER_PORT
// as torchrun does. This is a process starter, not a protocol.
#pragma once

#include <string>
#include <vector>

namespace catdog::cli {

struct LaunchOptions {
  int nproc = 2;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  std::string rdzv = "file";  // "file" (private FileStore) or "tcp" (TCPStore at master_addr:master_port)
  int grace_s = 10;
  std::vector<std::string> command;
};

// Runs the ranks to the end, their lines prefixed on this process's stdout / stderr; returns the
// exit code: the failed rank's 2 (bad input) or 1, 128 + signal when launch itself was stopped, 0.
int Launch(const LaunchOptions& options);

}  // namespace catdog::cli
