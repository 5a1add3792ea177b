# Shared by scripts/demo, scripts/test and scripts/bench: install what is missing, build.
# Sourced, not run. Everything here is idempotent.

MODELCAST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export MODELCAST_TESTDATA=${MODELCAST_TESTDATA:-$MODELCAST_ROOT/.testdata}

# Debian 12 packages the project builds, tests and demos with.
MODELCAST_PACKAGES=(
  g++ clang libclang-rt-14-dev cmake ninja-build pkg-config git curl zstd openssl procps
  libgit2-dev zlib1g-dev nlohmann-json3-dev libssl-dev libzstd-dev libcurl4-openssl-dev doctest-dev
  libcli11-dev libfmt-dev libflatbuffers-dev flatbuffers-compiler
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata
  nginx-light python3 python3-jsonschema time jq
  default-jdk-headless
  crossbuild-essential-arm64 qemu-user
  libssl-dev:arm64 libzstd-dev:arm64 libcurl4-openssl-dev:arm64 libflatbuffers-dev:arm64
)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_deps() {
  local missing=()
  for p in "${MODELCAST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  # npm fetches the real TFLite test models; some machines carry a nodejs that bundles it
  # (and conflicts with Debian's npm package), so only ask for it when it is absent.
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ ${#missing[@]} -eq 0 ]; then
    log "all ${#MODELCAST_PACKAGES[@]} Debian packages present"
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
  dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ $own_policy -eq 1 ] && $sudo rm -f $policy
  $sudo service nginx stop >/dev/null 2>&1 || true
}

# build DIR [cmake args...]: configure once, then build everything.
build() {
  local dir=$1; shift
  cmake -S "$MODELCAST_ROOT" -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
}
