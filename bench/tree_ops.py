#!/usr/bin/env python3
"""Tree maintenance benchmarks, each beside a baseline from the same run (bench/README.md,
"Tree maintenance"):

  refresh  `modelcast refresh` of N streams whose manifests expire soon (one process, one
           commit, no model files) against re-signing them the older way: one
           `modelcast publish --refresh-within` per stream, which needs every model file.
  gc       `modelcast gc --keep 3 --grace 0` of one stream with V versions (a 1 MiB blob
           each) against doing it by hand: `git rm` of the same files and `git commit`.

Usage: python3 bench/tree_ops.py --modelcast build/publisher/modelcast [--streams 100]
       [--versions 50] [--runs 3] [--json OUT]
Wall time and peak RSS come from GNU time (/usr/bin/time) around each command; the table
shows medians. Scratch trees live in a temporary folder that is removed at the end.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile


def run(cmd, cwd=None, env=None):
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def timed(cmd, cwd=None):
    """Wall seconds and peak RSS (KiB) of one command, via GNU time."""
    out = tempfile.NamedTemporaryFile(delete=False)
    out.close()
    try:
        subprocess.run(["/usr/bin/time", "-o", out.name, "-f", "%e %M"] + cmd, cwd=cwd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall, rss = open(out.name).read().split()[-2:]
        return float(wall), int(rss)
    finally:
        os.unlink(out.name)


def timed_shell(script, cwd):
    return timed(["sh", "-c", script], cwd=cwd)


def make_tree(mc, work, name):
    tree = os.path.join(work, name)
    run([mc, "init", tree])
    return tree


def write_config(path):
    with open(path, "w") as f:
        json.dump({"inputs": [{"name": "x", "dtype": "float32", "shape": [1, 4]}],
                   "outputs": [{"name": "y", "dtype": "float32", "shape": [1, 2], "labels": ["a", "b"]}]}, f)


def bench_refresh(mc, work, streams, runs):
    key = os.path.join(work, "k.pem")
    run([mc, "keygen", "--out", key])
    config = os.path.join(work, "config.json")
    write_config(config)
    models = os.path.join(work, "models")
    os.makedirs(models)
    seed = make_tree(mc, work, "refresh-seed")
    for i in range(streams):
        model = os.path.join(models, "m%03d.bin" % i)
        with open(model, "wb") as f:
            f.write(os.urandom(4096))
        run([mc, "publish", seed, "--model", "m%03d" % i, "--platform", "android", "--config", config, "--key", key,
             "--expires-in", "1", "--quiet", model])
    ours, base = [], []
    for r in range(runs):
        tree = os.path.join(work, "refresh-%d" % r)
        shutil.copytree(seed, tree, symlinks=True)
        ours.append(timed([mc, "refresh", tree, "--key", key, "--within", "7"]))
        tree = os.path.join(work, "republish-%d" % r)
        shutil.copytree(seed, tree, symlinks=True)
        script = " && ".join(
            "%s publish %s --model m%03d --platform android --config %s --key %s --refresh-within 7 --quiet %s" %
            (mc, tree, i, config, key, os.path.join(models, "m%03d.bin" % i)) for i in range(streams))
        base.append(timed_shell(script, work))
    return ours, base


def bench_gc(mc, work, versions, runs):
    key = os.path.join(work, "k.pem")
    if not os.path.exists(key):
        run([mc, "keygen", "--out", key])
    config = os.path.join(work, "config.json")
    write_config(config)
    seed = make_tree(mc, work, "gc-seed")
    model = os.path.join(work, "weights.bin")
    for v in range(versions):
        with open(model, "wb") as f:
            f.write(os.urandom(1 << 20))
        run([mc, "publish", seed, "--model", "w", "--platform", "android", "--config", config, "--key", key, "--quiet",
             model])
    keep = 3
    old = ["manifests/w/stable/android/%d.json" % v for v in range(1, versions - keep + 1)]
    ours, base = [], []
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost", GIT_COMMITTER_NAME="bench",
               GIT_COMMITTER_EMAIL="bench@localhost")
    freed = 0
    for r in range(runs):
        tree = os.path.join(work, "gc-%d" % r)
        shutil.copytree(seed, tree, symlinks=True)
        dry = subprocess.run([mc, "gc", tree, "--keep", str(keep), "--grace", "0", "--dry-run", "--json"], check=True,
                             capture_output=True, text=True)
        removed = json.loads(dry.stdout)["removed"]
        freed = json.loads(dry.stdout)["bytes_freed"]
        ours.append(timed([mc, "gc", tree, "--keep", str(keep), "--grace", "0"]))
        # The same removal by hand: the files gc chose (blobs found from the manifests).
        tree = os.path.join(work, "gitrm-%d" % r)
        shutil.copytree(seed, tree, symlinks=True)
        with open(os.path.join(work, "paths"), "w") as f:
            f.write("\n".join(removed) + "\n")
        start = timed_shell("git rm -q --pathspec-from-file=%s && git commit -q -m gc" % os.path.join(work, "paths"), tree)
        base.append(start)
        assert set(old) <= set(removed)
    return ours, base, freed


def median(pairs, i):
    return statistics.median(p[i] for p in pairs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelcast", required=True)
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--versions", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    mc = os.path.abspath(a.modelcast)
    work = tempfile.mkdtemp(prefix="modelcast-treeops-")
    try:
        r_ours, r_base = bench_refresh(mc, work, a.streams, a.runs)
        g_ours, g_base, freed = bench_gc(mc, work, a.versions, a.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "refresh": {"streams": a.streams, "ours": r_ours, "baseline": r_base},
        "gc": {"versions": a.versions, "bytes_freed": freed, "ours": g_ours, "baseline": g_base},
    }
    print("| benchmark | ours (median of %d) | baseline | ratio |" % a.runs)
    print("|---|---|---|---|")
    print("| refresh of %d streams: `modelcast refresh` vs %d x `publish --refresh-within` | %.2f s, %d MiB | %.2f s, %d MiB | %.2fx |" %
          (a.streams, a.streams, median(r_ours, 0), median(r_ours, 1) // 1024, median(r_base, 0),
           max(p[1] for p in r_base) // 1024, median(r_ours, 0) / median(r_base, 0)))
    print("| gc of %d versions (keep 3, %.1f MiB freed): `modelcast gc` vs `git rm` + `git commit` | %.2f s, %d MiB | %.2f s, %d MiB | %.2fx |" %
          (a.versions, freed / 1048576, median(g_ours, 0), median(g_ours, 1) // 1024, median(g_base, 0),
           median(g_base, 1) // 1024, median(g_ours, 0) / median(g_base, 0)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
