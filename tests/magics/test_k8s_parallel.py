"""Parallel Rust from the notebook: threads and processes in one pod (`--cpu`, `--procs`), and
many pods as one master-worker world (`--connected`, `kubernel::pmap`), through the real kernel
against the local cluster. Each test checks what a user would: the values in the notebook, the
job's table and chart, the pods' lines, and what kubectl sees.
"""
from __future__ import annotations

import base64
import json
import threading
import time

import pytest

from conftest import kubectl
from test_k8s_apps import ok as apps_ok
from test_k8s_class import failed, ok
from test_k8s_job import interrupt_when_running, job_pods, ns  # noqa: F401 (ns: the module's own namespace, a fixture)

pytestmark = pytest.mark.timeout(420)


def as_json(k, var: str):
    """A notebook variable as JSON, printed by the notebook itself."""
    return json.loads(ok(k, f"println!(\"{{}}\", serde_json::to_string(&{var}).unwrap());"))


def last_table(msgs) -> str:
    """The job table's last state, as text."""
    tables = [m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] in ("display_data", "update_display_data") and m["content"]["data"].get("text/plain", "").startswith("RANK")]
    assert tables, "the cell showed no job table"
    return tables[-1]


def test_threads_follow_the_pods_cpu_not_the_nodes(k8s_kernel, ns):
    k = k8s_kernel
    # A limit of one CPU on a node of two: one thread, and rayon told so through the downward API.
    ok(k, "%%k8s job one-cpu --cpu 500m/1 --into t\n(kubernel::threads(), std::env::var(\"RAYON_NUM_THREADS\").unwrap_or_default())", 300)
    assert as_json(k, "t") == [[1, "1"]]
    # Scoped threads, one per CPU the pod may use, as written in a notebook.
    cell = """%%k8s job two-cpu --cpu 1500m/2 --into t2
let n = kubernel::threads();
let parts: Vec<u64> = std::thread::scope(|s| {
    let hs: Vec<_> = (0..n as u64).map(|i| s.spawn(move || (i * 1000..(i + 1) * 1000).sum::<u64>())).collect();
    hs.into_iter().map(|h| h.join().unwrap()).collect()
});
(n, parts.iter().sum::<u64>())"""
    ok(k, cell, 300)
    assert ok(k, "t2[0].0").strip() == "2"
    assert ok(k, "t2[0].1").strip() == str(sum(range(2000)))


def test_procs_give_every_process_its_rank(k8s_kernel, ns):
    k = k8s_kernel
    _, msgs = apps_ok(k, "%%k8s job ranks --completions 2 --procs 3 --into ranks\nprintln!(\"process {} here\", kubernel::local_rank());\n(kubernel::rank(), kubernel::local_rank(), kubernel::world(), std::process::id())", 300)
    got = as_json(k, "ranks")
    assert [(r, l, w) for r, l, w, _ in got] == [(r, r % 3, 6) for r in range(6)], got
    # Three processes in each pod: three process ids per pod.
    assert len({pid for _, _, _, pid in got[:3]}) == 3, got
    table = last_table(msgs)
    assert len([line for line in table.splitlines() if line[:1].isdigit()]) == 6, table
    text = "".join(m["content"].get("text", "") for m in msgs if m["msg_type"] == "stream")
    for r in range(6):
        assert f"[{r}] process {r % 3} here" in text, text


def test_connected_pods_resolve_each_other_and_pmap_hands_out_every_item_once(k8s_kernel, ns):
    k = k8s_kernel
    cell = """%%k8s job squares --completions 3 --connected --into squares
// A peer's name appears in DNS a moment after its pod has an address: wait for it, as pmap does.
for peer in kubernel::peers() {
    use std::net::ToSocketAddrs;
    let started = std::time::Instant::now();
    let resolves = || (peer.as_str(), 5555).to_socket_addrs().map(|mut a| a.next().is_some()).unwrap_or(false);
    while !resolves() && started.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    println!("{} resolves {}: {}", kubernel::hostname(), peer, resolves());
}
let items: Vec<u64> = (0..1000).collect();
kubernel::pmap(items, |x| { std::thread::sleep(std::time::Duration::from_millis(2)); (x, x * x, kubernel::hostname()) })"""
    _, msgs = apps_ok(k, cell, 300)
    text = "".join(m["content"].get("text", "") for m in msgs if m["msg_type"] == "stream")
    for r in range(3):
        for peer in range(3):
            assert f"[{r}] squares-{r} resolves squares-{peer}.squares: true" in text, text
    got = as_json(k, "squares")
    assert [x for x, _, _ in got] == list(range(1000)), "in input order, each exactly once"
    assert all(sq == x * x for x, sq, _ in got)
    hosts = {h for _, _, h in got}
    assert len(hosts) >= 2, f"the items were shared out: {hosts}"
    table = last_table(msgs)
    assert "HOST" in table and "squares-1.squares" in table and "ITEMS" in table, table
    total = [line for line in table.splitlines() if line.startswith("total")]
    assert total and "1000" in total[0], table
    charts = [m for m in msgs if m["msg_type"] == "display_data" and "image/svg+xml" in m["content"]["data"]]
    assert charts and charts[-1]["content"]["data"]["image/svg+xml"].count("<path") == 3, "a line per rank"
    # The master hears only pods that carry the job's secret, from a Secret, not in the pod spec.
    secret = json.loads(kubectl("-n", ns, "get", "secret", "squares-pmap", "-o", "json").stdout)
    assert len(base64.b64decode(secret["data"]["token"])) >= 32
    job = json.loads(kubectl("-n", ns, "get", "job", "squares", "-o", "json").stdout)
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KUBERNEL_PMAP_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "squares-pmap", "key": "token", "optional": True}


def test_a_worker_killed_mid_pmap_costs_only_its_items(k8s_kernel, ns):
    k = k8s_kernel
    cell = """%%k8s job sturdy --completions 3 --connected --into sturdy
kubernel::pmap((0..300u64).collect(), |x| { std::thread::sleep(std::time::Duration::from_millis(100)); x + 1 })"""
    killed = {}

    def kill_one():
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline:
            pods = json.loads(kubectl("-n", ns, "get", "pods", "-l", "kubernel.io/job=sturdy", "-o", "json").stdout)["items"]
            for p in pods:
                if p["metadata"]["annotations"].get("batch.kubernetes.io/job-completion-index") == "2" and p["status"].get("phase") == "Running":
                    # Killed once it has joined the master and works (its items line), not
                    # before: a worker the master never knew is not one whose items it recovers.
                    logs = kubectl("-n", ns, "logs", p["metadata"]["name"], check=False).stdout
                    if "KUBERNEL_ITEMS" not in logs:
                        continue
                    kubectl("-n", ns, "delete", "pod", p["metadata"]["name"], "--grace-period=0", "--wait=false")
                    killed["pod"] = p["metadata"]["name"]
                    return
            time.sleep(0.3)

    killer = threading.Thread(target=kill_one)
    killer.start()
    text = ok(k, cell, 300)
    killer.join()
    assert killed, "a worker pod was deleted during the run"
    # The master saw it go and gave its items to the others (about 5 s of work were left).
    assert "[0] kubernel: rank 2 (sturdy-2) went silent" in text, text
    got = as_json(k, "sturdy")
    assert got == [x + 1 for x in range(300)]


def test_a_failed_master_is_named_and_leaves_no_pod(k8s_kernel, ns):
    k = k8s_kernel
    c, _ = failed(k, "%%k8s job headless --completions 2 --connected\nif kubernel::rank() == 0 { panic!(\"the master fell over\") }\nkubernel::pmap(vec![1u8, 2], |x| x)", 300)
    assert "the master (rank 0) failed" in c["evalue"] and "the master fell over" in c["evalue"], c
    deadline = time.monotonic() + 30
    while job_pods(ns, "headless") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert job_pods(ns, "headless") == []


def test_pods_share_no_file_system(k8s_kernel, ns):
    k = k8s_kernel
    cell = """%%k8s job apart --completions 3 --into seen
std::fs::write(format!("/tmp/note-{}", kubernel::rank()), "mine").unwrap();
std::thread::sleep(std::time::Duration::from_secs(2));
std::fs::read_dir("/tmp").unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("note-")).count()"""
    ok(k, cell, 300)
    assert ok(k, "seen.clone()").strip() == "[1, 1, 1]"


def test_interrupt_during_pmap_leaves_no_pod(k8s_kernel, ns):
    k = k8s_kernel
    cell = "%%k8s job endless --completions 2 --connected\nkubernel::pmap((0..100000u64).collect(), |x| { std::thread::sleep(std::time::Duration::from_millis(50)); x })"
    interrupt_when_running(k, ns, "endless", cell, 2, start=200, settle=2, reply_within=30)
    assert ok(k, "1 + 1").strip() == "2"


def test_workers_serve_a_master_and_scale(k8s_kernel, ns):
    k = k8s_kernel
    text = ok(k, "%%k8s workers helpers --replicas 1 --master hub\nkubernel::serve(|x: u64| (x * 3, kubernel::hostname()))", 300)
    assert "1 of 1 ready" in text, text
    ok(k, "%k8s scale rs/helpers --replicas 2")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready = kubectl("-n", ns, "get", "rs", "helpers", "-o", "jsonpath={.status.readyReplicas}").stdout
        if ready == "2":
            break
        time.sleep(0.5)
    assert ready == "2"
    cell = """%%k8s job hub --connected --into hub
kubernel::pmap((0..400u64).collect(), |x| { std::thread::sleep(std::time::Duration::from_millis(25)); (x * 3, kubernel::hostname()) })"""
    ok(k, cell, 300)
    got = as_json(k, "hub")
    assert [v for v, _ in got] == [x * 3 for x in range(400)]
    hosts = {h for _, h in got}
    assert any(h.startswith("helpers-") for h in hosts), f"the ReplicaSet's workers took items: {hosts}"
    ok(k, "%k8s delete rs/helpers")
