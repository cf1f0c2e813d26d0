"""Parallel Rust from the notebook, measured against the local cluster, with Dask as the peer
for tiny tasks, all in the same run:

    "$(install/python-env)/bin/python" tests/magics/bench_parallel.py [ROUNDS]

One round goes first and is not counted: the first jobs of a kernel run while the machine is
still busy with what came before (builds, the kernel's own start), and their speed-up was a
constant 1.1x.

- speed-up: a CPU-bound kernel (a billion darts for π, about 4 s on one thread here) with 1
  thread and then 2 threads in one pod of `--cpu 1500m/2`, timed inside the program;
- tiny-task throughput: `kubernel::pmap` of 20 000 integer squares over 2 connected pods, timed
  inside the master around the call, against Dask's `client.map` + `gather` of the same over a
  LocalCluster of 2 worker processes (1 thread each) on this machine;
- parallel efficiency: a CPU-bound `pmap` (40 items of 100 million darts, about 16 s on one CPU here) over 1 pod and over 2 connected
  pods of one CPU each, timed inside the master;
- recovery: a worker pod deleted during a `pmap`; the master's line says how long the worker
  had been silent when its items went to others.

Prints median, min and max of each. Everything lives in a namespace kubernel-bench-<random>,
deleted at the end. Not a pytest test.
"""
from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "kernel"))
from bench_setup import start_kernel  # noqa: E402
from kernel_harness import describe  # noqa: E402

DARTS = """fn darts(seed: u64, n: u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x >> 11) as f64 / (1u64 << 53) as f64 };
    let mut hits = 0;
    for _ in 0..n { let (a, b) = (next(), next()); if a * a + b * b <= 1.0 { hits += 1; } }
    hits
}"""


def stats(values: list[float], unit: str, digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} {unit} [{min(values):.{digits}f}..{max(values):.{digits}f}]"


def dask_rate(rounds: int) -> list[float]:
    import logging

    from distributed import Client, LocalCluster

    # A LocalCluster closing logs its workers' lost heartbeats as errors: noise, not a result.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)

    def square(x: int) -> int:
        return x * x

    rates = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        client.gather(client.map(square, range(100)))  # warm
        for _ in range(rounds):
            t = time.perf_counter()
            got = client.gather(client.map(square, range(20_000), pure=False))
            rates.append(20_000 / (time.perf_counter() - t))
            assert got[-1] == 19_999 ** 2
    return rates


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
        return json.loads(cell(f'println!("{{}}", serde_json::to_string(&{var}).unwrap());'))

    ns = f"kubernel-bench-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", ns)
    speedups, ours, theirs, one_pod, two_pods, recovery = [], [], [], [], [], []
    try:
        cell(f"%k8s use namespace {ns}")
        cell(DARTS)
        for r in range(-1, rounds):
            counted = r >= 0
            cell(f"""%%k8s job speedup --cpu 1500m/2 --into sp
let n = 1_000_000_000u64 + {r + 1};
let t = std::time::Instant::now(); let a = darts(1, n); let one = t.elapsed().as_secs_f64();
let t = std::time::Instant::now();
let b: u64 = std::thread::scope(|s| {{ let h: Vec<_> = (0..2u64).map(|i| s.spawn(move || darts(i + 2, n / 2))).collect(); h.into_iter().map(|h| h.join().unwrap()).sum() }});
let two = t.elapsed().as_secs_f64();
(one, two, a + b)""")
            one, two, _ = value("sp")[0]
            speedups.append(one / two)

            cell(f"""%%k8s job tiny --completions 2 --connected --cpu 900m/1 --into tiny
let items: Vec<u64> = (0..20_000u64).collect();
let t = std::time::Instant::now();
let got = kubernel::pmap(items, |x| x * x);
if kubernel::rank() == 0 {{ assert_eq!(got.len(), 20_000); }}
20_000.0 / t.elapsed().as_secs_f64()""")
            ours.append(value("tiny"))
            theirs.extend(dask_rate(1))

            for pods, into in ((1, "p1"), (2, "p2")):
                # One pod alone is a master that works by itself.
                cell(f"""%%k8s job eff{pods} --completions {pods} --connected --cpu 900m/1 --into {into}
let t = std::time::Instant::now();
let hits = kubernel::pmap((1..=40u64).collect(), |s| darts(s + {r + 1}, 100_000_000));
(t.elapsed().as_secs_f64(), hits.iter().sum::<u64>())""")
            one_pod.append(value("p1")[0])
            two_pods.append(value("p2")[0])

            stop = threading.Event()

            def kill_worker() -> None:
                while not stop.is_set():
                    pods = json.loads(kubectl("-n", ns, "get", "pods", "-l", "kubernel.io/job=recover", "-o", "json"))["items"]
                    for p in pods:
                        if p["metadata"]["annotations"].get("batch.kubernetes.io/job-completion-index") == "1" and p["status"].get("phase") == "Running":
                            time.sleep(2)
                            kubectl("-n", ns, "delete", "pod", p["metadata"]["name"], "--grace-period=0", "--wait=false")
                            return
                    time.sleep(0.2)

            killer = threading.Thread(target=kill_worker)
            killer.start()
            text = cell("""%%k8s job recover --completions 2 --connected --cpu 500m/1
kubernel::pmap((0..400u64).collect(), |x| { std::thread::sleep(std::time::Duration::from_millis(40)); x }).len()""")
            stop.set()
            killer.join()
            silent = [float(s) for s in re.findall(r"silent for ([0-9.]+) s", text)]
            if silent:
                recovery.append(silent[0])
            if not counted:
                print(f"warm-up round (not counted): speed-up {speedups[-1]:.2f}x, 1 pod {one_pod[-1]:.2f} s vs 2 pods {two_pods[-1]:.2f} s", flush=True)
                for figures in (speedups, ours, theirs, one_pod, two_pods, recovery):
                    figures.clear()
                continue
            print(f"round {r + 1}: speed-up {speedups[-1]:.2f}x, pmap {ours[-1]:.0f}/s vs dask {theirs[-1]:.0f}/s, "
                  f"1 pod {one_pod[-1]:.2f} s vs 2 pods {two_pods[-1]:.2f} s, recovery {recovery[-1] if silent else float('nan'):.2f} s", flush=True)
    finally:
        kubectl("delete", "namespace", ns, "--wait=false")
        k.close()
    print()
    print(f"1 thread -> 2 threads in one pod (CPU-bound): {stats(speedups, 'x')}")
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"tiny items, 2 workers: kubernel::pmap {stats(ours, 'items/s', 0)}; Dask client.map {stats(theirs, 'items/s', 0)} ({ratio:.1f}x)")
    eff = [a / b for a, b in zip(one_pod, two_pods)]
    print(f"CPU-bound pmap, 1 pod {stats(one_pod, 's')} vs 2 pods {stats(two_pods, 's')}: {stats(eff, 'x')}")
    if recovery:
        print(f"recovery, a worker's death to its items running elsewhere: {stats(recovery, 's')}")


if __name__ == "__main__":
    main()
