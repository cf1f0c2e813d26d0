"""The application verbs of %k8s through the real kernel, against the local cluster: run with
its live progress, exec (streams, exit codes, stdin), port-forward, logs -f and --stats, set
image and rollout, autoscale, top, and cleanup.

Everything lives in a namespace of the module's own (kubernel-test-<random>), deleted at the
end; the cleanup test uses a kernel and a namespace of its own, since `cleanup` deletes all that
its session made.
"""
from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from queue import Empty

import pytest

from conftest import ENV, kubectl
from kernel_harness import Kernel, describe, error_text, of_type, stream_text

pytestmark = pytest.mark.timeout(240)


# -- helpers --------------------------------------------------------------------------------


def shown(msgs) -> str:
    """All text a cell showed: streams, displays, updates, results."""
    text = stream_text(msgs) + stream_text(msgs, "stderr")
    for m in msgs:
        if m["msg_type"] in ("display_data", "update_display_data", "execute_result"):
            text += m["content"]["data"].get("text/plain", "") + "\n"
    return text


def ok(k, code: str, timeout: float = 60) -> tuple[str, list[dict]]:
    reply, msgs = k.execute(code, timeout=timeout)
    assert reply["content"]["status"] == "ok", f"{code!r} failed:\n  {describe(reply, msgs)}"
    return shown(msgs), msgs


def failed(k, code: str, timeout: float = 60) -> tuple[dict, list[dict], str]:
    """Runs a cell that must fail; returns its reply, messages and all the text it showed."""
    reply, msgs = k.execute(code, timeout=timeout)
    assert reply["content"]["status"] == "error", f"{code!r} should fail:\n  {describe(reply, msgs)}"
    evalue = reply["content"]["evalue"]
    for dump in ("Error {", "Status {", "Api(", "HyperError", "kube::", "panicked"):
        assert dump not in evalue, f"a Rust debug dump leaked: {evalue!r}"
    # The kernel aborts what is queued behind a failed cell; let that drain settle.
    time.sleep(0.3)
    return reply, msgs, shown(msgs) + "\n" + error_text(reply, msgs)


def live_display(msgs) -> tuple[str, list[dict], str]:
    """The display_id of a cell's live display, its updates, and the text it ended with."""
    displays = [m for m in of_type(msgs, "display_data") if m["content"].get("transient", {}).get("display_id")]
    assert displays, f"no display_data with a display_id:\n  {summary(msgs)}"
    display_id = displays[0]["content"]["transient"]["display_id"]
    updates = [m for m in of_type(msgs, "update_display_data") if m["content"]["transient"]["display_id"] == display_id]
    last = (updates or displays)[-1]["content"]["data"]["text/plain"]
    return display_id, updates, last


def summary(msgs) -> str:
    return "\n  ".join(
        f"{m['msg_type']}: {json.dumps(m['content'])[:300]}" for m in msgs if m["msg_type"] not in ("status", "execute_input")
    )


def apply_deployment(ns: str, name: str, image: str = "nginx", replicas: int = 1, wait: bool = True):
    """A Deployment made with kubectl (not the verb under test): pods app=NAME, one container
    NAME on port 80, stopped at once when deleted."""
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": name, "image": image, "ports": [{"containerPort": 80}]}],
                },
            },
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(manifest))
    if wait:
        kubectl("rollout", "status", f"deployment/{name}", "-n", ns, "--timeout=120s", timeout=130)


def pod_names(ns: str, app: str) -> list[str]:
    """The running pods of app=APP that are not being deleted."""
    pods = json.loads(kubectl("get", "pods", "-n", ns, "-l", f"app={app}", "--field-selector=status.phase=Running", "-o", "json").stdout)
    return sorted(p["metadata"]["name"] for p in pods["items"] if not p["metadata"].get("deletionTimestamp"))


def proxy_get(ns: str, target: str, path: str) -> None:
    """A GET through the API server's proxy (services/NAME:80 or pods/NAME:80), for access logs."""
    kind, name = target.split("/")
    kubectl("get", "--raw", f"/api/v1/namespaces/{ns}/{kind}/{name}:80/proxy/{path.lstrip('/')}", check=False, timeout=20)


def numbers_on_line_with(text: str, token: str) -> list[int]:
    """The numbers on the lines of `text` that have `token` as a word of their own."""
    found = []
    for line in text.splitlines():
        words = [w.strip(":,|()") for w in line.split()]
        if token in words:
            found += [int(w) for w in words if w.isdigit() and w != token]
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deployment(ns: str, name: str) -> dict:
    return json.loads(kubectl("get", "deployment", name, "-n", ns, "-o", "json").stdout)


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ns(k8s_kernel, namespace):
    """The module's namespace, made the kernel's namespace, with `web`: nginx, 2 replicas, and
    a service web:80 (made with kubectl, so the tests of other verbs do not depend on run)."""
    kubectl("create", "namespace", namespace)
    ok(k8s_kernel, f"%k8s use namespace {namespace}")
    apply_deployment(namespace, "web", replicas=2)
    kubectl("expose", "deployment", "web", "-n", namespace, "--port", "80")
    return namespace


# -- run ------------------------------------------------------------------------------------


def test_run_shows_live_progress_until_available(k8s_kernel, ns):
    start = time.monotonic()
    text, msgs = ok(k8s_kernel, "%k8s run live --image nginx --replicas 2 --port 80", timeout=150)
    took = time.monotonic() - start
    display_id, updates, last = live_display(msgs)
    assert updates, f"the progress display was never updated:\n  {summary(msgs)}"
    assert "available" in last.lower() and "2/2" in last, last
    dep = deployment(ns, "live")
    assert dep["status"].get("availableReplicas") == 2, dep["status"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 80
    assert took < 120, f"took {took:.1f} s"


def test_run_no_wait_returns_at_once(k8s_kernel, ns):
    start = time.monotonic()
    text, msgs = ok(k8s_kernel, "%k8s run nowait --image nginx --no-wait", timeout=30)
    took = time.monotonic() - start
    assert took < 5, f"--no-wait took {took:.1f} s"
    assert "nowait" in text, text
    assert deployment(ns, "nowait")["spec"]["replicas"] == 1
    kubectl("delete", "deployment", "nowait", "-n", ns, "--wait=false")


def test_run_missing_image_fails_with_image_pull_error(k8s_kernel, ns):
    image = f"no-such-image-{uuid.uuid4().hex[:6]}"
    start = time.monotonic()
    reply, msgs, text = failed(k8s_kernel, f"%k8s run nopull --image {image} --timeout 2m", timeout=150)
    took = time.monotonic() - start
    assert reply["content"]["ename"] in ("ImagePullBackOff", "ErrImagePull"), describe(reply, msgs)
    assert image in reply["content"]["evalue"], reply["content"]["evalue"]
    assert took < 90, f"the image pull error took {took:.1f} s to be reported"
    kubectl("delete", "deployment", "nopull", "-n", ns, "--wait=false", check=False)


def test_run_too_big_fails_unschedulable(k8s_kernel, ns):
    start = time.monotonic()
    reply, msgs, text = failed(k8s_kernel, "%k8s run huge --image nginx --cpu 100 --timeout 2m", timeout=150)
    took = time.monotonic() - start
    assert reply["content"]["ename"] == "Unschedulable", describe(reply, msgs)
    assert "Insufficient cpu" in reply["content"]["evalue"], reply["content"]["evalue"]
    assert took < 60, f"took {took:.1f} s"
    kubectl("delete", "deployment", "huge", "-n", ns, "--wait=false", check=False)


def test_run_crashing_command_fails_with_crash_loop_and_its_logs(k8s_kernel, ns):
    start = time.monotonic()
    reply, msgs, text = failed(
        k8s_kernel, "%k8s run crash --image busybox --timeout 2m -- sh -c 'echo boom; exit 1'", timeout=150
    )
    took = time.monotonic() - start
    assert reply["content"]["ename"] == "CrashLoopBackOff", describe(reply, msgs)
    assert "boom" in text, text
    assert took < 100, f"took {took:.1f} s"
    kubectl("delete", "deployment", "crash", "-n", ns, "--wait=false", check=False)


# -- exec -----------------------------------------------------------------------------------


def test_exec_streams_output(k8s_kernel, ns):
    text, msgs = ok(k8s_kernel, "%k8s exec deploy/web -- ls /usr/share/nginx/html")
    assert "index.html" in stream_text(msgs), describe({"content": {}}, msgs)
    pod = pod_names(ns, "web")[0]
    text, msgs = ok(k8s_kernel, f"%k8s exec {pod} -c web -- cat /etc/hostname")
    assert stream_text(msgs).strip() == pod, stream_text(msgs)


def test_exec_stderr_and_exit_code(k8s_kernel, ns):
    reply, msgs, text = failed(k8s_kernel, "%k8s exec deploy/web -- sh -c 'echo out; echo err >&2; exit 3'")
    assert stream_text(msgs, "stdout") == "out\n", describe(reply, msgs)
    assert stream_text(msgs, "stderr") == "err\n", describe(reply, msgs)
    assert reply["content"]["ename"] == "ExitCode", describe(reply, msgs)
    assert reply["content"]["evalue"] == "command terminated with exit code 3", reply["content"]["evalue"]


def test_exec_stdin_from_the_input_box(k8s_kernel, ns):
    k = k8s_kernel
    msg_id = k.kc.execute("%k8s exec deploy/web -i -- cat", allow_stdin=True)
    answers = ["hello", ""]
    asked = 0
    deadline = time.monotonic() + 60
    reply = None
    while reply is None:
        assert time.monotonic() < deadline, f"no reply; input requests so far: {asked}"
        try:
            req = k.kc.get_stdin_msg(timeout=0.5)
        except Empty:
            reply = k.poll_reply(msg_id, 0.05)
            continue
        if req["msg_type"] == "input_request":
            asked += 1
            k.kc.input(answers.pop(0) if answers else "")
    msgs = k.wait_idle(msg_id)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert asked >= 2, f"{asked} input requests"
    assert "hello" in stream_text(msgs), describe(reply, msgs)


def test_exec_cell_body_is_stdin(k8s_kernel, ns):
    text, msgs = ok(k8s_kernel, "%%k8s exec deploy/web -- sh -c 'cat > /tmp/body; wc -l < /tmp/body; cat /tmp/body'\nline one\nline two\n")
    out = stream_text(msgs)
    assert out.splitlines()[0].strip() == "2", out
    assert "line one\nline two" in out, out


# -- logs -----------------------------------------------------------------------------------


def test_logs_of_two_replicas_have_pod_prefixes(k8s_kernel, ns):
    pods = pod_names(ns, "web")
    assert len(pods) == 2, pods
    for p in pods:
        proxy_get(ns, f"pods/{p}", "/")
    text, msgs = ok(k8s_kernel, "%k8s logs deploy/web --tail 5")
    prefixes = {line.split()[0] for line in stream_text(msgs).splitlines() if line.strip()}
    assert prefixes == {f"[pod/{p}/web]" for p in pods}, text


def test_logs_follow_streams_new_lines_until_the_timeout(k8s_kernel, ns):
    k = k8s_kernel
    marker = f"follow-{uuid.uuid4().hex[:8]}"
    start = time.monotonic()
    msg_id = k.kc.execute("%k8s logs deploy/web -f --timeout 3s")

    def traffic():
        for i in range(4):
            time.sleep(0.5)
            proxy_get(ns, "services/web", f"/{marker}-{i}")

    t = threading.Thread(target=traffic)
    t.start()
    reply = k.reply(msg_id, timeout=30)
    msgs = k.wait_idle(msg_id)
    took = time.monotonic() - start
    t.join()
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    out = stream_text(msgs)
    seen = [i for i in range(4) if f"/{marker}-{i}" in out]
    assert len(seen) >= 3, f"new lines not streamed ({seen}):\n{out[-2000:]}"
    assert 2.5 < took < 12, f"took {took:.1f} s"
    # Streamed as they came, not all at once at the end.
    streams = [m for m in msgs if m["msg_type"] == "stream" and marker in m["content"]["text"]]
    assert len(streams) >= 2, f"the new lines came in {len(streams)} message(s)"


def test_logs_stats_counts_requests_by_status_and_path(k8s_kernel, ns):
    k = k8s_kernel
    apply_deployment(ns, "stats")
    kubectl("expose", "deployment", "stats", "-n", ns, "--port", "80")
    deadline = time.monotonic() + 30
    while not kubectl("get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=stats", "-o",
                      "jsonpath={.items[*].endpoints[*].conditions.ready}").stdout.count("true"):
        assert time.monotonic() < deadline, "service stats has no ready endpoint"
        time.sleep(0.5)
    for _ in range(5):
        ok(k, "%k8s http svc/stats/")
    for _ in range(3):
        reply, msgs, text = failed(k, "%k8s http svc/stats/missing")
        assert "HTTP 404" in text, text
    text, msgs = ok(k, "%k8s logs deploy/stats --stats --timeout 3s", timeout=30)
    display_id, updates, last = live_display(msgs)
    assert updates, f"the statistics were never updated:\n  {summary(msgs)}"
    assert 8 in numbers_on_line_with(last, "total") or re.search(r"\b8 requests\b", last), last
    assert 5 in numbers_on_line_with(last, "200"), last
    assert 3 in numbers_on_line_with(last, "404"), last
    assert 5 in numbers_on_line_with(last, "/"), last
    assert 3 in numbers_on_line_with(last, "/missing"), last
    html = [m for m in msgs if m["msg_type"] in ("display_data", "update_display_data")][-1]["content"]["data"]
    assert "text/html" in html and "404" in html["text/html"], html.keys()


# -- set image, rollout ---------------------------------------------------------------------


def revisions(history: str) -> dict[str, str]:
    """REVISION → IMAGES of a `rollout history` table (its first columns as kubectl's)."""
    lines = [l for l in history.splitlines() if l.strip()]
    header = next(i for i, l in enumerate(lines) if l.split()[:1] == ["REVISION"])
    assert lines[header].split()[:3] == ["REVISION", "IMAGES", "CHANGE-CAUSE"], history
    rows = {}
    for line in lines[header + 1:]:
        m = re.match(r"(\d+)(?: \(current\))?\s+(\S+)", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_set_image_rollout_status_history_undo_restart(k8s_kernel, ns):
    k = k8s_kernel
    apply_deployment(ns, "roll")
    text, _ = ok(k, "%k8s set image deploy/roll roll=redis")
    assert "image updated" in text or "roll" in text, text
    assert deployment(ns, "roll")["spec"]["template"]["spec"]["containers"][0]["image"] == "redis"

    text, msgs = ok(k, "%k8s rollout status deploy/roll --timeout 2m", timeout=150)
    _, _, last = live_display(msgs)
    assert "successfully rolled out" in last or "successfully rolled out" in text, text
    dep = deployment(ns, "roll")
    assert dep["status"].get("updatedReplicas") == 1 and dep["status"].get("availableReplicas") == 1, dep["status"]

    text, msgs = ok(k, "%k8s rollout history deploy/roll")
    assert revisions(text) == {"1": "nginx", "2": "redis"}, text

    text, _ = ok(k, "%k8s rollout undo deploy/roll")
    assert "rolled back" in text or "roll" in text, text
    assert deployment(ns, "roll")["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    text, _ = ok(k, "%k8s rollout status deploy/roll --timeout 2m", timeout=150)
    assert "successfully rolled out" in text, text

    ok(k, "%k8s set image deploy/roll roll=redis")
    ok(k, "%k8s rollout status deploy/roll --timeout 2m", timeout=150)
    # As in kubectl, going back to revision 1 renumbered it 3; redis (2) came back as 4.
    text, _ = ok(k, "%k8s rollout history deploy/roll")
    assert revisions(text) == {"3": "nginx", "4": "redis"}, text
    ok(k, "%k8s rollout undo deploy/roll --to-revision 3")
    assert deployment(ns, "roll")["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    ok(k, "%k8s rollout status deploy/roll --timeout 2m", timeout=150)

    before = set(pod_names(ns, "roll"))
    text, _ = ok(k, "%k8s rollout restart deploy/roll")
    assert "restarted" in text, text
    annotations = deployment(ns, "roll")["spec"]["template"]["metadata"].get("annotations", {})
    assert "kubectl.kubernetes.io/restartedAt" in annotations, annotations
    text, _ = ok(k, "%k8s rollout status deploy/roll --timeout 2m", timeout=150)
    assert "successfully rolled out" in text, text
    after = set(pod_names(ns, "roll"))
    assert after and not (after & before), f"{before} -> {after}"


def test_set_image_of_a_missing_container_says_which_exist(k8s_kernel, ns):
    apply_deployment(ns, "roll2", wait=False)
    reply, msgs, text = failed(k8s_kernel, "%k8s set image deploy/roll2 nosuch=redis")
    assert "nosuch" in reply["content"]["evalue"], describe(reply, msgs)
    kubectl("delete", "deployment", "roll2", "-n", ns, "--wait=false", check=False)


# -- autoscale, top -------------------------------------------------------------------------


def test_autoscale_makes_an_hpa(k8s_kernel, ns):
    text, _ = ok(k8s_kernel, "%k8s autoscale deploy/web --min 1 --max 4 --cpu-percent 50")
    assert "web" in text, text
    hpa = json.loads(kubectl("get", "hpa.v2.autoscaling", "web", "-n", ns, "-o", "json").stdout)
    assert hpa["apiVersion"] == "autoscaling/v2", hpa["apiVersion"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, hpa["spec"]
    assert hpa["spec"]["minReplicas"] == 1 and hpa["spec"]["maxReplicas"] == 4, hpa["spec"]
    metric = hpa["spec"]["metrics"][0]["resource"]
    assert metric["name"] == "cpu" and metric["target"]["averageUtilization"] == 50, metric
    text, _ = ok(k8s_kernel, "%k8s get hpa")
    lines = text.splitlines()
    assert lines[0].split()[0] == "NAME", text
    assert any(l.split()[:1] == ["web"] for l in lines[1:]), text
    # Keep web at 2 replicas for the tests after this one.
    kubectl("delete", "hpa", "web", "-n", ns)
    kubectl("scale", "deployment", "web", "-n", ns, "--replicas=2")


def retry_metrics(k, cell: str, must_have: list[str], within: float = 90) -> str:
    """Runs a `top` cell until it shows a table; in between the only error allowed is
    MetricsUnavailable."""
    deadline = time.monotonic() + within
    while True:
        reply, msgs = k.execute(cell, timeout=30)
        c = reply["content"]
        if c["status"] == "ok":
            text = shown(msgs)
            for part in must_have:
                assert part in text, f"{part!r} not in:\n{text}"
            return text
        assert c["ename"] == "MetricsUnavailable", describe(reply, msgs)
        assert time.monotonic() < deadline, f"still no metrics after {within:.0f} s: {c['evalue']}"
        time.sleep(5)


@pytest.mark.timeout(200)
def test_top_nodes_and_pods(k8s_kernel, ns):
    text = retry_metrics(k8s_kernel, "%k8s top nodes", ["CPU", "kubernel"])
    header = text.splitlines()[0].split()
    assert header[0] == "NAME" and any(h.startswith("CPU") for h in header) and any(h.startswith("MEMORY") for h in header), text
    text = retry_metrics(k8s_kernel, "%k8s top pods -n kube-system", ["CPU", "coredns"])
    text = retry_metrics(k8s_kernel, "%k8s top pods -A -l k8s-app=kube-dns", ["coredns", "kube-system"])


# -- port-forward ---------------------------------------------------------------------------


def http_get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except OSError:
        return True


def test_port_forward_in_the_background_list_and_stop(k8s_kernel, ns):
    k = k8s_kernel
    port = free_port()
    start = time.monotonic()
    text, _ = ok(k, f"%k8s port-forward svc/web {port}:80", timeout=30)
    assert time.monotonic() - start < 10, "the cell should end once the forward runs"
    assert f"Forwarding from 127.0.0.1:{port} -> " in text, text
    page = http_get(f"http://127.0.0.1:{port}/")
    assert "nginx" in page.lower(), page[:300]
    # Several requests over the one forward, and another cell runs meanwhile.
    for _ in range(3):
        assert "nginx" in http_get(f"http://127.0.0.1:{port}/").lower()
    ok(k, "%k8s get pods")

    port2 = free_port()
    pod = pod_names(ns, "web")[0]
    text, _ = ok(k, f"%k8s port-forward pod/{pod} {port2}:80", timeout=30)
    assert f"Forwarding from 127.0.0.1:{port2} -> " in text, text
    assert "nginx" in http_get(f"http://127.0.0.1:{port2}/").lower()

    text, _ = ok(k, "%k8s port-forward")
    assert "svc/web" in text or "service/web" in text, text
    assert str(port) in text and str(port2) in text, text

    text, _ = ok(k, "%k8s port-forward --stop svc/web")
    deadline = time.monotonic() + 5
    while not refused(port):
        assert time.monotonic() < deadline, f"port {port} still open after --stop"
        time.sleep(0.2)
    assert not refused(port2), "stopping svc/web stopped the pod's forward too"
    text, _ = ok(k, "%k8s port-forward")
    assert str(port) not in text and str(port2) in text, text

    ok(k, "%k8s port-forward --stop")
    deadline = time.monotonic() + 5
    while not refused(port2):
        assert time.monotonic() < deadline, f"port {port2} still open after --stop"
        time.sleep(0.2)


def test_port_forward_deploy_with_local_port_chosen(k8s_kernel, ns):
    k = k8s_kernel
    # kubectl's habit: ":80" asks for a free local port, shown in the answer.
    text, _ = ok(k, "%k8s port-forward deploy/web :80", timeout=30)
    m = re.search(r"Forwarding from 127\.0\.0\.1:(\d+) -> ", text)
    assert m, text
    port = int(m.group(1))
    assert "nginx" in http_get(f"http://127.0.0.1:{port}/").lower()
    ok(k, "%k8s port-forward --stop")
    deadline = time.monotonic() + 5
    while not refused(port):
        assert time.monotonic() < deadline, f"port {port} still open after --stop"
        time.sleep(0.2)


# -- cleanup (a kernel of its own: cleanup deletes everything its session made) ---------------


@pytest.fixture
def own_kernel(kernelspec, tmp_path):
    env = dict(ENV)
    env["KUBERNEL_HISTORY"] = str(tmp_path / "history")
    k = Kernel.start(env=env)
    try:
        yield k
    finally:
        k.close()


def test_cleanup_leaves_nothing_of_the_session(own_kernel):
    k = own_kernel
    ns = f"kubernel-test-{uuid.uuid4().hex[:8]}"
    try:
        ok(k, f"%%k8s apply\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
        ok(k, f"%k8s use namespace {ns}")
        ok(k, "%k8s run tidy --image nginx --port 80 --replicas 1", timeout=150)
        ok(k, "%k8s expose deploy/tidy --port 80")
        ok(k, "%k8s autoscale deploy/tidy --min 1 --max 2 --cpu-percent 80")
        text, _ = ok(k, "%k8s owned")
        m = re.search(r"this session \(([^)]+)\)", text)
        assert m, text
        session = m.group(1)
        for part in ("deployment.apps", "tidy", "service", "horizontalpodautoscaler", ns):
            assert part in text, f"{part!r} not in:\n{text}"
        text, _ = ok(k, "%k8s cleanup", timeout=60)
        assert f'namespace "{ns}" deleted' in text, text
        selector = f"app.kubernetes.io/managed-by=kubernel,kubernel.io/session={session}"
        deadline = time.monotonic() + 90
        while True:
            left = kubectl("get", "deploy,rs,pods,svc,hpa,cm", "-A", "-l", selector, "-o", "name").stdout.strip()
            left_ns = kubectl("get", "namespaces", "-l", selector, "-o", "name").stdout.strip()
            if not left and not left_ns:
                break
            assert time.monotonic() < deadline, f"still there 90 s after cleanup:\n{left}\n{left_ns}"
            time.sleep(2)
        text, _ = ok(k, "%k8s owned")
        assert "Nothing created by this session" in text, text
    finally:
        kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
