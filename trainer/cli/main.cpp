// catdog: the native command-line tool. Subcommands register themselves (commands.h).
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstring>
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

// `catdog train` on the CPU: libtorch's ops run their threads through OpenMP (libgomp), whose
// threads spin up to 300,000 times at every barrier before sleeping. On a laptop where anything
// else runs, a spinning thread holds the core its partner needs: catnet at 2 threads trained at
// 21-27 images/s beside a compiler against 92-119 at 1 thread, and at 92-113 with a spin count of
// 1,000 (BENCHMARKS.md, "CPU training threads"). libgomp reads its settings once, before main, so
// train re-executes itself once with GOMP_SPINCOUNT=1000 unless the user set GOMP_SPINCOUNT or
// OMP_WAIT_POLICY (theirs win). The pid stays the same (exec), so signals and locks are unaffected.
void TuneOpenMpWaits(int argc, char** argv) {
#if defined(__linux__) && defined(CATDOG_HAVE_TORCH)
  if (std::getenv("GOMP_SPINCOUNT") || std::getenv("OMP_WAIT_POLICY") || std::getenv("CATDOG_OMP_TUNED")) return;
  const char* command = nullptr;
  for (int i = 1; i < argc && !command; ++i)
    if (argv[i][0] != '-') command = argv[i];
  if (!command || std::string(command) != "train") return;
  setenv("GOMP_SPINCOUNT", "1000", 1);
  setenv("CATDOG_OMP_TUNED", "1", 1);  // once: the new image sees it and goes on
  execv("/proc/self/exe", argv);
  // exec failed (no /proc): carry on with libgomp's defaults.
  unsetenv("GOMP_SPINCOUNT");
#else
  (void)argc;
  (void)argv;
#endif
}
}  // namespace

// Flushes stdout; when that (or an earlier write) failed, say so on stderr and fail: the results
// were not all delivered (a closed pipe, a full disk behind a redirection).
int FinishStdout(int code) {
  errno = 0;
  const bool failed = std::fflush(stdout) != 0 || std::ferror(stdout);
  if (!failed) return code;
  const int err = errno;
  std::fprintf(stderr, "catdog: the output could not all be written to stdout: %s%s\n",
               err ? std::strerror(err) : "write error",
               err == EPIPE ? " (the reading end of the pipe was closed early)" : "");
  return code == catdog::kExitOk ? catdog::kExitFailure : code;
}

int main(int argc, char** argv) {
  using namespace catdog::cli;
  TuneOpenMpWaits(argc, argv);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, OnCrash);
  // A reader that stops early (`catdog predict ... | head -1`) must not kill catdog silently
  // (exit 141): writes then fail with EPIPE, and the end of main says so.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"catdog: cat-vs-dog models — prepare data, train, export to TensorFlow.js, run"};
  app.require_subcommand(1);
  // --version also says which SIMD kernels run on this CPU and why (bug reports from
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
    return FinishStdout(rc == 0 ? 0 : kExitBadInput);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return FinishStdout(kExitFailure);
  }
  return FinishStdout(ExitCode());
}
