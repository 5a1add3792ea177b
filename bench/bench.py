#!/usr/bin/env python3
"""modelcast benchmarks, each beside the baseline it must be compared with.

Run through scripts/bench (installs the tools, builds Release, then runs this).
Every figure is taken in the same run as its baseline, runs interleaved (ours, baseline,
ours, baseline...) so that drift of this noisy machine hits both sides; medians are
reported. Wall time and peak RSS come from wait4() of each run (ru_maxrss: the largest
process of a pipeline, not their sum). Short, many-process loops use hyperfine; keep-alive
HTTP uses wrk; bytes on the wire come from the nginx access log ($bytes_sent, headers
included, and $request_length for what the client sent).

Environment (all optional):
  BENCH_BIG_MIB=1024        size of the big model (publish/fetch throughput, scaling)
  BENCH_RUNS=3              runs per side for the throughput benchmarks
  BENCH_CHECKS=200          processes per side in the check-cost loop
  BENCH_INPROC_CHECKS=1000  update() calls of one reused Fetcher
  BENCH_OPENS=10000         open() calls for the open latency
  BENCH_SMALL_FILES=1000    files of the many-files model, BENCH_SMALL_FILE_KIB=16 each
  BENCH_SCALING_MIB=1,64    sizes published/fetched for scaling (the big one is added)
  BENCH_GIT_ADD=1           0 skips the `git add` reference (slow: ~20 s per GiB)
  BENCH_ONLY=publish,fetch,check,open,scaling,wire   subset to run
  BENCH_DATA=DIR            scratch folder (default build/bench-data), removed at the end
  BENCH_KEEP=1              keep the scratch folder
  BENCH_OUT=FILE            results (default bench/results/latest.json, + .md beside it)
  BENCH_PROFILE=1           also profile publish, fetch, checks, open, 100 small files
                            (perf cpu-clock or callgrind, strace -c) into bench/results/profile/
  BENCH_PROFILE_MIB=256     model size for those profiles
"""
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BENCH_BUILD", os.path.join(ROOT, "build", "bench"))
MIB = 1 << 20


def env_int(name, default):
    return int(os.environ.get(name, default))


BIG_MIB = env_int("BENCH_BIG_MIB", 1024)
RUNS = env_int("BENCH_RUNS", 3)
CHECKS = env_int("BENCH_CHECKS", 200)
INPROC_CHECKS = env_int("BENCH_INPROC_CHECKS", 1000)
OPENS = env_int("BENCH_OPENS", 10000)
SMALL_FILES = env_int("BENCH_SMALL_FILES", 1000)
SMALL_FILE_KIB = env_int("BENCH_SMALL_FILE_KIB", 16)
SCALING_MIB = [int(x) for x in os.environ.get("BENCH_SCALING_MIB", "1,64").split(",") if x]
GIT_ADD = env_int("BENCH_GIT_ADD", 1)
ONLY = set(x for x in os.environ.get("BENCH_ONLY", "").split(",") if x)
DATA = os.path.abspath(os.environ.get("BENCH_DATA", os.path.join(ROOT, "build", "bench-data")))
OUT = os.path.abspath(os.environ.get("BENCH_OUT", os.path.join(ROOT, "bench", "results", "latest.json")))
PLATFORM = "linux-x86_64"

MODELCAST = os.path.join(BUILD, "publisher", "modelcast")
FETCH = os.path.join(BUILD, "device-fetcher", "modelcast-fetch")
GEN = os.path.join(BUILD, "bench", "modelcast_bench_gen_weights")
INPROC = os.path.join(BUILD, "bench", "modelcast_bench_fetcher")


def log(msg):
    sys.stderr.write("\033[1m==> %s\033[0m\n" % msg)
    sys.stderr.flush()


def wanted(name):
    return not ONLY or name in ONLY


# ---------------------------------------------------------------------------------------
# Running and measuring


class Run:
    def __init__(self, wall, rss_kib, rc, out):
        self.wall, self.rss_kib, self.rc, self.out = wall, rss_kib, rc, out

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError:
            return {}


def run(cmd, cwd=None, check=True, env=None):
    """Runs cmd (list, or str through sh -c), returns wall seconds and peak RSS (wait4)."""
    if isinstance(cmd, str):
        cmd = ["sh", "-c", cmd]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        etext = err.read().decode(errors="replace")
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (p.returncode, " ".join(cmd), text[-2000:], etext[-2000:]))
    return Run(wall, ru.ru_maxrss, p.returncode, text)


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, **kw).stdout


def med(values):
    return statistics.median(values) if values else None


def rm(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


# ---------------------------------------------------------------------------------------
# nginx (scripts/lib/nginx.sh), with a log format that records bytes on the wire

class Nginx:
    def __init__(self, root, work):
        self.root, self.work = root, work
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.prefix = os.path.join(work, "nginx")
        self.log = os.path.join(self.prefix, "logs", "bench.log")

    def _lib(self, script):
        env = dict(os.environ, NGINX_PORT=str(self.port), NGINX_PREFIX=self.prefix)
        subprocess.run(["bash", "-c", "source %s; %s" % (shlex.quote(os.path.join(ROOT, "scripts/lib/nginx.sh")), script)],
                       check=True, env=env)

    def start(self):
        self._lib("nginx_start %s %s" % (shlex.quote(self.root), shlex.quote(self.work)))
        # The stock access log has $body_bytes_sent only; add one with the wire bytes
        # ($bytes_sent counts headers too) and what the client sent ($request_length).
        conf = os.path.join(self.prefix, "nginx.conf")
        text = open(conf).read()
        text = text.replace(
            "http {",
            "http {\n  log_format bench '$status $bytes_sent $body_bytes_sent $request_length \"$request\"';\n"
            "  access_log %s bench;" % self.log, 1)
        open(conf, "w").write(text)
        subprocess.run(["/usr/sbin/nginx", "-p", self.prefix, "-c", conf, "-s", "reload"], check=True,
                       stderr=subprocess.DEVNULL)
        for _ in range(100):
            self.clear_log()
            subprocess.run(["curl", "-s", "-o", "/dev/null", self.url("modelcast.json")])
            if self.read_log():
                self.clear_log()
                return
            time.sleep(0.05)
        raise RuntimeError("nginx did not pick up the bench log format")

    def stop(self):
        self._lib("nginx_stop")

    def url(self, path=""):
        return "http://127.0.0.1:%d/%s" % (self.port, path)

    def clear_log(self):
        if os.path.exists(self.log):
            open(self.log, "w").close()  # nginx appends (O_APPEND): truncation is safe

    def read_log(self):
        """[(status, bytes_sent, request_length, request)]"""
        out = []
        if not os.path.exists(self.log):
            return out
        for line in open(self.log):
            m = re.match(r'(\d+) (\d+) (\d+) (\d+) "(.*)"', line)
            if m:
                out.append((int(m.group(1)), int(m.group(2)), int(m.group(4)), m.group(5), int(m.group(3))))
        return out

    def wire(self, expect=1):
        # nginx writes a line when it finalises the request, which may come just after
        # the client has seen the last byte: wait for the lines to arrive and settle.
        entries, deadline = self.read_log(), time.time() + 3
        while time.time() < deadline:
            time.sleep(0.05)
            again = self.read_log()
            if len(again) >= expect and len(again) == len(entries):
                break
            entries = again
        return {
            "requests": len(entries),
            "bytes_sent": sum(e[1] for e in entries),
            "bytes_received": sum(e[2] for e in entries),
            "body_bytes_sent": sum(e[4] for e in entries),
            "statuses": sorted(set(e[0] for e in entries)),
            "lines": ["%d %d %s" % (e[0], e[1], e[3]) for e in entries[:20]],
        }


# ---------------------------------------------------------------------------------------
# Data and trees

class Setup:
    def __init__(self):
        self.key = os.path.join(DATA, "key")
        self.pub = self.key + ".pub"
        self.config = os.path.join(DATA, "config.json")
        self.tree0 = os.path.join(DATA, "tree0")  # initialised, empty: copied per publish run
        self.serve = os.path.join(DATA, "serve")  # what nginx serves
        self.big = os.path.join(DATA, "big", "model.bin")

    def make(self):
        os.makedirs(DATA, exist_ok=True)
        log("data in %s" % DATA)
        run([MODELCAST, "keygen", "--out", self.key])
        json.dump({
            "inputs": [{"name": "input", "dtype": "float32", "shape": [1, 224, 224, 3]}],
            "outputs": [{"name": "scores", "dtype": "float32", "shape": [1, 3],
                         "labels": ["cat", "dog", "other"]}],
            "features": [],
            "metadata": {"bench": "synthetic float32 weights"},
        }, open(self.config, "w"), indent=1)
        run([MODELCAST, "init", self.tree0])
        os.makedirs(os.path.dirname(self.big), exist_ok=True)
        self.gen(self.big, BIG_MIB * MIB, 1)

    def gen(self, path, size, seed):
        if not os.path.exists(path) or os.path.getsize(path) != size:
            run([GEN, path, str(size), str(seed)])

    def fresh_tree(self, name):
        dst = os.path.join(DATA, name)
        rm(dst)
        shutil.copytree(self.tree0, dst, symlinks=True)
        return dst

    def publish_cmd(self, tree, model, files):
        return [MODELCAST, "publish", tree, "--model", model, "--platform", PLATFORM,
                "--config", self.config, "--key", self.key, "--json"] + list(files)

    def fetch_cmd(self, url, cache, model):
        return [FETCH, "update", "--url", url, "--cache", cache, "--model", model,
                "--platform", PLATFORM, "--pubkey", self.pub, "--json"]

    def manifest(self, tree, model):
        doc = json.load(open(os.path.join(tree, "manifests", model, "stable", PLATFORM + ".json")))
        return doc["signed"]


def ratio(ours, base):
    return round(ours / base, 3) if ours and base else None


# ---------------------------------------------------------------------------------------
# Benchmarks

def bench_publish(s, results):
    """modelcast publish of the big file vs openssl dgst + zstd -3 (and -T0), git add."""
    log("publish throughput: %d MiB, %d runs per side" % (BIG_MIB, RUNS))
    ours, base, base_t0 = [], [], []
    out_zst = os.path.join(DATA, "out.zst")
    q = shlex.quote(s.big)
    for i in range(RUNS):
        tree = s.fresh_tree("tree-run")
        r = run(s.publish_cmd(tree, "big", [s.big]))
        ours.append(r)
        if i == RUNS - 1:
            rm(s.serve)
            os.rename(tree, s.serve)  # the last published tree is the one nginx serves
        else:
            rm(tree)
        base.append(run("openssl dgst -sha256 %s >/dev/null && zstd -3 -q -f -c %s > %s" % (q, q, out_zst)))
        rm(out_zst)
        base_t0.append(run("openssl dgst -sha256 %s >/dev/null && zstd -3 -T0 -q -f -c %s > %s" % (q, q, out_zst)))
        if i == RUNS - 1:
            # What the second pass of a publish costs (the blob's git object): SHA-1 of
            # the compressed bytes with git's collision-detecting SHA-1 (libgit2 uses the
            # same sha1dc) against OpenSSL's, and one more write of those bytes.
            qz = shlex.quote(out_zst)
            # (git's big-file path, above core.bigFileThreshold, would deflate into a pack
            # and time zlib instead: raise the threshold so only hashing is timed.)
            diag = {"git_hash_object_s": run(["git", "-c", "core.bigFileThreshold=64g", "hash-object",
                                              "--no-filters", out_zst]).wall,
                    "openssl_sha1_s": run(["openssl", "dgst", "-sha1", out_zst]).wall,
                    "copy_s": run("cat %s > %s.copy && sync -f %s.copy" % (qz, qz, qz)).wall,
                    "zst_bytes": os.path.getsize(out_zst)}
            rm(out_zst + ".copy")
        rm(out_zst)
    entry = {
        "name": "publish", "size_mib": BIG_MIB,
        "ours_s": med([r.wall for r in ours]), "ours_runs_s": [round(r.wall, 3) for r in ours],
        "ours_rss_mib": max(r.rss_kib for r in ours) / 1024,
        "baseline": "openssl dgst -sha256 F && zstd -3 -c F > out.zst",
        "baseline_s": med([r.wall for r in base]), "baseline_runs_s": [round(r.wall, 3) for r in base],
        "baseline_rss_mib": max(r.rss_kib for r in base) / 1024,
        "baseline_t0_s": med([r.wall for r in base_t0]),
        "target_ratio": 1.2, "target_rss_mib": 64,
        "publish_json": ours[-1].json(),
        "second_pass_parts": diag,
    }
    entry["ratio"] = ratio(entry["ours_s"], entry["baseline_s"])
    entry["ratio_t0"] = ratio(entry["ours_s"], entry["baseline_t0_s"])
    entry["met"] = bool(entry["ratio"] and entry["ratio"] <= 1.2 and entry["ours_rss_mib"] < 64)
    if GIT_ADD:
        log("git add of the same file (reference)")
        repo = os.path.join(DATA, "gitref")
        rm(repo)
        os.makedirs(repo)
        sh(["git", "init", "-q", repo])
        os.link(s.big, os.path.join(repo, "model.bin"))
        r = run(["git", "add", "model.bin"], cwd=repo)
        rm(repo)
        entry["git_add_s"] = r.wall
        entry["git_add_rss_mib"] = r.rss_kib / 1024
    results["publish"] = entry


def bench_fetch(s, ng, results):
    log("fetch throughput: %d MiB, %d runs per side" % (BIG_MIB, RUNS))
    m = s.manifest(s.serve, "big")
    blob_url = ng.url(m["files"][0]["url"])
    decode = "zstd -d -q |" if m["files"][0].get("encoding") == "zstd" else ""
    out = os.path.join(DATA, "fetched.bin")
    cache = os.path.join(DATA, "cache-big")
    ours, base, base_part = [], [], []
    for i in range(RUNS):
        rm(cache)
        ng.clear_log()
        r = run(s.fetch_cmd(ng.url(), cache, "big"))
        doc = r.json()
        if doc.get("status") != "updated":
            raise RuntimeError("fetch did not update: %s" % r.out)
        wire = ng.wire()
        ours.append(r)
        base.append(run("curl -s %s | %s tee %s | openssl dgst -sha256 >/dev/null" % (shlex.quote(blob_url), decode, out)))
        rm(out)
        # Diagnostic: the same pipeline also keeping the wire bytes (as a resumable .part)
        base_part.append(run("curl -s %s | tee %s.part | %s tee %s | openssl dgst -sha256 >/dev/null"
                             % (shlex.quote(blob_url), out, decode, out)))
        rm(out)
        rm(out + ".part")
    # the last cache stays: the check and open benchmarks use it
    entry = {
        "name": "fetch", "size_mib": BIG_MIB,
        "ours_s": med([r.wall for r in ours]), "ours_runs_s": [round(r.wall, 3) for r in ours],
        "ours_rss_mib": max(r.rss_kib for r in ours) / 1024,
        "baseline": "curl -s URL | zstd -d | tee FILE | openssl dgst -sha256",
        "baseline_s": med([r.wall for r in base]), "baseline_runs_s": [round(r.wall, 3) for r in base],
        "baseline_rss_mib": max(r.rss_kib for r in base) / 1024,
        "target_ratio": 1.1, "target_rss_mib": 32,
        "baseline_keeping_part_s": med([r.wall for r in base_part]),
        "wire": wire, "encoding": m["files"][0].get("encoding"),
    }
    entry["ratio"] = ratio(entry["ours_s"], entry["baseline_s"])
    entry["met"] = bool(entry["ratio"] and entry["ratio"] <= 1.1 and entry["ours_rss_mib"] < 32)
    results["fetch"] = entry


def etag_of(url):
    head = sh(["curl", "-sI", url])
    m = re.search(r'(?im)^etag:\s*(.+?)\s*$', head)
    return m.group(1) if m else ""


def bench_check(s, ng, results):
    log("check cost: %d processes per side, %d in-process checks" % (CHECKS, INPROC_CHECKS))
    cache = os.path.join(DATA, "cache-big")
    murl = ng.url("manifests/big/stable/%s.json" % PLATFORM)
    etag = etag_of(murl)
    fetch = s.fetch_cmd(ng.url(), cache, "big")
    first = run(fetch).json()
    curl = ["curl", "-s", "-o", "/dev/null", "-H", "If-None-Match: %s" % etag, murl]
    entry = {"name": "check", "first_check": first, "etag": etag}

    # bytes on the wire per check (not timed)
    n = 20
    ng.clear_log()
    for _ in range(n):
        run(fetch)
    w = ng.wire(n)
    entry["ours_wire_per_check"] = {"bytes_sent": w["bytes_sent"] / n, "bytes_received": w["bytes_received"] / n,
                                    "requests": w["requests"] / n, "statuses": w["statuses"]}
    ng.clear_log()
    for _ in range(n):
        run(curl)
    w = ng.wire(n)
    entry["curl_wire_per_check"] = {"bytes_sent": w["bytes_sent"] / n, "bytes_received": w["bytes_received"] / n,
                                    "requests": w["requests"] / n, "statuses": w["statuses"]}

    # new processes: hyperfine, interleaving is not available there, so it runs both
    hf = os.path.join(DATA, "hyperfine.json")
    subprocess.run(["hyperfine", "-N", "--style", "basic", "--warmup", "5", "--runs", str(CHECKS),
                    "--export-json", hf, "-n", "modelcast-fetch update",
                    " ".join(shlex.quote(a) for a in fetch), "-n", "curl If-None-Match",
                    " ".join(shlex.quote(a) for a in curl)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hres = json.load(open(hf))["results"]
    entry["process_ours_median_ms"] = hres[0]["median"] * 1000
    entry["process_ours_per_s"] = 1 / hres[0]["mean"]
    entry["process_curl_median_ms"] = hres[1]["median"] * 1000
    entry["process_curl_per_s"] = 1 / hres[1]["mean"]
    entry["process_ratio"] = ratio(hres[0]["median"], hres[1]["median"])

    # one Fetcher reused vs one kept-alive connection (wrk -c1)
    if os.path.exists(INPROC):
        ng.clear_log()
        r = run([INPROC, "check", str(INPROC_CHECKS), "--url", ng.url(), "--cache", cache, "--model", "big",
                 "--platform", PLATFORM, "--pubkey", s.pub])
        w = ng.wire()
        ip = r.json()
        entry["inproc"] = ip
        entry["inproc_wire_per_check"] = {"bytes_sent": w["bytes_sent"] / max(1, ip.get("count", 1)),
                                          "requests": w["requests"] / max(1, ip.get("count", 1)),
                                          "statuses": w["statuses"]}
    wrk = sh(["wrk", "-t1", "-c1", "-d5s", "-H", "If-None-Match: %s" % etag, murl])
    m = re.search(r"Requests/sec:\s*([\d.]+)", wrk)
    entry["wrk_c1_per_s"] = float(m.group(1)) if m else None
    if entry.get("inproc") and entry["wrk_c1_per_s"]:
        entry["inproc_per_s"] = entry["inproc"]["per_s"]
        entry["inproc_ratio"] = ratio(entry["wrk_c1_per_s"], entry["inproc_per_s"])  # time ratio
    results["check"] = entry


def bench_open(s, results):
    log("open latency: %d calls" % OPENS)
    cache = os.path.join(DATA, "cache-big")
    r = run([INPROC, "open", str(OPENS), "--cache", cache, "--model", "big"])
    e = r.json()
    e["name"] = "open"
    e["target_us"] = 1000
    e["met"] = e["median_us"] < 1000 and e["p99_us"] < 1000
    results["open"] = e


def bench_scaling(s, ng, results):
    log("scaling: %s MiB and %d files of %d KiB" % (SCALING_MIB, SMALL_FILES, SMALL_FILE_KIB))
    rows = []
    cases = []
    for mib in SCALING_MIB:
        path = os.path.join(DATA, "s%d" % mib, "model.bin")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s.gen(path, mib * MIB, 10 + mib)
        cases.append(("s%dmib" % mib, "%d MiB" % mib, mib * MIB, [path]))
    many_dir = os.path.join(DATA, "many")
    os.makedirs(many_dir, exist_ok=True)
    many = []
    for i in range(SMALL_FILES):
        p = os.path.join(many_dir, "part%04d.bin" % i)
        s.gen(p, SMALL_FILE_KIB * 1024, 1000 + i)
        many.append(p)
    cases.append(("many", "%d files x %d KiB" % (SMALL_FILES, SMALL_FILE_KIB), SMALL_FILES * SMALL_FILE_KIB * 1024, many))
    for model, label, size, files in cases:
        tree = s.fresh_tree("tree-run")
        p = run(s.publish_cmd(tree, model, files))
        rm(tree)
        run(s.publish_cmd(s.serve, model, files))  # unmeasured: what nginx serves
        cache = os.path.join(DATA, "cache-scaling")
        rm(cache)
        f = run(s.fetch_cmd(ng.url(), cache, model))
        if f.json().get("status") != "updated":
            raise RuntimeError("scaling fetch of %s: %s" % (model, f.out))
        rm(cache)
        rows.append({"case": label, "bytes": size, "files": len(files),
                     "publish_s": p.wall, "publish_rss_mib": p.rss_kib / 1024,
                     "fetch_s": f.wall, "fetch_rss_mib": f.rss_kib / 1024})
    if "publish" in results and "fetch" in results:
        rows.append({"case": "%d MiB" % BIG_MIB, "bytes": BIG_MIB * MIB, "files": 1,
                     "publish_s": results["publish"]["ours_s"], "publish_rss_mib": results["publish"]["ours_rss_mib"],
                     "fetch_s": results["fetch"]["ours_s"], "fetch_rss_mib": results["fetch"]["ours_rss_mib"],
                     "from": "medians of the publish/fetch benchmarks"})
    for r in rows:
        r["publish_mib_s"] = r["bytes"] / MIB / r["publish_s"]
        r["fetch_mib_s"] = r["bytes"] / MIB / r["fetch_s"]
    results["scaling"] = {"name": "scaling", "rows": rows}


def bench_wire(s, ng, results):
    log("bytes on the wire: first install, labels-only update, no-op check")
    d = os.path.join(DATA, "wire")
    os.makedirs(d, exist_ok=True)
    model = os.path.join(d, "model.bin")
    labels = os.path.join(d, "labels.txt")
    s.gen(model, 5 * 1000 * 1000, 77)
    with open(labels, "w") as f:
        f.write("".join("class_%04d\n" % i for i in range(1000)))
    run(s.publish_cmd(s.serve, "wire", [model, labels]))
    cache = os.path.join(DATA, "cache-wire")
    rm(cache)
    fetch = s.fetch_cmd(ng.url(), cache, "wire")
    entry = {"name": "wire", "model_bytes": os.path.getsize(model)}

    def measured(what, expect):
        ng.clear_log()
        r = run(fetch)
        doc = r.json()
        if doc.get("status") != expect:
            raise RuntimeError("%s: expected %s, got %s" % (what, expect, r.out))
        w = ng.wire()
        w["result"] = {k: doc.get(k) for k in ("status", "version", "bytes_downloaded")}
        return w

    m1 = s.manifest(s.serve, "wire")
    entry["first_install"] = measured("first install", "updated")
    entry["first_install"]["file_bytes"] = sum(f["size"] for f in m1["files"])
    entry["first_install"]["stored_bytes"] = sum(f.get("stored_size", f["size"]) for f in m1["files"])
    # nginx's ETag is mtime (1 s) + size: a manifest rewritten within the same second at
    # the same size keeps its ETag and devices get a 304. Let a second pass first.
    time.sleep(1.1)
    with open(labels, "a") as f:
        f.write("class_new\n")
    run(s.publish_cmd(s.serve, "wire", [model, labels]))
    m2 = s.manifest(s.serve, "wire")
    changed = [f for f in m2["files"] if f["sha256"] not in {g["sha256"] for g in m1["files"]}]
    entry["labels_update"] = measured("labels-only update", "updated")
    entry["labels_update"]["changed_file_bytes"] = sum(f["size"] for f in changed)
    entry["labels_update"]["changed_stored_bytes"] = sum(f.get("stored_size", f["size"]) for f in changed)
    mpath = os.path.join(s.serve, "manifests", "wire", "stable", PLATFORM + ".json")
    entry["manifest_bytes"] = os.path.getsize(mpath)
    entry["noop_check"] = measured("no-op check", "current")
    rm(cache)
    results["wire"] = entry


# ---------------------------------------------------------------------------------------
# Profiles (BENCH_PROFILE=1): where the time of publish, fetch and a check goes.

PROFILE = env_int("BENCH_PROFILE", 0)
PROFILE_MIB = env_int("BENCH_PROFILE_MIB", 256)
PROFILE_DIR = os.path.join(os.path.dirname(OUT), "profile")


def perf_usable():
    # Hardware counters are often missing in VMs (`perf stat -e instructions` says "not
    # supported"); the cpu-clock software event samples all the same.
    try:
        r = subprocess.run(["perf", "record", "-e", "cpu-clock", "-o", "/dev/null", "true"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode == 0
    except OSError:
        return False


def profile_cmd(name, cmd, small_cmd=None):
    """On-CPU profile (perf cpu-clock + DWARF call graphs, else callgrind on small_cmd) and
    a syscall summary with wall time per call (strace -c -w: fsync and rename show up
    there, being off-CPU)."""
    os.makedirs(PROFILE_DIR, exist_ok=True)
    out = os.path.join(PROFILE_DIR, name)
    if shutil.which("strace"):
        cmd_prep = cmd() if callable(cmd) else cmd
        subprocess.run(["strace", "-f", "-c", "-w", "-o", out + ".syscalls.txt"] + cmd_prep,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cmd_prep = cmd() if callable(cmd) else cmd
    if perf_usable():
        data = os.path.join(DATA, name + ".perf.data")
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "499", "--call-graph", "dwarf,16384",
                        "-o", data, "--"] + cmd_prep, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--children", "--sort", "symbol",
                              "-g", "none", "--percent-limit", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        lines = [re.sub(r"(\s+-)+\s*$", "", l.rstrip()) for l in rep.splitlines()
                 if re.match(r"\s+[\d.]+%", l) and "0x0000" not in l]
        with open(out + ".perf.txt", "w") as f:
            f.write("# perf record -e cpu-clock --call-graph dwarf: %s\n" % " ".join(cmd_prep))
            f.write("# children%  self%  symbol (on-CPU samples of every thread)\n")
            f.write("\n".join(lines[:80]) + "\n")
        rm(data)
    elif shutil.which("valgrind"):
        small = small_cmd() if callable(small_cmd) else (small_cmd or cmd_prep)
        cg = os.path.join(DATA, name + ".callgrind")
        subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg] + small,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", cg], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
        with open(out + ".callgrind.txt", "w") as f:
            f.write("\n".join(ann.splitlines()[:80]) + "\n")


def bench_profile(s, ng, results):
    log("profiles of %d MiB (bench/results/profile/)" % PROFILE_MIB)
    src = os.path.join(DATA, "prof", "model.bin")
    os.makedirs(os.path.dirname(src), exist_ok=True)
    s.gen(src, PROFILE_MIB * MIB, 5)
    small = os.path.join(DATA, "prof", "small.bin")
    s.gen(small, 16 * MIB, 6)

    def fresh_publish(path):
        def make():
            tree = s.fresh_tree("tree-prof")
            return s.publish_cmd(tree, "prof", [path])
        return make
    profile_cmd("publish", fresh_publish(src), fresh_publish(small))
    run(s.publish_cmd(s.serve, "prof", [src]))
    cache = os.path.join(DATA, "cache-prof")

    def fresh_fetch():
        rm(cache)
        return s.fetch_cmd(ng.url(), cache, "prof")
    profile_cmd("fetch", fresh_fetch)
    run(fresh_fetch())
    loop = "for i in $(seq 50); do %s >/dev/null; done" % " ".join(shlex.quote(a) for a in s.fetch_cmd(ng.url(), cache, "prof"))
    profile_cmd("check-50-processes", ["sh", "-c", loop])
    if os.path.exists(INPROC):
        profile_cmd("check-inproc", [INPROC, "check", "2000", "--url", ng.url(), "--cache", cache, "--model", "prof",
                                     "--platform", PLATFORM, "--pubkey", s.pub])
        profile_cmd("open", [INPROC, "open", "2000", "--cache", cache, "--model", "prof"])
    many = sorted(os.path.join(DATA, "many", f) for f in os.listdir(os.path.join(DATA, "many")))[:100] \
        if os.path.isdir(os.path.join(DATA, "many")) else []
    if many:
        def many_publish():
            tree = s.fresh_tree("tree-prof")
            return s.publish_cmd(tree, "profmany", many)
        profile_cmd("publish-100-files", many_publish)
        run(s.publish_cmd(s.serve, "profmany", many))
        mcache = os.path.join(DATA, "cache-profmany")

        def many_fetch():
            rm(mcache)
            return s.fetch_cmd(ng.url(), mcache, "profmany")
        profile_cmd("fetch-100-files", many_fetch)
    rm(cache)
    results["profile"] = {"dir": os.path.relpath(PROFILE_DIR, ROOT), "size_mib": PROFILE_MIB}


# ---------------------------------------------------------------------------------------
# Report

def machine():
    info = {}
    try:
        lscpu = sh(["lscpu"])
        m = re.search(r"Model name:\s*(.+)", lscpu)
        info["cpu"] = m.group(1).strip() if m else "?"
        info["sha_ni"] = "sha_ni" in lscpu
    except Exception:
        info["cpu"] = "?"
    info["cores"] = os.cpu_count()
    info["mem_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30), 1)
    info["kernel"] = platform.release()
    for tool, cmd in [("openssl", ["openssl", "version"]), ("zstd", ["zstd", "-V"]),
                      ("curl", ["curl", "-V"]), ("git", ["git", "--version"])]:
        try:
            line = sh(cmd).splitlines()[0].strip()
            m = re.search(r"v?(\d+\.\d+[.\w-]*)", line)
            info[tool] = "%s %s" % (tool, m.group(1)) if m else line
        except Exception:
            pass
    return info


def fmt(x, nd=2):
    return "-" if x is None else ("%.*f" % (nd, x))


def markdown(res):
    L = []
    mc = res["machine"]
    L.append("Measured %s on %s (%d cores, %s GiB, SHA-NI %s), %s, %s, %s, %s. Command: `%s`."
             % (res["date"], mc["cpu"], mc["cores"], mc["mem_gib"], "yes" if mc.get("sha_ni") else "no",
                mc.get("openssl", ""), mc.get("zstd", ""), mc.get("curl", ""), mc.get("git", ""), res["command"]))
    L.append("")
    L.append("| benchmark | ours | baseline (same run) | ratio | target | met |")
    L.append("|---|---|---|---|---|---|")
    b = res["benchmarks"]
    if "publish" in b:
        p = b["publish"]
        L.append("| publish %d MiB: wall | %s s | %s s (`openssl dgst` + `zstd -3`) | %s | <= 1.2 | %s |"
                 % (p["size_mib"], fmt(p["ours_s"]), fmt(p["baseline_s"]), fmt(p["ratio"]),
                    "yes" if p["ratio"] and p["ratio"] <= 1.2 else "**no**"))
        L.append("| publish %d MiB: vs `zstd -3 -T0` | %s s | %s s | %s | (info) | |"
                 % (p["size_mib"], fmt(p["ours_s"]), fmt(p["baseline_t0_s"]), fmt(p["ratio_t0"])))
        if "git_add_s" in p:
            L.append("| publish %d MiB: vs `git add` (reference) | %s s, %s MiB RSS | %s s, %s MiB RSS | %s | faster | %s |"
                     % (p["size_mib"], fmt(p["ours_s"]), fmt(p["ours_rss_mib"], 0), fmt(p["git_add_s"]),
                        fmt(p["git_add_rss_mib"], 0), fmt(ratio(p["ours_s"], p["git_add_s"])),
                        "yes" if p["ours_s"] < p["git_add_s"] else "**no**"))
        d = p.get("second_pass_parts") or {}
        if d:
            L.append("| publish: parts of the git-object pass over the %d MB .zst | | `git hash-object` (sha1dc) %s s; `openssl dgst -sha1` %s s; copy + sync %s s | | (diagnostic) | |"
                     % (d["zst_bytes"] // 1000000, fmt(d["git_hash_object_s"]), fmt(d["openssl_sha1_s"]), fmt(d["copy_s"])))
        L.append("| publish %d MiB: peak RSS | %s MiB | %s MiB | | < 64 MiB | %s |"
                 % (p["size_mib"], fmt(p["ours_rss_mib"], 1), fmt(p["baseline_rss_mib"], 1),
                    "yes" if p["ours_rss_mib"] < 64 else "**no**"))
    if "fetch" in b:
        f = b["fetch"]
        L.append("| fetch %d MiB into an empty cache: wall | %s s | %s s (`curl \\| zstd -d \\| tee \\| openssl dgst`) | %s | <= 1.1 | %s |"
                 % (f["size_mib"], fmt(f["ours_s"]), fmt(f["baseline_s"]), fmt(f["ratio"]),
                    "yes" if f["ratio"] and f["ratio"] <= 1.1 else "**no**"))
        L.append("| fetch %d MiB: vs baseline that also keeps the wire bytes (`curl \\| tee X.part \\| zstd -d ...`) | %s s | %s s | %s | (diagnostic) | |"
                 % (f["size_mib"], fmt(f["ours_s"]), fmt(f.get("baseline_keeping_part_s")), fmt(ratio(f["ours_s"], f.get("baseline_keeping_part_s")))))
        L.append("| fetch %d MiB: peak RSS | %s MiB | %s MiB | | < 32 MiB | %s |"
                 % (f["size_mib"], fmt(f["ours_rss_mib"], 1), fmt(f["baseline_rss_mib"], 1),
                    "yes" if f["ours_rss_mib"] < 32 else "**no**"))
    if "check" in b:
        c = b["check"]
        L.append("| 304 check, new process each: median | %s ms (%s/s) | %s ms (%s/s, `curl -H If-None-Match`) | %s | (info) | |"
                 % (fmt(c["process_ours_median_ms"]), fmt(c["process_ours_per_s"], 0), fmt(c["process_curl_median_ms"]),
                    fmt(c["process_curl_per_s"], 0), fmt(c["process_ratio"])))
        if c.get("inproc"):
            ip = c["inproc"]
            L.append("| 304 check, one Fetcher reused | %s/s (median %s us, p99 %s us) | %s/s (`wrk -t1 -c1`) | %s | (info) | |"
                     % (fmt(ip["per_s"], 0), fmt(ip["median_us"], 0), fmt(ip["p99_us"], 0),
                        fmt(c["wrk_c1_per_s"], 0), fmt(c.get("inproc_ratio"))))
        o, k = c["ours_wire_per_check"], c["curl_wire_per_check"]
        L.append("| 304 check: bytes on the wire (server sent / received) | %d / %d B, %s req | %d / %d B (curl) | %s | (info) | |"
                 % (o["bytes_sent"], o["bytes_received"], fmt(o["requests"], 1), k["bytes_sent"], k["bytes_received"],
                    fmt(ratio(o["bytes_sent"] + o["bytes_received"], k["bytes_sent"] + k["bytes_received"]))))
    if "open" in b:
        o = b["open"]
        L.append("| open() of the cached model, %d calls | median %s us, p99 %s us | | | < 1000 us | %s |"
                 % (o["count"], fmt(o["median_us"], 1), fmt(o["p99_us"], 1), "yes" if o["met"] else "**no**"))
    if "wire" in b:
        w = b["wire"]
        fi, lu, no = w["first_install"], w["labels_update"], w["noop_check"]
        L.append("| wire: first install (5 MB model + labels) | %d B in %d requests | files %d B, stored %d B | %s (vs stored) | ~1 | |"
                 % (fi["bytes_sent"], fi["requests"], fi["file_bytes"], fi["stored_bytes"], fmt(ratio(fi["bytes_sent"], fi["stored_bytes"]), 3)))
        L.append("| wire: update changing only labels | %d B in %d requests | changed file stored %d B + manifest %d B | %s | ~1 | |"
                 % (lu["bytes_sent"], lu["requests"], lu["changed_stored_bytes"], w["manifest_bytes"],
                    fmt(ratio(lu["bytes_sent"], lu["changed_stored_bytes"] + w["manifest_bytes"]), 2)))
        L.append("| wire: no-op check | %d B in %d requests | | | one 304 | |" % (no["bytes_sent"], no["requests"]))
    if "scaling" in b:
        L.append("")
        L.append("Scaling (one run each; the largest row is the median of the throughput benchmarks):")
        L.append("")
        L.append("| case | publish s | publish MiB/s | publish RSS MiB | fetch s | fetch MiB/s | fetch RSS MiB |")
        L.append("|---|---|---|---|---|---|---|")
        rows = b["scaling"]["rows"]
        for r in rows:
            L.append("| %s | %s | %s | %s | %s | %s | %s |" % (r["case"], fmt(r["publish_s"], 3), fmt(r["publish_mib_s"], 0),
                     fmt(r["publish_rss_mib"], 1), fmt(r["fetch_s"], 3), fmt(r["fetch_mib_s"], 0), fmt(r["fetch_rss_mib"], 1)))
        single = sorted((r for r in rows if r["files"] == 1), key=lambda r: r["bytes"])
        if len(single) >= 2:
            a, z = single[-2], single[-1]
            L.append("")
            L.append("Time per MiB at %s over time per MiB at %s (1.0 = linear): publish %s, fetch %s. "
                     "Peak RSS over all rows: publish %s-%s MiB, fetch %s-%s MiB. Many small files: %s ms per file "
                     "to publish, %s ms per file to fetch."
                     % (z["case"], a["case"], fmt((z["publish_s"] / z["bytes"]) / (a["publish_s"] / a["bytes"])),
                        fmt((z["fetch_s"] / z["bytes"]) / (a["fetch_s"] / a["bytes"])),
                        fmt(min(r["publish_rss_mib"] for r in rows), 1), fmt(max(r["publish_rss_mib"] for r in rows), 1),
                        fmt(min(r["fetch_rss_mib"] for r in rows), 1), fmt(max(r["fetch_rss_mib"] for r in rows), 1),
                        " / ".join(fmt(1000 * r["publish_s"] / r["files"], 1) for r in rows if r["files"] > 1) or "-",
                        " / ".join(fmt(1000 * r["fetch_s"] / r["files"], 1) for r in rows if r["files"] > 1) or "-"))
    return "\n".join(L) + "\n"


def main():
    for b in (MODELCAST, FETCH, GEN):
        if not os.path.exists(b):
            sys.exit("error: %s is missing: build first (scripts/bench does)" % b)
    cmdline = "BENCH_BIG_MIB=%d BENCH_RUNS=%d scripts/bench" % (BIG_MIB, RUNS)
    if ONLY:
        cmdline = "BENCH_ONLY=%s " % ",".join(sorted(ONLY)) + cmdline
    results = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "command": cmdline, "machine": machine(),
               "params": {"big_mib": BIG_MIB, "runs": RUNS, "checks": CHECKS, "inproc_checks": INPROC_CHECKS,
                          "opens": OPENS, "small_files": SMALL_FILES, "small_file_kib": SMALL_FILE_KIB,
                          "scaling_mib": SCALING_MIB},
               "benchmarks": {}}
    b = results["benchmarks"]
    s = Setup()
    ng = None
    rm(DATA)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        s.make()
        # fetch, check, open, scaling and wire need a served tree with the big model
        if wanted("publish") or not os.path.exists(s.serve):
            bench_publish(s, b) if wanted("publish") else None
        if not os.path.exists(s.serve):
            shutil.copytree(s.tree0, s.serve, symlinks=True)
            run(s.publish_cmd(s.serve, "big", [s.big]))
        ng = Nginx(s.serve, DATA)
        ng.start()
        save(results)
        if wanted("fetch") or wanted("check") or wanted("open"):
            bench_fetch(s, ng, b)
            save(results)
        if wanted("check"):
            bench_check(s, ng, b)
            save(results)
        if wanted("open") and os.path.exists(INPROC):
            bench_open(s, b)
            save(results)
        if wanted("scaling"):
            bench_scaling(s, ng, b)
            save(results)
        if wanted("wire"):
            bench_wire(s, ng, b)
            save(results)
        if PROFILE:
            bench_profile(s, ng, b)
    finally:
        if ng:
            ng.stop()
        if not os.environ.get("BENCH_KEEP"):
            rm(DATA)
        sys.stdout.write(save(results))
        log("results: %s" % OUT)


def save(results):
    """Writes the JSON and the table; called after every benchmark, so an interrupted run
    still leaves what it measured."""
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    try:
        md = markdown(results)
    except Exception as e:  # a partial run still leaves its JSON
        md = "(no table: %r)\n" % (e,)
    with open(os.path.splitext(OUT)[0] + ".md", "w") as f:
        f.write(md)
    return md


if __name__ == "__main__":
    main()
