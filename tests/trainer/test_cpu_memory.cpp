// The CPU trainer's malloc policy (trainer/train/cpu_memory.h): a freed big block comes back
// without page faults once it is applied, and the user's own GLIBC_TUNABLES win over it.
// Each test runs in its own process (gtest_discover_tests), so the first one sees glibc's defaults.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cpu_memory.h"

namespace {

long MinorFaults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

void Escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }

// Allocates, writes and frees a block of n bytes, then does it again and returns the minor page
// faults of the second round: what a training step pays for an activation of that size.
long FaultsOfASecondBlock(size_t n) {
  char* a = static_cast<char*>(std::malloc(n));
  std::memset(a, 1, n);
  Escape(a);
  std::free(a);
  const long before = MinorFaults();
  char* b = static_cast<char*>(std::malloc(n));
  std::memset(b, 2, n);
  Escape(b);
  const long faults = MinorFaults() - before;
  std::free(b);
  return faults;
}

TEST(CpuMemory, AFreedBlockIsReusedWithoutPageFaults) {
  const char* t = std::getenv("GLIBC_TUNABLES");
  ASSERT_TRUE(t == nullptr || std::strstr(t, "glibc.malloc.") == nullptr)
      << "GLIBC_TUNABLES=" << t << " sets malloc tunables: this test needs glibc's defaults";
  const size_t n = size_t(64) << 20;  // over glibc's largest mmap threshold (32 MiB)
  const long pages = long(n / 4096);
  const long by_default = FaultsOfASecondBlock(n);
  // The measurement itself: with glibc's defaults the block was unmapped on free, so writing the
  // next one faults (4 KiB pages; 2 MiB ones where transparent huge pages are always on).
  ASSERT_GE(by_default, pages / 512) << "a freed 64 MiB block should come back unmapped by default";
  const catdog::train::CpuMemoryPolicy p = catdog::train::KeepFreedMemoryForReuse();
  ASSERT_TRUE(p.applied) << p.reason;
  FaultsOfASecondBlock(n);  // the heap grows to hold the block once
  const long kept = FaultsOfASecondBlock(n);
  EXPECT_LE(kept * 20, by_default) << "faults with the policy: " << kept << ", by default: " << by_default;
  EXPECT_LT(kept, pages / 20);
  std::printf("minor faults writing a second 64 MiB block: %ld by default, %ld with the policy\n", by_default, kept);
}

TEST(CpuMemory, TheUsersOwnMallocTunablesWin) {
  ASSERT_EQ(setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1048576", 1), 0);
  const catdog::train::CpuMemoryPolicy p = catdog::train::KeepFreedMemoryForReuse();
  EXPECT_FALSE(p.applied);
  EXPECT_NE(p.reason.find("glibc.malloc.trim_threshold=1048576"), std::string::npos) << p.reason;
  unsetenv("GLIBC_TUNABLES");
}

}  // namespace
