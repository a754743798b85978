// `catdog launch --nproc N -- train ...`: data-parallel training on one machine without torchrun
// (train/launch.h starts the ranks; this parses flags and makes one call).
#include <CLI/CLI.hpp>

#include <memory>

#include "commands.h"
#include "launch.h"

namespace catdog::cli {

void RegisterLaunch(CLI::App& app) {
  auto a = std::make_shared<LaunchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "launch", "Run `catdog train` data-parallel on this machine: N processes with torchrun's variables");
  cmd->add_option("--nproc", a->nproc, "Number of processes (one per GPU; on the CPU, Gloo)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--rdzv", a->rdzv,
                  "How the ranks meet: file = a c10d FileStore in a private folder (one machine, nothing listens on "
                  "the network, Gloo on loopback); tcp = rank 0's TCPStore at --master-addr:--master-port, as torchrun")
      ->check(CLI::IsMember({"file", "tcp"}))
      ->capture_default_str();
  cmd->add_option("--master-addr", a->master_addr,
                  "With --rdzv tcp: the address the ranks reach rank 0's store at (the store itself listens on every "
                  "interface: README, 'Security of a multi-machine run')")
      ->capture_default_str();
  cmd->add_option("--master-port", a->master_port, "With --rdzv tcp: its TCP port; 0 = a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--grace", a->grace_s, "Seconds the other ranks get after SIGTERM before SIGKILL, once one failed")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  cmd->add_option("command", a->command, "After --: the catdog command each rank runs (train ...)");
  cmd->callback([a] { ExitCode() = Launch(*a); });
}

}  // namespace catdog::cli
