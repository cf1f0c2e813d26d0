"""The patterns of notebook 06, measured against the local cluster in one run:

    "$(install/python-env)/bin/python" tests/magics/bench_patterns.py [ROUNDS]

- queue throughput: N tiny items (an integer square) through the Redis queue
  (`kubernel::queue`, `for_each`) by a Job of 1, 2 and 4 workers, from the first worker's
  first pop to the last worker's end (the pods share the node's clock), with each worker's time
  per item in microseconds; beside it the same items through `kubernel::pmap` over 2 connected
  pods, timed inside the master around the call;
- autoscaling reaction: a compiled CPU-bound service with an HPA on CPU (50%, 1 to 3 replicas)
  and busybox load; the time from the load's pod running to a second replica Ready, and to the
  desired 3 replicas Ready;
- rolling update under traffic: a compiled web service of 2 replicas with a readiness probe and
  a graceful shutdown (maxSurge 1, maxUnavailable 0), 100 requests a second from a Rust cell
  (`kubernel::load`) through `%k8s proxy` while a new version is deployed: the update's
  duration (the deploy cell, which waits for the rollout) and the failed requests; beside it one
  careless update (no readiness probe, exit at once on SIGTERM).

Prints median, min and max.
Everything lives in a namespace kubernel-bench-<random>, deleted at the end. Not a pytest test.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This folder first: the test modules imported below want its conftest, not the kernel suite's.
sys.path.insert(0, str(HERE.parent / "kernel"))
sys.path.insert(0, str(HERE))
import conftest  # noqa: E402,F401 (this folder's, before the kernel suite's is found)
from test_k8s_autoscale import BURN  # noqa: E402
from test_k8s_rollout_traffic import CARELESS, CAREFUL, SERVE  # noqa: E402
from bench_setup import start_kernel  # noqa: E402
from kernel_harness import describe  # noqa: E402

N = 3000
PORT = 16380
PROXY_PORT = 18011


def stats(values: list[float], unit: str, digits: int = 0) -> str:
    return f"{statistics.median(values):.{digits}f} {unit} [{min(values):.{digits}f}..{max(values):.{digits}f}]"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    k, env = start_kernel()

    def kubectl(*args: str) -> str:
        return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=120, check=True).stdout

    def cell(code: str, timeout: float = 600) -> str:
        reply, msgs = k.execute(code, timeout=timeout)
        assert reply["content"]["status"] == "ok", describe(reply, msgs)
        return "".join(m["content"].get("text", "") for m in msgs if m["msg_type"] == "stream")

    def value(var: str):
        return json.loads(cell(f'println!("{{}}", serde_json::to_string(&{var}).unwrap());').strip().splitlines()[-1])

    ns = f"kubernel-bench-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", ns)
    rates: dict[int, list[float]] = {1: [], 2: [], 4: []}
    per_item: dict[int, list[float]] = {1: [], 2: [], 4: []}
    pmap_rates: list[float] = []
    second, desired = [], []
    update_secs: list[float] = []
    update_failed: list[int] = []
    update_requests: list[int] = []
    try:
        cell(f"%k8s use namespace {ns}")
        cell("%k8s run redis --image redis --port 6379", 180)
        cell("%k8s expose deploy/redis --port 6379")
        cell(f"%k8s port-forward svc/redis {PORT}:6379")
        cell(":dep kubernel", 300)
        cell(f'let q = kubernel::queue::<u64>("redis://127.0.0.1:{PORT}/bench").unwrap();')
        for r in range(rounds):
            for workers in (1, 2, 4):
                cell(f"q.clear().unwrap();\nq.push_all(0..{N}u64).unwrap();")
                cell(f"""%%k8s job drain{workers} --parallelism {workers} --cpu 100m --into spans
let q = kubernel::queue::<u64>("redis://redis:6379/bench").unwrap();
let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
let start = now();
let n = q.for_each(|x| x * x).unwrap();
(n, start, now())""")
                spans = value("spans")
                done = sum(s[0] for s in spans)
                assert done == N, spans
                wall = max(s[2] for s in spans) - min(s[1] for s in spans)
                rates[workers].append(N / wall)
                # Busy time over items done, all workers together: a worker that found the queue
                # empty adds its wait but no item, and does not count as one slow item.
                per_item[workers].append(sum(s[2] - s[1] for s in spans) / N * 1e6)
                cell(f"%k8s delete job/drain{workers}")
            cell(f"""%%k8s job pm --completions 2 --connected --cpu 100m --into pm
let items: Vec<u64> = (0..{N}u64).collect();
let t = std::time::Instant::now();
let out = kubernel::pmap(items, |x| x * x);
(out.len(), t.elapsed().as_secs_f64())""")
            n, secs = value("pm")
            pmap_rates.append(n / secs)
            cell("%k8s delete job/pm")
            print(f"round {r + 1}: queue " + ", ".join(f"{w} worker(s) {rates[w][-1]:.0f}/s" for w in (1, 2, 4)) + f"; pmap {pmap_rates[-1]:.0f}/s", flush=True)

        cell(BURN, 300)
        cell("%k8s expose deploy/burn --port 80 --target-port 8080")
        for r in range(rounds):
            cell("%k8s scale deploy/burn --replicas 1")
            cell("%k8s autoscale deploy/burn --min 1 --max 3 --cpu-percent 50 --scale-down-window 10s")
            cell('%k8s run load --image busybox -- sh -c "trap exit TERM; while true; do wget -q -O /dev/null http://burn; done"', 120)
            t0 = time.monotonic()
            got_second = None
            while time.monotonic() - t0 < 300:
                d = json.loads(kubectl("-n", ns, "get", "deploy", "burn", "-o", "json"))
                ready = d["status"].get("readyReplicas", 0)
                if ready >= 2 and got_second is None:
                    got_second = time.monotonic() - t0
                if ready >= 3:
                    second.append(got_second)
                    desired.append(time.monotonic() - t0)
                    break
                time.sleep(0.5)
            cell("%k8s delete deploy/load")
            cell("%k8s delete hpa/burn")
            print(f"round {r + 1}: second replica Ready after {second[-1]:.1f} s, 3 after {desired[-1]:.1f} s", flush=True)

        cell(SERVE, 120)
        cell(CAREFUL + 'serve("v1", true)', 300)
        cell("%k8s expose deploy/web --port 80 --target-port 8080")
        cell(f"%k8s proxy --port {PROXY_PORT}")
        cell(f'let url = "http://127.0.0.1:{PROXY_PORT}/api/v1/namespaces/{ns}/services/web/proxy/";')

        def update(line: str, version: str) -> tuple[float, int, int]:
            cell("let traffic = kubernel::load::start(url, 100).unwrap();")
            time.sleep(2)
            t0 = time.monotonic()
            cell(line + f'serve("{version}", {"true" if line == CAREFUL else "false"})', 300)
            took = time.monotonic() - t0
            time.sleep(2)
            out = cell('let report = traffic.stop(); println!("{} {}", report.requests, report.failed);')
            requests, failed_count = map(int, out.strip().splitlines()[-1].split())
            return took, requests, failed_count

        for r in range(rounds):
            took, requests, failed_count = update(CAREFUL, f"v{r + 2}")
            update_secs.append(took)
            update_requests.append(requests)
            update_failed.append(failed_count)
            print(f"round {r + 1}: rolling update in {took:.1f} s, {failed_count} of {requests} requests failed", flush=True)
        cell(CARELESS + 'serve("c1", false)', 300)
        careless = update(CARELESS, "c2")
        cell("%k8s proxy --stop")
    finally:
        kubectl("delete", "namespace", ns, "--wait=false")
        k.close()
    print()
    for w in (1, 2, 4):
        print(f"queue, {N} tiny items, {w} worker(s): {stats(rates[w], 'items/s')}, {stats(per_item[w], 'us per item per worker')}")
    print(f"the same items through pmap over 2 connected pods: {stats(pmap_rates, 'items/s')}")
    print(f"autoscaling on CPU, load start -> second replica Ready: {stats(second, 's', 1)}; -> 3 replicas Ready: {stats(desired, 's', 1)}")
    print(f"rolling update of 2 replicas under 100 requests/s, readiness and graceful shutdown: {stats(update_secs, 's', 1)}, "
          f"failed {stats(update_failed, 'requests')} of {stats(update_requests, 'requests')}")
    print(f"the same update without readiness, exiting at once: {careless[0]:.1f} s, {careless[2]} of {careless[1]} requests failed")


if __name__ == "__main__":
    main()
