#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds an app against it, outside the tree,
# three ways: CMake (find_package), cc + pkg-config (shared), cc + pkg-config (static
# archive). Each program installs the fixture model and must print what it got.
# Usage: install_test.sh BUILD_DIR CONSUMER_SOURCE_DIR FIXTURE_DIR WORK_DIR
set -euo pipefail
build=$1 consumer=$2 fixture=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
prefix=$work/prefix
fail() { echo "FAILED: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/modelcast/modelcast_fetch.h include/modelcast/fetcher.h include/modelcast/status.h \
         lib/libmodelcast-fetch.so lib/libmodelcast-fetch.a lib/libmodelcast_fetcher.a lib/libmodelcast_format.a \
         lib/cmake/modelcast/modelcastConfig.cmake lib/pkgconfig/modelcast-fetch.pc lib/pkgconfig/modelcast-fetch-static.pc; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
# Only the public headers are installed, and each one compiles on its own from the prefix.
for f in xform_encode.h xform.h zstd_patch.h blob_check.h mem_file_system.h fs.h; do
  [ ! -e "$prefix/include/modelcast/$f" ] || fail "an internal header is installed: include/modelcast/$f"
done
for h in "$prefix"/include/modelcast/*.h; do
  echo "#include <modelcast/$(basename "$h")>" | c++ -std=c++17 -fsyntax-only -I"$prefix/include" -x c++ - \
    || fail "include/modelcast/$(basename "$h") does not compile on its own from the installed headers"
done
# Only the C API leaves the shared library.
others=$(nm -D --defined-only "$prefix/lib/libmodelcast-fetch.so" | awk '{print $3}' | grep -v '^mc_' || true)
[ -z "$others" ] || fail "the shared library exports more than mc_*: $others"

# 1. CMake
cmake -S "$consumer" -B "$work/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
out=$(LD_LIBRARY_PATH="$prefix/lib" "$work/cmake-build/consumer_c" "$fixture" "$work/cache-cmake")
[ "$out" = "v1 2" ] || fail "CMake consumer_c printed '$out'"
out=$("$work/cmake-build/consumer_cxx" "$work/cache-cmake")
[ "$out" = "classifier v1" ] || fail "CMake consumer_cxx printed '$out'"

# 1b. CMake, a C-only project (project(x C)): the C API without the C++ language
cmake -S "$consumer/../consumer_c_only" -B "$work/cmake-c-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-c-build" >/dev/null
out=$(LD_LIBRARY_PATH="$prefix/lib" "$work/cmake-c-build/consumer_c" "$fixture" "$work/cache-cmake-c")
[ "$out" = "v1 2" ] || fail "C-only CMake consumer_c printed '$out'"

# 2. cc + pkg-config, shared library
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046
cc -o "$work/app-shared" "$consumer/main.c" $(pkg-config --cflags --libs modelcast-fetch) -Wl,-rpath,"$prefix/lib"
out=$("$work/app-shared" "$fixture" "$work/cache-shared")
[ "$out" = "v1 2" ] || fail "shared app printed '$out'"
ldd "$work/app-shared" > "$work/ldd-shared"
grep -q 'libmodelcast-fetch\.so' "$work/ldd-shared" || fail "app-shared does not load libmodelcast-fetch.so"

# 3. cc + pkg-config, static archive: no -lstdc++ or library list to guess
# shellcheck disable=SC2046
cc -o "$work/app-static" "$consumer/main.c" $(pkg-config --cflags --libs modelcast-fetch-static)
out=$("$work/app-static" "$fixture" "$work/cache-static")
[ "$out" = "v1 2" ] || fail "static app printed '$out'"
ldd "$work/app-static" > "$work/ldd-static"
! grep -q libmodelcast "$work/ldd-static" || fail "app-static still loads a modelcast library"
# The shared .pc's private part lists what a static link needs.
pkg-config --static --libs modelcast-fetch > "$work/pc-static"
grep -q -- -lstdc++ "$work/pc-static" || fail "modelcast-fetch.pc lacks -lstdc++ in Libs.private"
echo "install test passed: public headers, CMake (C++ and C-only), pkg-config shared, pkg-config static"
