"""`%k8s run` until Available against `kubectl create deployment` + `kubectl rollout status`.

    ~/.cache/kubernel/venv/bin/python tests/magics/bench_run_available.py [ROUNDS]

Times, ROUNDS times each (default 5; median, min, max), in the same run and alternating:

- kubernel: executing `%k8s run benchN --image nginx --replicas 1`, (a) until its live display
  first shows the Deployment Available (the time stamp of that update_display_data), and (b) until
  the cell's reply, which comes after a further second of watching that the pods stay up;
- kubectl: `kubectl create deployment NAME --image nginx` then `kubectl rollout status
  deployment/NAME` as processes, until the second exits.

Every Deployment is deleted (and its pods waited out) before the next round. Everything lives in
a namespace kubernel-bench-<random>, deleted at the end. Not a pytest test.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "kernel"))
from bench_setup import start_kernel  # noqa: E402
from kernel_harness import describe  # noqa: E402


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    k, env = start_kernel()

    def kubectl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=timeout, check=True)

    ns = f"kubernel-bench-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", ns)

    def gone(name: str) -> None:
        """Deletes a Deployment and waits until its pods are gone, so rounds do not overlap."""
        kubectl("delete", "deployment", name, "-n", ns, "--wait=true")
        kubectl("wait", "--for=delete", "pod", "-l", f"app={name}", "-n", ns, "--timeout=120s", timeout=130)

    def kernel_round(name: str) -> tuple[float, float]:
        t = time.perf_counter()
        sent = datetime.now(timezone.utc)
        reply, msgs = k.execute(f"%k8s run {name} --image nginx --replicas 1", timeout=180)
        took = time.perf_counter() - t
        shown = [m for m in msgs if m["msg_type"] in ("display_data", "update_display_data")
                 and "available in" in m["content"]["data"].get("text/plain", "")]
        assert shown, f"the display never showed Available: {describe(reply, msgs)}"
        stamp = shown[0]["header"]["date"]
        stamp = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        displayed = (stamp - sent).total_seconds()
        assert reply["content"]["status"] == "ok", describe(reply, msgs)
        updates = [m for m in msgs if m["msg_type"] == "update_display_data"]
        last = (updates or [m for m in msgs if m["msg_type"] == "display_data"] or [{"content": {"data": {"text/plain": ""}}}])[-1]
        text = last["content"]["data"].get("text/plain", "")
        assert "available" in text.lower(), f"the cell ended without showing Available: {describe(reply, msgs)}"
        available = kubectl("get", "deployment", name, "-n", ns, "-o", "jsonpath={.status.availableReplicas}").stdout
        assert available == "1", f"{name}: availableReplicas={available!r} when the cell ended"
        return displayed, took

    def kubectl_round(name: str) -> float:
        t = time.perf_counter()
        kubectl("create", "deployment", name, "--image", "nginx", "-n", ns)
        kubectl("rollout", "status", f"deployment/{name}", "-n", ns, "--timeout=180s", timeout=190)
        return time.perf_counter() - t

    try:
        reply, _ = k.execute(f"%k8s use namespace {ns}", timeout=30)
        assert reply["content"]["status"] == "ok", reply["content"]
        # Warm-up, not counted: the kernel's connection and discovery, the image on the node.
        kernel_round("benchwarm")
        gone("benchwarm")
        kubectl_round("kwarm")
        gone("kwarm")
        shown, cell, proc = [], [], []
        for i in range(rounds):
            # Alternate which goes first, so neither always follows the other's deletion.
            order = [("kernel", kernel_round, f"bench{i}"), ("kubectl", kubectl_round, f"kbench{i}")]
            for who, fn, name in (order if i % 2 == 0 else order[::-1]):
                took = fn(name)
                if who == "kernel":
                    shown.append(took[0])
                    cell.append(took[1])
                else:
                    proc.append(took)
                gone(name)
        print(f"namespace {ns}, {rounds} rounds, nginx, 1 replica, deleted between runs")
        for label, xs in (
            ("%k8s run (display shows Available)", shown),
            ("%k8s run (cell done, after 1 s check)", cell),
            ("kubectl create + rollout status", proc),
        ):
            print(f"{label:38} median {statistics.median(xs)*1000:7.0f} ms   min {min(xs)*1000:7.0f}   max {max(xs)*1000:7.0f}   ({len(xs)} runs)")
        print(f"kubectl / kubernel display (medians): {statistics.median(proc) / statistics.median(shown):.2f}x; "
              f"kubectl / kubernel cell: {statistics.median(proc) / statistics.median(cell):.2f}x")
    finally:
        subprocess.run(["kubectl", "delete", "namespace", ns, "--wait=false"], env=env, capture_output=True)
        k.close()


if __name__ == "__main__":
    main()
