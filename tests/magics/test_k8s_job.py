"""`%%k8s job`: the notebook's own Rust code run in the cluster as an Indexed Job, its results
back in a notebook variable, through the real kernel against the local cluster and its registry.
Each test checks what a user would: the cell's output, the variable, and what kubectl sees.

Everything lives in a namespace of the module's own, deleted at the end.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import time
import uuid

import pytest

from conftest import ENV, kubectl
from kernel_harness import Kernel, describe
from test_k8s_class import failed, ok

pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def ns(k8s_kernel, namespace):
    kubectl("create", "namespace", namespace)
    ok(k8s_kernel, f"%k8s use namespace {namespace}")
    return namespace


def job_pods(ns: str, name: str) -> list[str]:
    out = kubectl("-n", ns, "get", "pods", "-l", f"kubernel.io/job={name}", "-o", "jsonpath={.items[*].metadata.name}").stdout
    return out.split()


def test_items_and_deps_of_earlier_cells_are_used_in_a_job(k8s_kernel, ns):
    k = k8s_kernel
    ok(k, ':dep itoa = "1"', 300)
    ok(k, "fn square(x: u64) -> u64 { x * x }\nfn spelled(n: u64) -> String { itoa::Buffer::new().format(n).to_string() }")
    cell = "%%k8s job squares --completions 4 --into sums\nlet share = kubernel::partition(0..40u64);\nprintln!(\"rank {} of {}: {:?}\", kubernel::rank(), kubernel::world(), share);\nspelled(share.map(square).sum::<u64>())"
    text = ok(k, cell, 300)
    for rank in range(4):
        assert f"[{rank}] rank {rank} of 4: {rank * 10}..{rank * 10 + 10}" in text, text
    assert "sums: Vec<String> = 4 results of job squares" in text, text
    got = ok(k, "sums.clone()")
    expected = [str(sum(x * x for x in range(r * 10, r * 10 + 10))) for r in range(4)]
    assert json.loads(got) == expected, got
    # kubectl sees an Indexed Job that completed, with the cell's provenance on it.
    job = json.loads(kubectl("-n", ns, "get", "job", "squares", "-o", "json").stdout)
    assert job["spec"]["completionMode"] == "Indexed" and job["status"]["succeeded"] == 4
    for key in ("kubernel.io/cell-hash", "kubernel.io/lock-hash", "kubernel.io/image-digest"):
        assert job["metadata"]["annotations"].get(key), key
    assert job["spec"]["template"]["spec"]["containers"][0]["image"].endswith(job["metadata"]["annotations"]["kubernel.io/image-digest"])


def test_the_runtime_works_in_a_notebook_cell_as_rank_0_of_1(k8s_kernel, ns):
    k = k8s_kernel
    ok(k, ":dep kubernel", 300)
    assert ok(k, "(kubernel::rank(), kubernel::world())").strip() == "(0, 1)"
    assert ok(k, "kubernel::partition(0..10u32)").strip() == "0..10"
    # In a cell, progress is a bar updated in place.
    reply, msgs = k.execute("kubernel::progress(0.25); kubernel::progress(0.5);", timeout=120)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    shown = [m for m in msgs if m["msg_type"] == "display_data" and "<progress" in m["content"]["data"].get("text/html", "")]
    updated = [m for m in msgs if m["msg_type"] == "update_display_data"]
    assert shown and updated and "50%" in updated[-1]["content"]["data"]["text/html"], describe(reply, msgs)


def test_a_struct_of_the_notebook_comes_back_typed(k8s_kernel, ns):
    k = k8s_kernel
    ok(k, ':dep serde = { version = "1", features = ["derive"] }', 300)
    ok(k, "#[derive(Debug, serde::Serialize, serde::Deserialize)]\npub struct Stats { pub rank: usize, pub total: u64 }")
    text = ok(k, "%%k8s job stats --completions 2 --into stats\nStats { rank: kubernel::rank(), total: kubernel::partition(0..10u64).sum() }", 300)
    assert "stats: Vec<Stats> = 2 results" in text, text
    assert ok(k, "stats[1].total + stats[0].total").strip() == "45"
    assert ok(k, "stats[1].rank").strip() == "1"


def test_an_unchanged_cell_builds_and_pushes_nothing_and_an_edit_rebuilds_only_the_body(k8s_kernel, ns):
    k = k8s_kernel
    # Bodies of their own: built programs are kept by hash across runs.
    n = int(time.time() * 1000) % 1_000_000
    cell = f"%%k8s job same\nlet v: Vec<u32> = (0..{n}).collect();\nv.len()"
    ok(k, cell, 300)
    text = ok(k, cell, 120)
    assert "unchanged: nothing compiled or pushed" in text, text
    text = ok(k, cell.replace(f"0..{n}", f"0..{n + 1}"), 120)
    assert "compiled kubernel_job," in text, text
    assert "serde" not in text.split("compiled ", 1)[1].split(")", 1)[0], "the dependencies stay built: " + text


def test_a_compile_error_shows_rustcs_message_and_creates_no_job(k8s_kernel, ns):
    c, text = failed(k8s_kernel, "%%k8s job broken\nlet a = 1;\nlet x: i32 = \"a\";\nx")
    assert c["ename"] == "CompileError", c
    assert "mismatched types" in c["evalue"] and "cell line 3, column 14" in c["evalue"], c
    assert 'let x: i32 = "a";' in c["evalue"], c
    assert kubectl("-n", ns, "get", "job", "broken", check=False).returncode != 0, "no Job for a cell that does not compile"


def test_a_panicking_index_is_named_and_the_other_results_kept(k8s_kernel, ns):
    k = k8s_kernel
    c, text = failed(k, "%%k8s job shaky --completions 3\nif kubernel::rank() == 1 { panic!(\"boom at one\") }\nkubernel::rank() * 10", 300)
    assert c["ename"] == "Panicked", c
    assert "1 of 3 indexes failed (1)" in c["evalue"], c
    assert "index 1: panic at cell line 2, column 28: boom at one" in c["evalue"], c
    assert "kubernel::last_results()" in c["evalue"], c
    # The others' results are in the table's last state.
    last = text.split("RANK")[-1]
    assert "Failed: panicked" in last and "Succeeded" in last and " 20" in last, last
    # A panic is not retried: the index fails at once (podFailurePolicy FailIndex).
    pods = kubectl("-n", ns, "get", "pods", "-l", "kubernel.io/job=shaky", "-o", "json").stdout
    index1 = [p for p in json.loads(pods)["items"] if p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "1"]
    assert len(index1) == 1, [p["metadata"]["name"] for p in index1]


def test_output_without_a_final_newline_and_a_body_that_exits(k8s_kernel, ns):
    k = k8s_kernel
    text = ok(k, "%%k8s job glued --into glued\nprint!(\"no newline at the end\");\n5u8", 300)
    assert "[0] no newline at the end" in text, text
    assert ok(k, "glued.clone()").strip() == "[5]"
    started = time.monotonic()
    c, _ = failed(k, "%%k8s job leaver\nstd::process::exit(0);\n1", 300)
    assert c["ename"] == "ResultLost" and "process::exit" in c["evalue"], c
    assert time.monotonic() - started < 60, "not a wait for the deadline"


def test_oomkilled_is_named(k8s_kernel, ns):
    c, _ = failed(k8s_kernel, "%%k8s job hungry --memory 32Mi/32Mi\nlet v = vec![7u8; 256 << 20];\nv.iter().map(|b| *b as u64).sum::<u64>()", 300)
    assert c["ename"] == "OOMKilled", c
    assert "32Mi" in c["evalue"], c


def test_an_unschedulable_cpu_request_says_so_at_once(k8s_kernel, ns):
    started = time.monotonic()
    c, _ = failed(k8s_kernel, "%%k8s job greedy --cpu 64\n1", 300)
    assert c["ename"] == "Unschedulable", c
    assert "Insufficient cpu" in c["evalue"], c
    assert time.monotonic() - started < 90


def test_a_used_up_quota_is_named_within_seconds(k8s_kernel, namespace):
    """A ResourceQuota that allows no pod: the Job and the Deployment controllers cannot create
    any, and say so in an event and a condition; the cell names it instead of waiting."""
    full = f"{namespace}-full"
    kubectl("create", "namespace", full)
    try:
        kubectl("-n", full, "create", "quota", "none-left", "--hard=pods=0")
        started = time.monotonic()
        c, text = failed(k8s_kernel, f"%%k8s job crowded -n {full}\n1", 300)
        assert c["ename"] == "FailedCreate", c
        assert "exceeded quota: none-left" in c["evalue"], c
        assert time.monotonic() - started < 60, "named, not a wait for the timeout"
        assert "stopped: FailedCreate" in text, text
        c, _ = failed(k8s_kernel, f"%k8s run crowded-web --image nginx -n {full}", 120)
        assert c["ename"] == "FailedCreate", c
        assert "exceeded quota: none-left" in c["evalue"], c
    finally:
        kubectl("delete", "namespace", full, "--wait=false", check=False)


def test_a_pods_progress_and_displays_reach_the_cell(k8s_kernel, ns):
    """What code in a pod shows with the runtime's helpers comes into the cell: progress in the
    job's table, an HTML display and a Markdown one, with their text forms too."""
    k = k8s_kernel
    cell = (
        "%%k8s job shows --completions 2\n"
        "kubernel::progress(0.5);\n"
        "kubernel::display::html(&format!(\"<b>rank {} says hello</b>\", kubernel::rank()));\n"
        "kubernel::display::markdown(&format!(\"*rank {} in markdown*\", kubernel::rank()));\n"
        "std::thread::sleep(std::time::Duration::from_millis(1500));\n"
        "kubernel::progress(1.0);\n"
        "kubernel::rank()"
    )
    reply, msgs = k.execute(cell, timeout=300)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    datas = [m["content"]["data"] for m in msgs if m["msg_type"] in ("display_data", "update_display_data")]
    for rank in range(2):
        html = [d for d in datas if f"<b>rank {rank} says hello</b>" in d.get("text/html", "")]
        assert html and f"rank {rank} says hello" in html[0].get("text/plain", ""), datas
        md = [d for d in datas if f"*rank {rank} in markdown*" in d.get("text/markdown", "")]
        assert md and f"rank {rank} in markdown" in md[0].get("text/plain", ""), datas
    # The job's table showed a rank half way at some point, and all done at the end.
    tables = [d.get("text/html", "") for d in datas if "RANK" in d.get("text/plain", "")]
    assert any("50%" in t for t in tables), tables[-3:]
    assert "2 of 2 succeeded" in tables[-1], tables[-1]


def test_a_10_mb_result_arrives_whole(k8s_kernel, ns):
    k = k8s_kernel
    text = ok(k, "%%k8s job big --into big\n\"x\".repeat(10 << 20)", 300)
    assert "big: Vec<String> = 1 results" in text, text
    assert ok(k, "big[0].len()").strip() == str(10 << 20)


def interrupt_when_running(k, ns: str, name: str, cell: str, pods: int, start: float, settle: float = 0, reply_within: float = 20) -> None:
    """Runs a job cell, interrupts it once its pods run (and `settle` seconds more), and checks
    that the cell ends in an error and the job's pods are gone within seconds."""
    msg_id = k.kc.execute(cell)
    deadline = time.monotonic() + start
    phases: list[str] = []
    while time.monotonic() < deadline:
        phases = kubectl("-n", ns, "get", "pods", "-l", f"kubernel.io/job={name}", "-o", "jsonpath={.items[*].status.phase}").stdout.split()
        if phases.count("Running") == pods:
            break
        time.sleep(0.5)
    assert phases.count("Running") == pods, phases
    time.sleep(settle)
    k.km.interrupt_kernel()
    reply = k.reply(msg_id, timeout=reply_within)
    k.wait_idle(msg_id)
    assert reply["content"]["status"] == "error", reply
    deadline = time.monotonic() + 20
    while job_pods(ns, name) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert job_pods(ns, name) == [], "the interrupted job's pods are gone within seconds"


def test_interrupt_leaves_no_pod(k8s_kernel, ns):
    k = k8s_kernel
    interrupt_when_running(k, ns, "sleepy", "%%k8s job sleepy --completions 2\nstd::thread::sleep(std::time::Duration::from_secs(600));\n0", 2, start=120)
    assert kubectl("-n", ns, "get", "job", "sleepy", check=False).returncode != 0
    assert ok(k, "1 + 1").strip() == "2", "the kernel keeps serving"


def test_pods_meet_the_restricted_pod_security_standard(k8s_kernel, namespace):
    strict = f"{namespace}-strict"
    kubectl("create", "namespace", strict)
    try:
        kubectl("label", "namespace", strict, "pod-security.kubernetes.io/enforce=restricted")
        text = ok(k8s_kernel, f"%%k8s job careful -n {strict} --into careful\nkubernel::rank() + 41", 300)
        assert "careful: Vec<usize> = 1 results" in text, text
        assert ok(k8s_kernel, "careful[0]").strip() == "41"
    finally:
        kubectl("delete", "namespace", strict, "--wait=false", check=False)


def test_a_registry_that_is_down_gives_one_clear_error(k8s_kernel, ns):
    started = time.monotonic()
    c, _ = failed(k8s_kernel, "%%k8s job nowhere --registry 127.0.0.1:1\n1", 300)
    assert c["ename"] == "RegistryUnreachable", c
    assert "127.0.0.1:1" in c["evalue"], c
    assert time.monotonic() - started < 60
    assert kubectl("-n", ns, "get", "job", "nowhere", check=False).returncode != 0


def test_a_registry_with_credentials_gets_an_image_pull_secret(kernelspec, ns, tmp_path):
    """With credentials for the registry in the user's Docker config, the pods pull with them
    (an imagePullSecret made from that entry alone), and the password is never shown."""
    password = f"pw-{uuid.uuid4().hex}"
    registry = "127.0.0.1:5000"  # the local cluster's, which lets anyone pull (and ignores them)
    config = tmp_path / "docker"
    config.mkdir()
    entry = base64.b64encode(f"student:{password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {registry: {"auth": entry}, "elsewhere.example:443": {"auth": "eDp5"}}}))
    env = dict(ENV, DOCKER_CONFIG=str(config), KUBERNEL_HISTORY=str(tmp_path / "history"))
    k = Kernel.start(env=env)
    try:
        ok(k, f"%k8s use namespace {ns}")
        reply, msgs = k.execute(f"%%k8s job pulled --registry {registry} --into pulled\n7u8", timeout=300)
        assert reply["content"]["status"] == "ok", describe(reply, msgs)
        assert password not in json.dumps([m["content"] for m in msgs]), "the password is never shown"
        assert ok(k, "pulled.clone()").strip() == "[7]"
    finally:
        k.close()
    job = json.loads(kubectl("-n", ns, "get", "job", "pulled", "-o", "json").stdout)
    secrets = job["spec"]["template"]["spec"].get("imagePullSecrets")
    # One Secret per registry and per user (a tag of the user name and of who runs the kernel
    # where, never of the password), so that two students in one namespace do not overwrite
    # each other's credentials.
    who = f"{os.getuid()}@{socket.gethostname()}"
    tag = hashlib.sha256(f"student\n{who}".encode()).hexdigest()[:10]
    assert secrets == [{"name": f"kubernel-pull-127-0-0-1-5000-{tag}"}], secrets
    secret = json.loads(kubectl("-n", ns, "get", "secret", secrets[0]["name"], "-o", "json").stdout)
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    held = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert list(held["auths"]) == [registry], "only the registry the pods pull from"
    assert base64.b64decode(held["auths"][registry]["auth"]).decode() == f"student:{password}"


SERVICE = """%%k8s deploy hello-web --port 8080 --replicas 2
use std::io::{Read, Write};
let port = std::env::var("PORT").unwrap();
let listener = std::net::TcpListener::bind(format!("0.0.0.0:{port}")).unwrap();
for stream in listener.incoming() {
    let mut stream = stream.unwrap();
    let mut request = [0u8; 2048];
    let _ = stream.read(&mut request);
    let body = format!("hello, {} squared is {}", 7, square(7));
    let _ = write!(stream, "HTTP/1.1 200 OK\\r\\nContent-Length: {}\\r\\nConnection: close\\r\\n\\r\\n{}", body.len(), body);
}
"""


def test_a_deployed_rust_service_is_reached_through_http(k8s_kernel, ns):
    k = k8s_kernel
    ok(k, "fn square(x: u64) -> u64 { x * x }")
    text = ok(k, SERVICE, 300)
    assert "deployment.apps/hello-web created or updated" in text, text
    dep = json.loads(kubectl("-n", ns, "get", "deploy", "hello-web", "-o", "json").stdout)
    assert dep["status"]["availableReplicas"] == 2, dep["status"]
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    ok(k, f"%k8s expose deploy/hello-web --port 80 --target-port 8080 -n {ns}")
    deadline = time.monotonic() + 30
    while True:
        reply, msgs = k.execute(f"%k8s http svc/hello-web/ -n {ns}", timeout=60)
        shown = "".join(str(m["content"].get("data", m["content"].get("text", ""))) for m in msgs)
        if reply["content"]["status"] == "ok" and "squared is 49" in shown:
            break
        assert time.monotonic() < deadline, describe(reply, msgs)
        time.sleep(1)
