"""An edited 4-index job cell until its results are in the notebook, against the manual path a
user has without kubernel, measured in the same run and alternating.

    "$(install/python-env)/bin/python" tests/magics/bench_job_edit.py [ROUNDS]

- kubernel: `%%k8s job benchjob --completions 4 --into r` whose body changes every round (same
  dependencies), timed from execute to the cell's reply (the results bound as `r`); then the same
  cell unchanged; and the bytes pushed per edit, from the cell's "pushed N KB" line.
- manual: the same program as a cargo project: `cargo build --release --target
  x86_64-unknown-linux-musl`, `install/cluster.d/images/oci.py build` and `push`, `kubectl apply`
  of an Indexed Job, `kubectl wait --for=condition=complete`, `kubectl logs` of each pod.

Prints median, min and max of each. Everything lives in a namespace kubernel-bench-<random>,
deleted at the end. Not a pytest test.
"""
from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "kernel"))
from bench_setup import REPO, start_kernel  # noqa: E402
from kernel_harness import describe  # noqa: E402

BODY = "let share = kubernel::partition(0..200_000u64);\nshare.filter(|n| n % {k} == 0).count() as u64"

MAIN = """fn main() {
    let rank: u64 = std::env::var("JOB_COMPLETION_INDEX").unwrap().parse().unwrap();
    let (len, world) = (200_000u64, 4u64);
    let share = (len / world * rank)..(len / world * (rank + 1));
    println!("{}", share.filter(|n| n % {k} == 0).count());
}
"""

JOB = """apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  completionMode: Indexed
  completions: 4
  parallelism: 4
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: program
        image: {image}
        command: ["/app/program"]
"""


def stats(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ms [{min(values):.0f}..{max(values):.0f}]"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    k, env = start_kernel()

    def run(*args: str, cwd: Path | None = None, timeout: float = 300) -> str:
        return subprocess.run(list(args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=True).stdout

    ns = f"kubernel-bench-{uuid.uuid4().hex[:6]}"
    run("kubectl", "create", "namespace", ns)
    work = Path(tempfile.mkdtemp(prefix="kubernel-bench-job-"))
    project = work / "manual"
    (project / "src").mkdir(parents=True)
    (project / "Cargo.toml").write_text('[package]\nname = "manual"\nversion = "0.0.0"\nedition = "2021"\n\n[profile.release]\nincremental = true\n\n[workspace]\n')
    target = Path.home() / ".cache/kubernel/bench-manual-target"
    env["CARGO_TARGET_DIR"] = str(target)
    oci = [sys.executable, str(REPO / "install/cluster.d/images/oci.py")]
    ours, unchanged, theirs, pushed = [], [], [], []
    try:
        reply, msgs = k.execute(f"%k8s use namespace {ns}", timeout=60)
        assert reply["content"]["status"] == "ok", describe(reply, msgs)
        # Warm both paths once (dependencies built, base layers in the registry).
        first = 3 + int(time.time()) % 100_000
        for i, warm in enumerate((True,) + (False,) * rounds):
            divisor = first + i  # a new body every round
            cell = f"%%k8s job benchjob --completions 4 --into r\n{BODY.format(k=divisor)}"
            started = time.monotonic()
            reply, msgs = k.execute(cell, timeout=600)
            took = (time.monotonic() - started) * 1000
            assert reply["content"]["status"] == "ok", describe(reply, msgs)
            text = "".join(str(m["content"].get("data", {}).get("text/plain", "")) for m in msgs)
            started = time.monotonic()
            reply, msgs = k.execute(cell, timeout=600)
            again = (time.monotonic() - started) * 1000
            assert reply["content"]["status"] == "ok", describe(reply, msgs)

            (project / "src/main.rs").write_text(MAIN.replace("{k}", str(divisor)))
            name = f"manual-{uuid.uuid4().hex[:6]}"
            started = time.monotonic()
            run("cargo", "build", "--release", "--target", "x86_64-unknown-linux-musl", cwd=project)
            rootfs = work / f"rootfs-{name}"
            (rootfs / "app").mkdir(parents=True)
            shutil.copy(target / "x86_64-unknown-linux-musl/release/manual", rootfs / "app/program")
            run(*oci, "build", str(rootfs), str(work / f"oci-{name}"), '{"Entrypoint": ["/app/program"]}')
            run(*oci, "push", str(work / f"oci-{name}"), "127.0.0.1:5000", f"bench/manual:{name}")
            subprocess.run(["kubectl", "-n", ns, "apply", "-f", "-"], input=JOB.format(name=name, image=f"127.0.0.1:5000/bench/manual:{name}"),
                           env=env, capture_output=True, text=True, check=True, timeout=60)
            run("kubectl", "-n", ns, "wait", "--for=condition=complete", f"job/{name}", "--timeout=300s")
            pods = run("kubectl", "-n", ns, "get", "pods", "-l", f"batch.kubernetes.io/job-name={name}", "-o", "jsonpath={.items[*].metadata.name}").split()
            for pod in pods:
                run("kubectl", "-n", ns, "logs", pod)
            manual = (time.monotonic() - started) * 1000
            if warm:
                continue
            ours.append(took)
            unchanged.append(again)
            theirs.append(manual)
            m = re.search(r"pushed (\d+(?:\.\d+)?) (KB|MB|bytes)", text)
            if m:
                pushed.append(float(m.group(1)) * {"KB": 1024, "MB": 1 << 20, "bytes": 1}[m.group(2)])
            print(f"round {len(ours)}: kubernel {took:.0f} ms, unchanged {again:.0f} ms, manual {manual:.0f} ms", flush=True)
    finally:
        k.close()
        subprocess.run(["kubectl", "delete", "namespace", ns, "--wait=false"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"edited 4-index job cell -> results in the notebook: {stats(ours)}")
    print(f"manual path (cargo, oci.py build+push, kubectl apply/wait/logs): {stats(theirs)} "
          f"({statistics.median(theirs) / statistics.median(ours):.1f}x slower)")
    print(f"unchanged re-run: {stats(unchanged)}")
    if pushed:
        print(f"bytes pushed per edit: {statistics.median(pushed) / 1024:.0f} KB")


if __name__ == "__main__":
    main()
