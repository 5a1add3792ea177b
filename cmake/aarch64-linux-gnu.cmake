# Cross-compiles for 64-bit ARM Linux with Debian's multiarch cross tools:
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install crossbuild-essential-arm64 qemu-user \
#     libssl-dev:arm64 libzstd-dev:arm64 libcurl4-openssl-dev:arm64 libflatbuffers-dev:arm64
#   cmake -S . -B build/aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#     -DMODELCAST_FETCHER_ONLY=ON
# Header-only dependencies (nlohmann-json3-dev, doctest-dev, libcli11-dev) and flatc are
# the host's packages. Tests run through qemu-user (CTest uses the emulator below).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(MODELCAST_TRIPLE aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${MODELCAST_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${MODELCAST_TRIPLE}-g++)
# Debian multiarch: target libraries live in /usr/lib/aarch64-linux-gnu, headers in
# /usr/include (+ /usr/include/aarch64-linux-gnu); this makes find_library look there.
set(CMAKE_LIBRARY_ARCHITECTURE ${MODELCAST_TRIPLE})
set(CMAKE_FIND_ROOT_PATH /usr/${MODELCAST_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)  # host tools (flatc, pkg-config)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config must read the arm64 .pc files, never the host's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${MODELCAST_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# CTest (and try_run) run target programs through qemu-user. The runtime is the multiarch
# one (/lib/ld-linux-aarch64.so.1 and /usr/lib/aarch64-linux-gnu from libc6:arm64, which
# the :arm64 -dev packages pull in), not -L /usr/aarch64-linux-gnu: that prefix holds the
# cross compiler's older libc6-arm64-cross loader, which then loads the multiarch libc
# of another patch version, and the first pthread_create hangs.
find_program(MODELCAST_QEMU qemu-aarch64)
if(MODELCAST_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${MODELCAST_QEMU} -L /)
endif()
