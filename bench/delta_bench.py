#!/usr/bin/env python3
"""Bytes on the wire for updates and full installs: the xform codec against `zstd -3` and
`zstd --patch-from --long=31`, in the same run, plus the memory and time of applying a
delta to a large model. See bench/README.md ("Deltas and transforms") for the goals.

Usage (after building modelcast_bench_delta, e.g. `ninja -C build modelcast_bench_delta`):
  bench/delta_bench.py [BUILD_DIR]       default BUILD_DIR: build

Environment:
  DELTA_WEIGHTS=8388608     float32 weights of the synthetic model (8M = 32 MiB)
  DELTA_RSS_MIB=256         size of the model a delta is applied to for peak RSS (0 skips)
  MODELCAST_TESTDATA=DIR    where scripts/fetch-testdata put the MediaPipe models
  DELTA_DATA=DIR            scratch folder (default: a temp folder, removed at the end)
Needs zstd and GNU time (/usr/bin/time). Prints a Markdown table and JSON.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
DRIVER = os.path.join(BUILD, "bench", "modelcast_bench_delta")
WEIGHTS = int(os.environ.get("DELTA_WEIGHTS", 8 << 20))
RSS_MIB = int(os.environ.get("DELTA_RSS_MIB", 256))
TESTDATA = os.environ.get("MODELCAST_TESTDATA", os.path.join(ROOT, ".testdata"))


def run(cmd):
    """Runs cmd under GNU time; returns (stdout, wall seconds, peak RSS in KiB)."""
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    wall = time.monotonic() - start
    if p.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), p.stderr))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return p.stdout, wall, rss


def size(path):
    return os.path.getsize(path)


def ours(target, base, out):
    stdout, wall, rss = run([DRIVER, "encode", target, base, out])
    info = json.loads(stdout)
    info.update(wall_s=wall, rss_kib=rss)
    return info


def zstd3(target, out):
    _, wall, _ = run(["zstd", "-q", "-f", "-3", target, "-o", out])
    return size(out), wall


def patch_from(target, base, out):
    _, wall, _ = run(["zstd", "-q", "-f", "-3", "--long=31", "--patch-from=" + base, target, "-o", out])
    return size(out), wall


def case(work, name, target, base, goal=None):
    raw = size(target)
    full = ours(target, "", os.path.join(work, "full.xf"))
    z, z_wall = zstd3(target, os.path.join(work, "z.zst"))
    row = {"case": name, "raw": raw, "zstd3": z, "xform_full": full["stored"], "zstd3_s": z_wall,
           "xform_full_s": full["encode_s"], "goal": goal}
    if base:
        d = ours(target, base, os.path.join(work, "delta.xfd"))
        p, p_wall = patch_from(target, base, os.path.join(work, "p.zstpatch"))
        row.update(xform_delta=d["stored"], patch_from=p, xform_delta_s=d["encode_s"], patch_from_s=p_wall,
                   delta_segments=d["segments"], delta_bytes_by_op=d["bytes_by_op"])
        # The publisher keeps a delta only when it is smaller than the full blob.
        row["wire"] = min(d["stored"], full["stored"])
    else:
        row["wire"] = full["stored"]
    return row


def rss_case(work):
    mib = RSS_MIB
    data = os.path.join(work, "rss")
    os.makedirs(data)
    subprocess.run([DRIVER, "gen", data, str(mib << 18), "pair"], check=True)
    base, target = os.path.join(data, "w.f32"), os.path.join(data, "ft3.f32")
    delta = os.path.join(data, "delta.xfd")
    enc = ours(target, base, delta)
    out = os.path.join(data, "out")
    _, apply_wall, apply_rss = run([DRIVER, "apply", delta, base, out, str(size(target))])
    if not filecmp(out, target):
        sys.exit("apply produced different bytes")
    patch = os.path.join(data, "p.zstpatch")
    _, pf_wall = patch_from(target, base, patch)
    _, pf_apply_wall, pf_apply_rss = run(["zstd", "-q", "-f", "-d", "--long=31", "--patch-from=" + base, patch,
                                          "-o", out])
    _, z_wall = zstd3(target, os.path.join(data, "z.zst"))
    _, zd_wall, zd_rss = run(["zstd", "-q", "-f", "-d", os.path.join(data, "z.zst"), "-o", out])
    return {"model_mib": mib, "delta": enc["stored"], "encode_s": enc["encode_s"], "encode_rss_kib": enc["rss_kib"],
            "apply_s": apply_wall, "apply_rss_kib": apply_rss, "patch_from_encode_s": pf_wall,
            "patch_from_apply_s": pf_apply_wall, "patch_from_apply_rss_kib": pf_apply_rss, "zstd3_encode_s": z_wall,
            "zstd_decode_s": zd_wall, "zstd_decode_rss_kib": zd_rss}


def filecmp(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def main():
    if not os.access(DRIVER, os.X_OK):
        sys.exit("build it first: ninja -C %s modelcast_bench_delta" % BUILD)
    work = os.environ.get("DELTA_DATA") or tempfile.mkdtemp(prefix="delta-bench-")
    os.makedirs(work, exist_ok=True)
    try:
        subprocess.run([DRIVER, "gen", work, str(WEIGHTS)], check=True)
        f = lambda n: os.path.join(work, n)
        rows = [
            case(work, "fp32 fine-tune r=1e-3", f("ft3.f32"), f("w.f32"), 0.60),
            case(work, "int8 fine-tune r=1e-3", f("ft3.i8"), f("w.i8"), 0.08),
            case(work, "fp32 head-only retrain (last 5%)", f("head.f32"), f("w.f32"), 0.06),
            case(work, "fp32 full install", f("w.f32"), "", 0.87),
        ]
        selfie = os.path.join(TESTDATA, "mediapipe-selfie", "package")
        portrait = os.path.join(selfie, "selfie_segmentation.tflite")
        landscape = os.path.join(selfie, "selfie_segmentation_landscape.tflite")
        if os.path.exists(portrait) and os.path.exists(landscape):
            rows.append(case(work, "selfie portrait -> landscape (TFLite)", landscape, portrait))
            rows.append(case(work, "selfie landscape -> portrait (TFLite)", portrait, landscape))
        else:
            print("skipped the MediaPipe pair: run scripts/fetch-testdata", file=sys.stderr)
        rss = rss_case(work) if RSS_MIB > 0 else None
    finally:
        if not os.environ.get("DELTA_DATA"):
            shutil.rmtree(work, ignore_errors=True)

    r = lambda x, raw: "%.3f" % (x / raw)
    print("| case | raw bytes | `zstd -3` | `zstd --patch-from --long=31` | xform full | xform delta | on the wire | goal |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        raw = row["raw"]
        goal = row["goal"]
        if goal is None:  # unrelated versions: never more than the full blob + 1% of raw
            goal_text = "<= %.3f (full + 0.01)" % (row["xform_full"] / raw + 0.01)
            met = row["wire"] <= row["xform_full"] + 0.01 * raw
        else:
            goal_text = "<= %.2f" % goal
            met = row["wire"] <= goal * raw
        print("| %s | %d | %s | %s | %s | %s | **%s** | %s %s |" % (
            row["case"], raw, r(row["zstd3"], raw), r(row["patch_from"], raw) if "patch_from" in row else "",
            r(row["xform_full"], raw), r(row["xform_delta"], raw) if "xform_delta" in row else "",
            r(row["wire"], raw), goal_text, "met" if met else "MISSED"))
    print()
    print("| case | `zstd -3` s | `zstd --patch-from` s | xform full s | xform delta s (plan + encode) |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| %s | %.2f | %s | %.2f | %s |" % (
            row["case"], row["zstd3_s"], "%.2f" % row["patch_from_s"] if "patch_from_s" in row else "",
            row["xform_full_s"], "%.2f" % row["xform_delta_s"] if "xform_delta_s" in row else ""))
    if rss:
        print()
        print("apply a delta to a %d MiB fp32 model (fine-tune r=1e-3): delta %.3f of raw;" % (
            rss["model_mib"], rss["delta"] / (rss["model_mib"] << 20)))
        print("  xform apply  : %.2f s, peak RSS %.1f MiB (goal <= 64 MiB)" % (rss["apply_s"], rss["apply_rss_kib"] / 1024))
        print("  patch-from -d: %.2f s, peak RSS %.1f MiB" % (rss["patch_from_apply_s"], rss["patch_from_apply_rss_kib"] / 1024))
        print("  zstd -d full : %.2f s, peak RSS %.1f MiB" % (rss["zstd_decode_s"], rss["zstd_decode_rss_kib"] / 1024))
        print("  encode: xform %.2f s (peak RSS %.1f MiB), zstd --patch-from --long=31 %.2f s, zstd -3 %.2f s" % (
            rss["encode_s"], rss["encode_rss_kib"] / 1024, rss["patch_from_encode_s"], rss["zstd3_encode_s"]))
    print()
    print(json.dumps({"rows": rows, "rss": rss}, indent=1))


if __name__ == "__main__":
    main()
