#include "launch.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "distributed.h"
#include "fsutil.h"
#include "exit_codes.h"

namespace catdog::cli {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
void OnStopSignal(int sig) { g_stop_signal = sig; }

struct Rank {
  pid_t pid = -1;
  int out = -1, err = -1;      // read ends of its stdout / stderr pipes
  std::string out_buf, err_buf;  // a partial last line
  bool running = false;
  int status = 0;
};

// Writes the complete lines of `buf` with the rank prefix; with `flush`, the rest too.
void EmitLines(std::string* buf, int rank, FILE* to, bool flush) {
  size_t start = 0;
  for (size_t nl; (nl = buf->find('\n', start)) != std::string::npos; start = nl + 1)
    std::fprintf(to, "[rank %d] %.*s\n", rank, int(nl - start), buf->data() + start);
  buf->erase(0, start);
  if (flush && !buf->empty()) {
    std::fprintf(to, "[rank %d] %s\n", rank, buf->c_str());
    buf->clear();
  }
  std::fflush(to);
}

// Reads what is there; false at end of file.
bool Drain(int* fd, std::string* buf, int rank, FILE* to) {
  char chunk[4096];
  const ssize_t n = ::read(*fd, chunk, sizeof chunk);
  if (n > 0) {
    buf->append(chunk, size_t(n));
    EmitLines(buf, rank, to, false);
    return true;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  EmitLines(buf, rank, to, true);
  ::close(*fd);
  *fd = -1;
  return false;
}

std::string Describe(int status) {
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

int Launch(const LaunchOptions& a) {
  if (a.command.empty()) {
    spdlog::error("launch: no command after --: e.g. catdog launch --nproc 2 -- train --pack P --arch cnn --out RUN");
    return kExitBadInput;
  }
  if (a.command[0] != "train") {
    spdlog::error("launch: '{}' after --: only `train` runs distributed", a.command[0]);
    return kExitBadInput;
  }
  const bool file_store = a.rdzv == "file";
  if (!file_store && a.rdzv != "tcp") {
    spdlog::error("launch: --rdzv '{}': use file (one machine, no network) or tcp", a.rdzv);
    return kExitBadInput;
  }
  const int port = file_store ? 0 : a.master_port > 0 ? a.master_port : train::FreeLoopbackPort();
  if (!file_store && port <= 0) {
    spdlog::error("launch: no free TCP port for the rendezvous ({}); give --master-port", std::strerror(errno));
    return kExitFailure;
  }
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    spdlog::error("launch: cannot find this program (/proc/self/exe): {}", std::strerror(errno));
    return kExitFailure;
  }
  self[n] = '\0';
  // The file store's private folder: made here, removed when the ranks are gone (RemoveTree: only
  // this folder, which nobody else can write to).
  std::string store_dir, store_file;
  if (file_store) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp == '/' ? tmp : "/tmp") + "/catdog-rdzv-XXXXXX";
    if (!::mkdtemp(templ.data())) {
      spdlog::error("launch: cannot make a private folder for the rendezvous ({}): {}", templ, std::strerror(errno));
      return kExitFailure;
    }
    store_dir = templ;
    store_file = store_dir + "/store";
    spdlog::info("launch: {} rank(s), rendezvous through {} (no network)", a.nproc, store_file);
  } else {
    spdlog::info("launch: {} rank(s), rendezvous {}:{}", a.nproc, a.master_addr, port);
  }
  struct RemoveAtEnd {
    std::string dir;
    ~RemoveAtEnd() {
      if (dir.empty()) return;
      std::error_code ec;
      fs::RemoveTree(dir, ec);
      if (ec) spdlog::warn("launch: could not remove the rendezvous folder {}: {}", dir, ec.message());
    }
  } remove_at_end{store_dir};
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  std::signal(SIGPIPE, SIG_IGN);
  const pid_t parent = ::getpid();
  std::vector<Rank> ranks(size_t(a.nproc));
  int failed = -1;  // the first rank that failed
  auto stop_all = [&](int sig) {
    for (Rank& r : ranks)
      if (r.running) ::kill(r.pid, sig);
  };
  for (int i = 0; i < a.nproc; ++i) {
    int out[2], err[2];
    if (::pipe(out) != 0 || ::pipe(err) != 0) {
      spdlog::error("launch: pipe: {}", std::strerror(errno));
      stop_all(SIGKILL);
      return kExitFailure;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a killed launcher leaves no orphan ranks
      if (::getppid() != parent) ::_exit(127);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      ::close(out[0]), ::close(out[1]), ::close(err[0]), ::close(err[1]);
      ::setenv("RANK", std::to_string(i).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(i).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(a.nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(a.nproc).c_str(), 1);
      if (file_store) {
        ::setenv("CATDOG_RDZV_FILE", store_file.c_str(), 1);
      } else {
        ::unsetenv("CATDOG_RDZV_FILE");
        ::setenv("MASTER_ADDR", a.master_addr.c_str(), 1);
        ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      }
      std::vector<char*> argv{self};
      for (const std::string& s : a.command) argv.push_back(const_cast<char*>(s.c_str()));
      argv.push_back(nullptr);
      ::execv(self, argv.data());
      std::fprintf(stderr, "launch: cannot run %s: %s\n", self, std::strerror(errno));
      ::_exit(127);
    }
    ::close(out[1]), ::close(err[1]);
    if (pid < 0) {
      spdlog::error("launch: fork: {}", std::strerror(errno));
      ::close(out[0]), ::close(err[0]);
      stop_all(SIGKILL);
      return kExitFailure;
    }
    ranks[size_t(i)] = {pid, out[0], err[0], "", "", true, 0};
  }
  using Clock = std::chrono::steady_clock;
  Clock::time_point kill_at = Clock::time_point::max();
  auto stop_others = [&](const std::string& why) {
    if (kill_at != Clock::time_point::max()) return;
    int left = 0;
    for (const Rank& r : ranks) left += r.running ? 1 : 0;
    if (left) spdlog::error("launch: {}; stopping the other {} rank(s)", why, left);
    stop_all(SIGTERM);
    kill_at = Clock::now() + std::chrono::seconds(a.grace_s);
  };
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<std::pair<int, bool>> who;  // rank, is stderr
    for (int i = 0; i < a.nproc; ++i) {
      Rank& r = ranks[size_t(i)];
      if (r.out >= 0) fds.push_back({r.out, POLLIN, 0}), who.push_back({i, false});
      if (r.err >= 0) fds.push_back({r.err, POLLIN, 0}), who.push_back({i, true});
    }
    if (!fds.empty() && ::poll(fds.data(), fds.size(), 100) > 0) {
      for (size_t k = 0; k < fds.size(); ++k) {
        if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        Rank& r = ranks[size_t(who[k].first)];
        if (who[k].second) Drain(&r.err, &r.err_buf, who[k].first, stderr);
        else Drain(&r.out, &r.out_buf, who[k].first, stdout);
      }
    } else if (fds.empty()) {
      ::usleep(100 * 1000);
    }
    for (int i = 0; i < a.nproc; ++i) {
      Rank& r = ranks[size_t(i)];
      if (!r.running || ::waitpid(r.pid, &r.status, WNOHANG) != r.pid) continue;
      r.running = false;
      const bool ok = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
      if (!ok && failed < 0 && kill_at == Clock::time_point::max()) {
        failed = i;
        stop_others("rank " + std::to_string(i) + " " + Describe(r.status));
      }
    }
    if (g_stop_signal && kill_at == Clock::time_point::max())
      stop_others(std::string("launch got ") + strsignal(g_stop_signal));
    if (Clock::now() >= kill_at) stop_all(SIGKILL);
    bool any = false;
    for (const Rank& r : ranks) any = any || r.running || r.out >= 0 || r.err >= 0;
    if (!any) break;
  }
  if (failed >= 0) {
    const int st = ranks[size_t(failed)].status;
    spdlog::error("launch: failed: rank {} {}", failed, Describe(st));
    return WIFEXITED(st) && WEXITSTATUS(st) == kExitBadInput ? kExitBadInput : kExitFailure;
  }
  if (g_stop_signal) return 128 + g_stop_signal;
  spdlog::info("launch: all {} rank(s) finished", a.nproc);
  return kExitOk;
}

}  // namespace catdog::cli
