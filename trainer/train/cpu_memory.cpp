#include "cpu_memory.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace catdog::train {

CpuMemoryPolicy KeepFreedMemoryForReuse() {
  CpuMemoryPolicy p;
#if defined(__GLIBC__)
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables && std::strstr(tunables, "glibc.malloc.")) {
    p.reason = std::string("GLIBC_TUNABLES sets malloc tunables (\"") + tunables + "\"): left as given";
    return p;
  }
  // M_MMAP_MAX 0: no block is served by mmap (a non-main arena that cannot hold a block hands it
  // to the main arena's heap). M_TRIM_THRESHOLD -1: the heap top is never given back.
  if (mallopt(M_MMAP_MAX, 0) != 1 || mallopt(M_TRIM_THRESHOLD, -1) != 1) {
    p.reason = "mallopt refused M_MMAP_MAX / M_TRIM_THRESHOLD";
    return p;
  }
  p.applied = true;
#else
  p.reason = "not glibc: the C library's malloc is left as it is";
#endif
  return p;
}

}  // namespace catdog::train
