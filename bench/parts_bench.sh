#!/usr/bin/env bash
# A file above the host's file limit, published as parts and fetched by modelcast-fetch,
# against the baseline `curl (the parts, in order) | zstd -d | openssl dgst -sha256` in the
# same run: wall time and peak RSS of each (GNU time). nginx on 127.0.0.1 serves the tree.
# Usage: bench/parts_bench.sh [BUILD_DIR] [MIB]   (defaults: build/ci, 256 MiB; 25 MiB parts,
#   the Cloudflare Pages limit)
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/setup.sh"
source "$MODELCAST_ROOT/scripts/lib/nginx.sh"
build=${1:-$MODELCAST_ROOT/build/ci}
mib=${2:-256}
cmake --build "$build" --target modelcast modelcast-fetch >/dev/null
work=$(mktemp -d)
chmod 755 "$work"  # nginx workers read the tree as an unprivileged user
trap 'nginx_stop "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
mc=$build/publisher/modelcast
fetch=$build/device-fetcher/modelcast-fetch

# Compressible bytes (base64 of random: zstd keeps ~76 %), so the blob is zstd as a model's is.
openssl rand $((mib * 786432)) | base64 -w0 > "$work/model.bin"  # exactly MIB MiB
cat > "$work/config.json" <<'JSON'
{"features": [], "inputs": [{"dtype": "uint8", "name": "input", "shape": [1, 4]}], "metadata": {},
 "outputs": [{"dtype": "float32", "labels": ["a", "b"], "name": "scores", "shape": [1, 2]}]}
JSON
"$mc" init "$work/tree" --host cloudflare-pages >/dev/null
"$mc" keygen --out "$work/key" >/dev/null
"$mc" publish "$work/tree" --model big --platform linux --config "$work/config.json" --key "$work/key" --quiet \
  "$work/model.bin" >/dev/null
nginx_start "$work/tree" "$work"
url=http://127.0.0.1:$NGINX_PORT
parts=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["signed"]["files"][0]["blobs"][0]; print(" ".join(p["url"] for p in d["parts"]))' \
  "$work/tree/v2/manifests/big/stable/linux.json")
n=$(echo "$parts" | wc -w)
stored=$(du -cb $(for p in $parts; do echo "$work/tree/$p"; done) | tail -1 | cut -f1)

# One row: wall seconds and peak RSS (KB) of a command, from GNU time.
measure() {
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null
  read -r secs rss < "$work/time"
  echo "| $label | $secs | $((rss / 1024)) |"
}
echo "file: $mib MiB, stored zstd $((stored >> 20)) MiB in $n parts of at most 25 MiB"
echo "| run | seconds | peak RSS (MiB) |"
echo "|---|---|---|"
for i in 1 2 3; do
  rm -rf "$work/cache"
  measure "modelcast-fetch update (parts, verify each, decode, install) #$i" \
    "$fetch" update --url "$url" --cache "$work/cache" --model big --platform linux --pubkey "$work/key.pub" --quiet
  urls=$(for p in $parts; do echo "$url/$p"; done)
  measure "curl parts \| zstd -d \| openssl dgst -sha256 #$i" \
    sh -c "curl -s $(echo $urls) | zstd -dc | openssl dgst -sha256"
done
