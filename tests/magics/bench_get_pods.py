"""`%k8s get pods` as a cell round trip against `kubectl get pods` as a process, on 20 pods.

    ~/.cache/kubernel/venv/bin/python tests/magics/bench_get_pods.py [ROUNDS]

Makes a namespace kubernel-bench-<random> with a Deployment of 20 busybox pods, waits for them,
times both ROUNDS times (median, min, max), then deletes the namespace. Not a pytest test.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "kernel"))
from bench_setup import start_kernel  # noqa: E402


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    k, env = start_kernel()
    ns = f"kubernel-bench-{uuid.uuid4().hex[:6]}"
    try:
        manifest = f"""%%k8s apply
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sleepers
  namespace: {ns}
spec:
  replicas: 20
  selector: {{matchLabels: {{app: sleepers}}}}
  template:
    metadata: {{labels: {{app: sleepers}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: sleep
        image: busybox
        command: ["sleep", "3600"]
        resources: {{requests: {{cpu: 1m, memory: 4Mi}}}}
"""
        reply, _ = k.execute(manifest, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        k.execute(f"%k8s use namespace {ns}", timeout=30)
        deadline = time.monotonic() + 180
        while True:
            out = subprocess.run(["kubectl", "get", "pods", "-n", ns, "--no-headers"], env=env, capture_output=True, text=True).stdout
            if out.count("Running") == 20 or time.monotonic() > deadline:
                break
            time.sleep(2)
        print(f"pods running: {out.count('Running')} of 20")
        cell, proc = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            reply, msgs = k.execute("%k8s get pods", timeout=30)
            cell.append(time.perf_counter() - t)
            assert reply["content"]["status"] == "ok"
            t = time.perf_counter()
            subprocess.run(["kubectl", "get", "pods", "-n", ns], env=env, capture_output=True, check=True)
            proc.append(time.perf_counter() - t)
        rows = sum(1 for m in msgs if m["msg_type"] == "execute_result")
        for name, xs in (("%k8s get pods (cell round trip)", cell), ("kubectl get pods (process)", proc)):
            print(f"{name:34} median {statistics.median(xs)*1000:7.1f} ms   min {min(xs)*1000:7.1f}   max {max(xs)*1000:7.1f}   ({len(xs)} runs)")
        print(f"speed-up (medians): {statistics.median(proc) / statistics.median(cell):.1f}x; result bundles per cell: {rows}")
    finally:
        subprocess.run(["kubectl", "delete", "namespace", ns, "--wait=false"], env=env, capture_output=True)
        k.close()


if __name__ == "__main__":
    main()
