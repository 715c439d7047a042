#!/usr/bin/python3
"""Cold pull + unpack of Debian bookworm with systemd from a local registry:
racker against `skopeo copy` followed by `umoci unpack` (the original Python
Racker's pull path), alternating, on a tmpfs. Also the re-pull of a present
image and racker's peak memory.

    bench_pull.py RACKER_BIN [--runs N]

Targets (issue 2): at least 3x faster than skopeo+umoci, a re-pull under
50 ms, peak RSS under 64 MiB. The figures are printed, not asserted: this is
a benchmark, not a test.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures"))
import testbed  # noqa: E402


def run(cmd, **kw):
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, **kw)


def timed(cmd):
    """Wall time of one run of cmd."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, err = p.communicate()
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {err.decode(errors='replace')}")
    return dt


def peak_rss_kib(cmd):
    """Peak RSS of one command, through GNU time (the child's maxrss)."""
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    return int(out.stderr.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("racker")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--image", default="debian-systemd")
    args = ap.parse_args()
    racker = os.path.abspath(args.racker)

    tb = testbed.Testbed()
    tb.build(args.image)
    layout = tb.path(args.image)

    work = tempfile.mkdtemp(prefix="racker-bench-", dir="/tmp")
    run(["mount", "-t", "tmpfs", "-o", "size=6g", "tmpfs", work])
    reg = None
    try:
        reg = testbed.Registry(root=os.path.join(work, "registry")).start()
        ref = f"{reg.host}/bench:latest"
        testbed.push(layout, "latest", reg.host, "bench:latest")
        store = os.path.join(work, "store")
        oci = os.path.join(work, "oci")
        bundle = os.path.join(work, "bundle")

        def racker_cold():
            shutil.rmtree(store, ignore_errors=True)
            return timed([racker, "--root", store, "pull", "-q", ref])

        def skopeo_umoci():
            shutil.rmtree(oci, ignore_errors=True)
            shutil.rmtree(bundle, ignore_errors=True)
            t = timed(["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false",
                       f"docker://{ref}", f"oci:{oci}:img"])
            return t + timed(["umoci", "unpack", "--image", f"{oci}:img", bundle])

        # Warm the page cache and the registry once, then alternate.
        racker_cold()
        skopeo_umoci()
        ours, theirs = [], []
        for i in range(args.runs):
            order = [(ours, racker_cold), (theirs, skopeo_umoci)]
            if i % 2:
                order.reverse()
            for sink, fn in order:
                sink.append(fn())
        mo, mt = statistics.median(ours), statistics.median(theirs)

        # Re-pull of a present image: only the manifest is checked.
        racker_cold()
        repull = []
        for _ in range(20):
            repull.append(timed([racker, "--root", store, "pull", "-q", ref]))
        mr = statistics.median(repull)

        shutil.rmtree(store, ignore_errors=True)
        rss = peak_rss_kib([racker, "--root", store, "pull", "-q", ref])
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(
            os.path.join(work, "registry")) for f in fs)

        print(f"pull benchmark: {args.image} ({size / 1e6:.0f} MB in the registry), "
              f"{args.runs} alternating runs on tmpfs")
        print(f"  racker pull (cold)         median {mo * 1000:7.0f} ms   "
              f"[{', '.join(f'{x * 1000:.0f}' for x in ours)}]")
        print(f"  skopeo copy + umoci unpack median {mt * 1000:7.0f} ms   "
              f"[{', '.join(f'{x * 1000:.0f}' for x in theirs)}]")
        print(f"  ratio                      {mt / mo:7.2f}x faster   (target >= 3x)")
        print(f"  racker re-pull (present)   median {mr * 1000:7.1f} ms   (target < 50 ms)")
        print(f"  racker peak RSS (cold)     {rss / 1024:7.1f} MiB     (target < 64 MiB)")
    finally:
        if reg:
            reg.stop()
        subprocess.run(["umount", "-R", work])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
