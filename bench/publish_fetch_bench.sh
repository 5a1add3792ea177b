#!/usr/bin/env bash
# Publish and fetch costs of format 2's extras, each against its plain counterpart in the
# same run (wall seconds and peak RSS from GNU time; bytes on the wire from
# `modelcast-fetch --json`):
#   1. publish of a fine-tuned version with `--deltas 2` against `--deltas 0`;
#   2. the device's update through that delta against a full fetch of the same version;
#   3. a large publish whose blob goes into parts (`init --host github-pages`, 100 MB
#      parts) against the same publish into a tree without a file limit.
# nginx on 127.0.0.1 serves the tree. Everything is removed at the end.
# Usage: bench/publish_fetch_bench.sh [BUILD_DIR] [DELTA_MIB] [PARTS_MIB]
#   (defaults: build/ci, 32 MiB of float32 weights, 1024 MiB for the parts publish)
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/setup.sh"
source "$MODELCAST_ROOT/scripts/lib/nginx.sh"
build=${1:-$MODELCAST_ROOT/build/ci}
delta_mib=${2:-32}
parts_mib=${3:-1024}
# The benchmark helpers are built only where asked for (MODELCAST_BUILD_BENCH).
cmake -S "$MODELCAST_ROOT" -B "$build" -DMODELCAST_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target modelcast modelcast-fetch modelcast_bench_delta modelcast_bench_gen_weights >/dev/null
work=$(mktemp -d)
chmod 755 "$work"  # nginx workers read the tree as an unprivileged user
trap 'nginx_stop "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
mc=$build/publisher/modelcast
fetch=$build/device-fetcher/modelcast-fetch
cat > "$work/config.json" <<'JSON'
{"features": [], "inputs": [{"dtype": "float32", "name": "input", "shape": [1, 4]}], "metadata": {},
 "outputs": [{"dtype": "float32", "labels": ["a", "b"], "name": "scores", "shape": [1, 2]}]}
JSON
"$mc" keygen --out "$work/key" >/dev/null

# One table row: wall seconds and peak RSS (MiB) of a command; its stdout goes to $work/out.
measure() {
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$work/out"
  read -r secs rss < "$work/time"
  echo "| $label | $secs | $((rss / 1024)) |"
}
# `publish TREE FILE [options]` copies FILE to model.bin (the same path in every version,
# so deltas pair them up); the publish itself is "${publish_cmd[@]}" TREE [options] model.bin.
publish_cmd=("$mc" publish --model m --platform linux --config "$work/config.json" --key "$work/key" --quiet)
publish() {
  local tree=$1 file=$2; shift 2
  cp "$file" "$work/model.bin"
  "${publish_cmd[@]}" "$tree" "$@" "$work/model.bin"
}
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/out" "$1"; }

echo "## 1-2. A fine-tuned version (fp32, r = 1e-3, $delta_mib MiB): publish and fetch"
"$build/bench/modelcast_bench_delta" gen "$work" $((delta_mib << 18)) pair  # w.f32, ft3.f32
for deltas in 2 0; do
  "$mc" init "$work/tree$deltas" --host none >/dev/null
  publish "$work/tree$deltas" "$work/w.f32" --deltas "$deltas" >/dev/null
done
echo "| run | seconds | peak RSS (MiB) |"
echo "|---|---|---|"
cp "$work/ft3.f32" "$work/model.bin"
measure "publish v2 --deltas 2 (zstd blob + xform blob + 1 delta per base)" \
  "${publish_cmd[@]}" "$work/tree2" --deltas 2 "$work/model.bin"
measure "publish v2 --deltas 0 (zstd blob only)" "${publish_cmd[@]}" "$work/tree0" --deltas 0 "$work/model.bin"
nginx_start "$work/tree2" "$work"
url=http://127.0.0.1:$NGINX_PORT
update_cmd=("$fetch" update --url "$url" --model m --platform linux --pubkey "$work/key.pub" --json --quiet --cache)
# The device that holds v1 takes the delta; a new device takes v2 whole.
"$mc" rollback "$work/tree2" --model m --platform linux --to-version 1 --key "$work/key" >/dev/null  # v3 = v1's content
"${update_cmd[@]}" "$work/holder" >/dev/null
"$mc" rollback "$work/tree2" --model m --platform linux --to-version 2 --key "$work/key" >/dev/null  # v4 = v2's content
measure "update v1 -> v2 content through the delta" "${update_cmd[@]}" "$work/holder"
delta_wire=$(json_field wire_bytes)
measure "full fetch of the v2 content on a new device" "${update_cmd[@]}" "$work/fresh"
full_wire=$(json_field wire_bytes)
raw=$(stat -c %s "$work/ft3.f32")
echo
echo "bytes on the wire: delta path $delta_wire, full path $full_wire, raw $raw" \
  "(ratios $(python3 -c "print(f'{$delta_wire/$raw:.3f} and {$full_wire/$raw:.3f}')"))"
cmp -s "$work/ft3.f32" "$(find "$work/holder/models/m" -name model.bin -path '*versions/4*' | head -1)" &&
  echo "the delta-built file is byte-identical to the published one"
nginx_stop "$work"
rm -rf "$work/tree0" "$work/tree2" "$work/holder" "$work/fresh" "$work"/*.f32

echo
echo "## 3. A $parts_mib MiB publish: parts (github-pages, 100 MB limit) against no limit"
"$build/bench/modelcast_bench_gen_weights" "$work/big.bin" $((parts_mib << 20)) >/dev/null
echo "| run | seconds | peak RSS (MiB) |"
echo "|---|---|---|"
for host in github-pages none; do
  "$mc" init "$work/$host" --host "$host" >/dev/null
  measure "publish into --host $host" "${publish_cmd[@]}" "$work/$host" --deltas 0 "$work/big.bin"
  echo "|   stored: $(find "$work/$host/blobs" "$work/$host/parts" -type f 2>/dev/null | wc -l) file(s)," \
    "largest $(( $(find "$work/$host/blobs" "$work/$host/parts" -type f -printf '%s\n' 2>/dev/null | sort -n | tail -1) >> 20 )) MiB | | |"
  rm -rf "${work:?}/$host"
done
