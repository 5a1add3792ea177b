#!/usr/bin/env bash
# Sizes of the stripped device library (libmodelcast-fetch.so, the C API) for x86_64 and
# aarch64, with and without libcurl, and what each needs at run time; then the cost of
# one 304 check through the transport callback against the built-in libcurl path.
# Usage: bench/device_libs.sh [FULL_BUILD_DIR]
#   builds the four library variants into build/bench-libs/ (RelWithDebInfo, as CI), and
#   the check benchmark in FULL_BUILD_DIR (default build/ci, the full -Werror build).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/setup.sh"
source "$MODELCAST_ROOT/scripts/lib/nginx.sh"
out=$MODELCAST_ROOT/build/bench-libs
mkdir -p "$out"

echo "| library | stripped bytes | needs (DT_NEEDED) |"
echo "|---|---|---|"
for arch in x86_64 aarch64; do
  for curl in ON OFF; do
    dir=$out/$arch-curl-$curl
    args=(-DMODELCAST_FETCHER_ONLY=ON -DMODELCAST_BUILD_TESTS=OFF -DMODELCAST_WITH_CURL=$curl -DCMAKE_BUILD_TYPE=RelWithDebInfo
          -DMODELCAST_WERROR=ON)
    strip=strip
    if [ $arch = aarch64 ]; then
      args+=(-DCMAKE_TOOLCHAIN_FILE="$MODELCAST_ROOT/cmake/aarch64-linux-gnu.cmake")
      strip=aarch64-linux-gnu-strip
    fi
    cmake -S "$MODELCAST_ROOT" -B "$dir" -G Ninja "${args[@]}" >/dev/null
    cmake --build "$dir" --target modelcast_fetch_shared >/dev/null
    $strip -o "$dir/stripped.so" "$dir/device-fetcher/libmodelcast-fetch.so"
    needed=$(readelf -d "$dir/stripped.so" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')
    echo "| $arch, libcurl $curl | $(stat -c %s "$dir/stripped.so") | $needed|"
  done
done

# The check cost: the full build's bench program against nginx serving the C fixture.
build=${1:-$MODELCAST_ROOT/build/ci}
# The benchmark helpers are built only where asked for (MODELCAST_BUILD_BENCH).
cmake -S "$MODELCAST_ROOT" -B "$build" -DMODELCAST_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target modelcast_bench_transport make_fixture_tree modelcast-fetch >/dev/null
work=$(mktemp -d)
chmod 755 "$work"  # nginx workers read the tree as an unprivileged user
trap 'nginx_stop "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
"$build/tests/device-fetcher/make_fixture_tree" "$work/fixture"
echo '{}' > "$work/fixture/tree/modelcast.json"
nginx_start "$work/fixture/tree" "$work"
url=http://127.0.0.1:$NGINX_PORT
"$build/device-fetcher/modelcast-fetch" update --url "$url" --cache "$work/cache" --model classifier \
  --platform android-arm64 --pubkey "$work/fixture/key.pub" --app-version 1.0 --quiet >/dev/null
"$build/bench/modelcast_bench_transport" 5 400 --url "$url" --cache "$work/cache" --pubkey "$work/fixture/key.pub"
