#!/usr/bin/env python3
"""Benchmark: kubernel side by side with ipykernel, in the same run.

Run it with the project's venv (install/python-env prints its path):

    "$(install/python-env)/bin/python" tests/bench/kernel_bench.py

For each kernel it measures, through jupyter_client:
  ready        launch -> first kernel_info_reply (median over the launches)
  first cell   launch -> execute_reply of the first real cell, `1 + 1`, sent
               as soon as the kernel has answered kernel_info (median over
               the launches)
  first let    the same with a first cell that binds a variable
               (`let v = 1; v`; `v = 1; v` for ipykernel)
  no-op cell   round trip of an empty cell, send -> execute_reply, one at a
               time (median of 200)
  trivial cell `1 + 1` after warm-up, send -> execute_reply (median of 20)

kubernel is measured twice: handing its session to a warm spare kernel (the
default; the benchmark waits for the spare to be ready before each launch, as
it is when a student opens a notebook) and with spares off (KUBERNEL_SPARE=0:
every kernel starts its own evaluator). With --toggle-cluster the first-cell
rows are measured again after switching the local cluster (install/cluster
down or up), so that both states are printed in one run; it is switched back
at the end.

"launch" is the call of KernelManager.start_kernel(), the same for all.
This is a benchmark, not a test: it asserts nothing, it prints a table.
The kubernel binary is the one the tests use (tests/kernel/kernel_harness.py:
built_kernel); ipykernel is the one installed
in the venv this script runs with.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "kernel"))
from kernel_harness import built_kernel  # noqa: E402


def setup_kernelspecs(tmp: Path, kubernel_bin: Path) -> dict[str, str | None]:
    """Install both kernelspecs under tmp; return {kernel: error or None}."""
    prefix = tmp / "prefix"
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(tmp / "runtime")
    os.environ["JUPYTER_DATA_DIR"] = str(tmp / "data")
    os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
    os.environ["KUBERNEL_HISTORY"] = str(tmp / "history")
    errors: dict[str, str | None] = {}

    ipk = prefix / "share" / "jupyter" / "kernels" / "bench-ipykernel"
    ipk.mkdir(parents=True)
    (ipk / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "ipykernel (bench)",
        "language": "python",
    }))
    errors["ipykernel"] = None

    if not kubernel_bin.is_file():
        errors["kubernel"] = f"no binary at {kubernel_bin}"
    else:
        p = subprocess.run([str(kubernel_bin), "install", "--prefix", str(prefix)],
                           capture_output=True, text=True, timeout=60)
        spec = prefix / "share" / "jupyter" / "kernels" / "kubernel" / "kernel.json"
        if p.returncode != 0 or not spec.is_file():
            errors["kubernel"] = f"`kubernel install --prefix` failed: {p.stderr.strip()[:300]}"
        else:
            errors["kubernel"] = None
    return errors


SPEC = {"kubernel": "kubernel", "kubernel-cold": "kubernel", "ipykernel": "bench-ipykernel"}
TRIVIAL = {kernel: "1 + 1" for kernel in SPEC}
FIRST_LET = {kernel: "v = 1; v" if kernel == "ipykernel" else "let v = 1; v" for kernel in SPEC}
WARM_SPARE = 300.0


def kernel_env(kernel: str, spares: Path) -> dict[str, str]:
    env = dict(os.environ, KUBERNEL_SPARE_DIR=str(spares))
    if kernel == "kubernel-cold":
        env["KUBERNEL_SPARE"] = "0"
    return env


def wait_spare(kubernel_bin: Path, spares: Path) -> None:
    """Starts the spare if none is starting, and waits until it takes sessions."""
    def waiting() -> bool:
        return any(spares.glob("spare-*.sock"))

    if not waiting():
        subprocess.run([str(kubernel_bin), "spare"], env=kernel_env("kubernel", spares), timeout=30)
    deadline = time.perf_counter() + WARM_SPARE
    while not waiting():
        if time.perf_counter() > deadline:
            raise Timeout(f"no spare ready within {WARM_SPARE:.0f} s")
        time.sleep(0.05)
    time.sleep(1.0)  # quiet again after its warm-up


class Timeout(Exception):
    pass


def wait_for(channel, what: str, timeout: float, matches) -> dict:
    """The first message on `channel` for which `matches` is true, within `timeout`."""
    deadline = time.perf_counter() + timeout
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise Timeout(f"no {what} within {timeout:.0f} s")
        try:
            msg = channel.get_msg(timeout=min(left, 1.0))
        except Empty:
            continue
        if matches(msg):
            return msg


def wait_reply(kc, msg_id: str, timeout: float) -> dict:
    return wait_for(kc.shell_channel, "reply", timeout,
                    lambda m: m["parent_header"].get("msg_id") == msg_id)


def wait_idle(kc, msg_id: str, timeout: float) -> None:
    wait_for(kc.iopub_channel, "idle", timeout,
             lambda m: m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status"
             and m["content"]["execution_state"] == "idle")


def run_cell(kc, code: str, timeout: float) -> tuple[float, dict]:
    """Send a cell; time until its execute_reply; then wait for its idle."""
    t0 = time.perf_counter()
    msg_id = kc.execute(code)
    reply = wait_reply(kc, msg_id, timeout)
    t = time.perf_counter() - t0
    wait_idle(kc, msg_id, timeout)
    return t, reply


def launch(kernel: str, timeout: float, log, env: dict[str, str]):
    """Start a kernel; return (km, kc, launch time, seconds to first kernel_info_reply)."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name=SPEC[kernel])
    t0 = time.perf_counter()
    km.start_kernel(stdout=log, stderr=log, env=env)
    kc = km.client()
    kc.start_channels()
    # One kernel_info straight away (zmq delivers it once the kernel has
    # bound its socket); another every second in case it was lost.
    sent = {kc.kernel_info()}
    last = time.perf_counter()
    while True:
        now = time.perf_counter()
        if now - t0 > timeout:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
            raise Timeout(f"{kernel} did not answer kernel_info within {timeout:.0f} s")
        try:
            msg = kc.shell_channel.get_msg(timeout=0.05)
        except Empty:
            if now - last > 1.0:
                sent.add(kc.kernel_info())
                last = now
            continue
        if msg["msg_type"] == "kernel_info_reply" and msg["parent_header"].get("msg_id") in sent:
            return km, kc, t0, time.perf_counter() - t0


def stop(km, kc) -> None:
    try:
        kc.stop_channels()
    finally:
        km.shutdown_kernel(now=False)


def bench(kernel: str, launches: int, noops: int, trivials: int, timeout: float,
          log_path: Path, kubernel_bin: Path, spares: Path, only_first: bool = False) -> dict:
    res: dict[str, list[float]] = {"ready": [], "first": [], "first_let": [], "noop": [], "trivial": []}
    notes: list[str] = []
    env = kernel_env(kernel, spares)
    with open(log_path, "ab") as log:
        for i in range(2 * launches):
            first_key = "first" if i % 2 == 0 else "first_let"
            code = TRIVIAL[kernel] if i % 2 == 0 else FIRST_LET[kernel]
            if kernel == "kubernel":
                wait_spare(kubernel_bin, spares)
            else:
                time.sleep(1.0)  # the last kernel's exit is over
            km, kc, t_launch, ready = launch(kernel, timeout, log, env)
            res["ready"].append(ready)
            first = None
            try:
                # the first real cell, sent as soon as kernel_info was answered
                msg_id = kc.execute(code)
                reply = wait_reply(kc, msg_id, timeout)
                t_first = time.perf_counter() - t_launch
                # iopub may have been subscribed only after this cell's
                # status went out (zmq's slow joiner): don't wait long for it.
                try:
                    wait_idle(kc, msg_id, 2.0)
                except Timeout:
                    pass
                if reply["content"]["status"] == "ok":
                    first = t_first
                    res[first_key].append(first)
                else:
                    notes.append(f"first cell failed: {reply['content'].get('ename')}: "
                                 f"{str(reply['content'].get('evalue'))[:200]}")
                if i == 2 * launches - 1 and not only_first:
                    for _ in range(5):  # warm-up
                        run_cell(kc, "", timeout)
                    for _ in range(noops):
                        res["noop"].append(run_cell(kc, "", timeout)[0])
                    for _ in range(3):  # warm-up
                        run_cell(kc, TRIVIAL[kernel], timeout)
                    for _ in range(trivials):
                        t, r = run_cell(kc, TRIVIAL[kernel], timeout)
                        if r["content"]["status"] != "ok":
                            notes.append("trivial cell failed")
                            break
                        res["trivial"].append(t)
            finally:
                stop(km, kc)
            print(f"  {kernel} launch {i + 1}/{2 * launches}: ready {ready:.3f} s, {first_key} "
                  f"{'%.3f s' % first if first is not None else 'failed'}", file=sys.stderr)
    return {"res": res, "notes": notes}


HEADING = {"kubernel": "kubernel (spare)", "kubernel-cold": "kubernel (no spare)", "ipykernel": "ipykernel"}


def cluster_state(repo: Path) -> str:
    """"up" when the local cluster answers, else "down"."""
    p = subprocess.run([str(repo / "install" / "cluster"), "status"], capture_output=True, text=True, timeout=60)
    return "up" if p.returncode == 0 else "down"


def switch_cluster(repo: Path, state: str) -> None:
    print(f"  switching the local cluster {state}", file=sys.stderr)
    subprocess.run([str(repo / "install" / "cluster"), state], capture_output=True, timeout=1800, check=True)


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def fmt(values: list[float]) -> str:
    if not values:
        return "n/a"
    m = statistics.median(values)
    return f"{m * 1000:.1f} ms" if m < 1 else f"{m:.2f} s"


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    f = (lambda v: f"{v * 1000:.1f}") if hi < 1 else (lambda v: f"{v:.2f}")
    return f"[{f(lo)}..{f(hi)}]"


def main() -> int:
    try:
        import ipykernel  # noqa: F401
        import jupyter_client  # noqa: F401
    except ImportError as e:
        print(f"{e}: run this with the project's venv, "
              '"$(install/python-env)/bin/python" tests/bench/kernel_bench.py', file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--launches", type=int, default=5)
    ap.add_argument("--noop", type=int, default=200)
    ap.add_argument("--trivial", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=180.0,
                    help="seconds to wait for any one reply")
    ap.add_argument("--only", choices=list(SPEC), action="append",
                    help="bench only this kernel (repeatable)")
    ap.add_argument("--toggle-cluster", action="store_true",
                    help="measure the first cells again with the local cluster switched")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[2]

    kubernel_bin = Path(built_kernel())
    tmp = Path(tempfile.mkdtemp(prefix="kubernel-bench-"))
    try:
        errors = setup_kernelspecs(tmp, kubernel_bin)
        errors["kubernel-cold"] = errors.get("kubernel")
        kernels = args.only or list(SPEC)
        spares = tmp / "spares"

        def run_all(only_first: bool) -> dict[str, dict]:
            results: dict[str, dict] = {}
            for kernel in kernels:
                if errors.get(kernel):
                    results[kernel] = {"error": errors[kernel]}
                    continue
                log_path = tmp / f"{kernel}.log"
                try:
                    results[kernel] = bench(kernel, args.launches, args.noop, args.trivial,
                                            args.timeout, log_path, kubernel_bin, spares, only_first)
                except Exception as e:  # a benchmark reports, it does not stop
                    results[kernel] = {"error": f"{type(e).__name__}: {e}\n"
                                                f"last lines of its log:\n{log_tail(log_path)}"}
            return results

        cluster = cluster_state(repo)
        results = run_all(False)
        toggled: dict[str, dict] = {}
        other = None
        if args.toggle_cluster:
            other = "down" if cluster == "up" else "up"
            switch_cluster(repo, other)
            try:
                toggled = run_all(True)
            finally:
                switch_cluster(repo, cluster)
        subprocess.run([str(kubernel_bin), "spare", "--stop"], env=kernel_env("kubernel", spares),
                       capture_output=True, timeout=30)

        import ipykernel
        import jupyter_client
        rows = [
            ("ready", f"launch -> kernel_info_reply (median of {2 * args.launches})", "< 0.3 s"),
            ("first", f"first cell `1 + 1`, launch -> reply, cluster {cluster} (median of {args.launches})", "< 2 s"),
            ("first_let", f"first cell `let v = 1; v`, cluster {cluster} (median of {args.launches})", "< 2 s"),
            ("noop", f"no-op (empty) cell round trip (median of {args.noop})", "<= 1/3 of ipykernel"),
            ("trivial", f"trivial cell `1 + 1` after warm-up (median of {args.trivial})", "< 0.3 s"),
        ]
        cols = kernels
        w0 = max(len(r[1]) for r in rows) + 2
        wc = 26
        print()
        print(f"kernel benchmark, {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} CPUs, "
              f"jupyter_client {jupyter_client.__version__}, ipykernel {ipykernel.__version__}")
        print("median [min..max]; times in ms below 1 s")
        print()
        print("".ljust(w0) + "".join(HEADING[c].ljust(wc) for c in cols) + "kubernel target")
        table = [(key, label, target, results) for key, label, target in rows]
        if toggled:
            for key in ("first", "first_let"):
                what = "`1 + 1`" if key == "first" else "`let v = 1; v`"
                table.append((key, f"first cell {what}, cluster {other} (median of {args.launches})", "< 2 s", toggled))
        for key, label, target, source in table:
            line = label.ljust(w0)
            for c in cols:
                r = source[c]
                cell = "error" if "error" in r else f"{fmt(r['res'][key])} {spread(r['res'][key])}"
                line += cell.ljust(wc)
            print(line + target)
        if "kubernel" in results and "ipykernel" in results:
            a, b = results["kubernel"], results["ipykernel"]
            if "error" not in a and "error" not in b and a["res"]["noop"] and b["res"]["noop"]:
                ratio = statistics.median(a["res"]["noop"]) / statistics.median(b["res"]["noop"])
                print(f"\nno-op round trip, kubernel / ipykernel: {ratio:.2f}")
        for c in cols:
            r = results[c]
            r.setdefault("notes", []).extend(toggled.get(c, {}).get("notes", []))
            if "error" in r:
                print(f"\n{c}: {r['error']}")
            for n in r.get("notes", []):
                print(f"{c}: {n}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
