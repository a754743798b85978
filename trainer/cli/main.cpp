// catdog: the native command-line tool. Subcommands register themselves (commands.h).
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#if defined(__GLIBC__)
#include <execinfo.h>
#endif

#include <string>

#include "catdog/catdog.h"
#include "commands.h"
#if defined(CATDOG_HAVE_OPENCV) && defined(CATDOG_HAVE_TORCH)
#include "preview_torch.h"  // preview --augment uses the torch augmentation
#endif

namespace catdog::cli {
int& ExitCode() {
  static int code = kExitOk;
  return code;
}
}  // namespace catdog::cli

namespace {
// A crash (a bug, not bad input: that gets a message and exit 2) says so on stderr with a
// backtrace for the bug report, then dies by the same signal. Only async-signal-safe calls.
void OnCrash(int sig) {
  static const char kMsg[] = "catdog: crashed (a bug: please report it with this backtrace)\n";
  [[maybe_unused]] ssize_t n = write(2, kMsg, sizeof(kMsg) - 1);
#if defined(__GLIBC__)
  void* frames[64];
  backtrace_symbols_fd(frames, backtrace(frames, 64), 2);
#endif
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
}  // namespace

int main(int argc, char** argv) {
  using namespace catdog::cli;
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, OnCrash);
  CLI::App app{"catdog: cat-vs-dog models — prepare data, train, export to TensorFlow.js, run"};
  app.require_subcommand(1);
  // --version also says which SIMD kernels run on this CPU and why (issue 14: bug reports from
  // machines without AVX-512 need it).
  app.set_version_flag("--version", [] { return std::string("catdog 0.1.0\n") + catdog::DescribeKernels(); });
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Debug logging");
  // Log to stderr: stdout carries results (JSON from infer / predict --json / bench --json).
  spdlog::set_default_logger(spdlog::stderr_color_mt("catdog"));
  spdlog::set_pattern("%^%l%$: %v");

  RegisterCommands(app);
#if defined(CATDOG_HAVE_OPENCV) && defined(CATDOG_HAVE_TORCH)
  catdog::preview::RegisterTorchAugmenter();
#endif
  app.parse_complete_callback([&] {
    spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);
    bool ignored = false;
    const std::string kernels = catdog::DescribeKernels(&ignored);
    if (ignored) spdlog::warn("{}", kernels);  // CATDOG_ISA named a table this CPU/build cannot run
    spdlog::debug("{}", kernels);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitBadInput;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kExitFailure;
  }
  return ExitCode();
}
