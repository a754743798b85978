# Cross build for arm64 Linux with Debian's g++-aarch64-linux-gnu (preset `arm64`): the core and
# its GoogleTest suites, run under qemu-aarch64 (Debian's qemu-user) by CTest and by
# gtest_discover_tests at build time. The kernels use NEON, the arm64 baseline (shared/src/vec.h).
# Only the cross sysroot /usr/aarch64-linux-gnu is searched for headers and libraries: the host's
# /usr/include and /usr/lib hold x86-64 builds. nlohmann's headers come from a folder holding only
# them (cmake/Dependencies.cmake) and GoogleTest is built from /usr/src/googletest (tests/).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

set(CATDOG_CROSS_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${CATDOG_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)  # build tools (node, qemu) are the host's
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The binaries are dynamically linked against the cross glibc/libstdc++; -L tells qemu where the
# arm64 loader and libraries are.
find_program(CATDOG_QEMU_AARCH64 qemu-aarch64)
if(NOT CATDOG_QEMU_AARCH64)
  message(FATAL_ERROR "catdog: qemu-aarch64 not found (Debian package qemu-user): the arm64 test binaries cannot run")
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR "${CATDOG_QEMU_AARCH64};-L;${CATDOG_CROSS_SYSROOT}")
