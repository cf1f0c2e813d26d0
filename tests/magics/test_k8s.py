"""%k8s through the real kernel (jupyter_client), against the local cluster.

Everything created lives in a namespace of the test's own (kubernel-test-<random>), deleted at
the end. After every error the kernel must still serve: the next cell runs.
"""
from __future__ import annotations

import json
import re
import socket
import textwrap
import time
from pathlib import Path

import pytest

from conftest import ENV, kubectl
from kernel_harness import describe, error_text, of_type, result_text, stream_text

pytestmark = pytest.mark.timeout(180)


def run(k, code: str, timeout: float = 60):
    reply, msgs = k.execute(code, timeout=timeout)
    return reply, msgs


def ok(k, code: str, timeout: float = 60) -> tuple[str, list[dict]]:
    """Runs a cell that must succeed; returns everything it showed as text, and its messages."""
    reply, msgs = run(k, code, timeout)
    assert reply["content"]["status"] == "ok", f"{code!r} failed:\n  {describe(reply, msgs)}"
    shown = stream_text(msgs) + stream_text(msgs, "stderr")
    for m in of_type(msgs, "display_data") + of_type(msgs, "execute_result"):
        shown += m["content"]["data"].get("text/plain", "")
    return shown, msgs


def fails(k, code: str, ename: str, timeout: float = 60) -> str:
    """Runs a cell that must fail with `ename`; returns the error text; checks it is short and
    no Rust debug dump, and that the kernel still serves afterwards."""
    reply, msgs = run(k, code, timeout)
    c = reply["content"]
    assert c["status"] == "error", f"{code!r} should fail:\n  {describe(reply, msgs)}"
    assert c["ename"] == ename, f"{code!r}: {describe(reply, msgs)}"
    evalue = c["evalue"]
    assert "\n" not in evalue.strip(), f"one short message, got {evalue!r}"
    for dump in ("Error {", "Status {", "Api(", "HyperError", "kube::", "backtrace", "panicked"):
        assert dump not in evalue, f"a Rust debug dump leaked: {evalue!r}"
    still_serves(k)
    return error_text(reply, msgs)


def still_serves(k):
    # kernel/src/dispatch/shell.rs aborts the executes queued when a cell fails, and that drain
    # runs after the reply and idle are out: a request sent at once may land in it and come
    # back "aborted". Give it a moment (a kernel race, not what this suite tests).
    time.sleep(0.3)
    reply, msgs = run(k, "%lsmagic", timeout=30)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert "k8s" in (result_text(msgs) or "")


def html_of(msgs) -> str:
    return "".join(m["content"]["data"].get("text/html", "") for m in of_type(msgs, "execute_result"))


# -- connect and examine --------------------------------------------------------------------


def test_connect_shows_the_node_and_api_groups(k8s_kernel):
    text, msgs = ok(k8s_kernel, "%k8s connect")
    server = kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}").stdout
    assert f"Server:" in text and server.rstrip("/") in text, text
    assert "Version:" in text and "v1.36" in text, text
    assert "Namespace: default" in text, text
    node_lines = [l for l in text.splitlines() if l.startswith("kubernel ")]
    assert node_lines and "Ready" in node_lines[0], text
    assert "PREFERRED VERSION" in text and "apps " in text and "(core)" in text, text
    assert "<h5>Nodes (1)</h5>" in html_of(msgs)


def test_get_nodes(k8s_kernel):
    text, msgs = ok(k8s_kernel, "%k8s get nodes")
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"], text
    assert lines[1].startswith("kubernel ") and " Ready " in lines[1], text
    html = html_of(msgs)
    assert "<th style=\"text-align:left\">VERSION</th>" in html and ">kubernel</td>" in html


def test_get_pods_all_namespaces_with_alias_and_short_name(k8s_kernel):
    for cell in ("%k8s get pods -A", "%kubectl get po --all-namespaces"):
        text, _ = ok(k8s_kernel, cell)
        lines = text.splitlines()
        assert lines[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"], text
        assert any(l.startswith("kube-system ") and "coredns" in l for l in lines), text
    wide, _ = ok(k8s_kernel, "%k8s get pods -n kube-system -o wide")
    assert wide.splitlines()[0].split()[-2:] == ["IP", "NODE"], wide
    assert "kubernel" in wide


def test_get_namespaces_and_services(k8s_kernel):
    text, _ = ok(k8s_kernel, "%k8s get ns")
    assert text.splitlines()[0].split() == ["NAME", "STATUS", "AGE"]
    assert "kube-system " in text and "Active" in text
    text, _ = ok(k8s_kernel, "%k8s get svc -n default")
    assert text.splitlines()[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert "kubernetes " in text and "443/TCP" in text


def test_kinds_found_by_discovery(k8s_kernel):
    # A kind outside the built-in short-name table, by plural, by plural.group and by Kind.
    # Kinds without columns of kubernel's own get the server's printing, as kubectl shows them.
    theirs = kubectl("get", "leases", "-n", "kube-node-lease").stdout.splitlines()[0].split()
    for kind in ("leases", "leases.coordination.k8s.io", "Lease"):
        text, _ = ok(k8s_kernel, f"%k8s get {kind} -n kube-node-lease")
        assert text.splitlines()[0].split() == theirs, text
        assert "kubernel" in text, text
    # Cluster-scoped, from an aggregated group.
    text, _ = ok(k8s_kernel, "%k8s get apiservices -o name")
    assert "apiservice.apiregistration.k8s.io/v1.apps" in text, text
    # Events expire after an hour: one of our own, so that there is one to list on any cluster.
    kubectl(
        "apply",
        "-f",
        "-",
        input=(
            "apiVersion: v1\nkind: Event\nmetadata: {name: kubernel-test-event, namespace: default}\n"
            "involvedObject: {kind: Namespace, name: default, apiVersion: v1}\n"
            "reason: Tested\nmessage: an event of the discovery test\ntype: Normal\n"
        ),
    )
    text, _ = ok(k8s_kernel, "%k8s get events -A")
    assert text.splitlines()[0].split()[:4] == ["NAMESPACE", "LAST", "SEEN", "TYPE"], text


# -- apply, get, describe, delete -----------------------------------------------------------

MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: demo-config
  labels:
    app: web
data:
  greeting: hello from kubernel
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx
        ports:
        - containerPort: 80
"""


def wait_ready(k, namespace: str, deployment: str, replicas: int, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while True:
        text, _ = ok(k, f"%k8s get deploy {deployment} -n {namespace}")
        if text.splitlines()[1].split()[1] == f"{replicas}/{replicas}":
            return
        assert time.monotonic() < deadline, (
            f"{deployment} did not become ready:\n{text}\n{kubectl('get', 'pods', '-n', namespace, '-o', 'wide').stdout}"
        )
        time.sleep(1)


def create_namespace(k, namespace: str):
    text, _ = ok(k, f"%%k8s apply\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n")
    assert f"namespace/{namespace} serverside-applied" in text, text


def test_apply_get_describe_delete(k8s_kernel, namespace, tmp_path):
    k = k8s_kernel
    create_namespace(k, namespace)
    text, _ = ok(k, f"%%k8s apply -n {namespace}\n{MANIFEST}")
    assert "configmap/demo-config serverside-applied" in text, text
    assert "deployment.apps/web serverside-applied" in text, text

    # Labels and the field manager, seen by kubectl.
    cm = json.loads(kubectl("get", "configmap", "demo-config", "-n", namespace, "-o", "json", "--show-managed-fields").stdout)
    labels = cm["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "kubernel"
    assert labels["kubernel.io/session"] and labels["app"] == "web"
    assert any(f["manager"] == "kubernel" and f["operation"] == "Apply" for f in cm["metadata"]["managedFields"])

    # get: tables, -o yaml|json|name.
    text, _ = ok(k, f"%k8s get cm demo-config -n {namespace}")
    assert text.splitlines()[0].split() == ["NAME", "DATA", "AGE"]
    assert text.splitlines()[1].split()[:2] == ["demo-config", "1"]
    text, _ = ok(k, f"%k8s get deploy -n {namespace}")
    assert text.splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert text.splitlines()[1].startswith("web "), text
    text, _ = ok(k, f"%k8s get deployment/web -n {namespace} -o yaml")
    assert "kind: Deployment" in text and "image: nginx" in text and "managedFields" not in text, text
    text, msgs = ok(k, f"%k8s get deploy web -n {namespace} -o json")
    assert json.loads(text)["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    text, _ = ok(k, f"%k8s get deploy -n {namespace} -o name")
    assert text.strip() == "deployment.apps/web", text
    text, _ = ok(k, f"%k8s get deploy,cm -n {namespace}")
    assert "deployment.apps/web " in text and "configmap/demo-config " in text, text

    # The deployment comes up: its pod runs nginx.
    wait_ready(k, namespace, "web", 1)
    text, _ = ok(k, f"%k8s get pods -n {namespace} -l app=web")
    assert "Running" in text and "1/1" in text, text

    # logs of the deployment's one pod, then of two, interleaved with a prefix per pod.
    # nginx logs a line per request: send some through the API server's proxy.
    def visit_all_pods():
        pods = kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "name").stdout.split()
        for p in pods:
            for _ in range(2):
                kubectl("get", "--raw", f"/api/v1/namespaces/{namespace}/pods/{p.split('/')[1]}:80/proxy/")

    pod = text.splitlines()[1].split()[0]
    visit_all_pods()
    expected = kubectl("logs", pod, "-n", namespace).stdout
    text, _ = ok(k, f"%k8s logs deploy/web -n {namespace}")
    assert text == expected and "GET / HTTP" in text, f"{text!r} vs {expected!r}"
    text, _ = ok(k, f"%k8s scale deploy/web --replicas 2 -n {namespace}")
    assert "deployment.apps/web scaled to 2" in text, text
    wait_ready(k, namespace, "web", 2)
    visit_all_pods()
    text, _ = ok(k, f"%k8s logs deploy/web -n {namespace} --tail 2")
    prefixes = {line.split()[0] for line in text.splitlines()}
    assert len(prefixes) == 2 and all(p.startswith("[pod/web-") and p.endswith("/nginx]") for p in prefixes), text
    assert len(text.splitlines()) == 4, text
    text, _ = ok(k, f"%k8s logs {pod} -n {namespace} --tail 1 --prefix")
    assert text.startswith(f"[pod/{pod}/nginx] ") and len(text.splitlines()) == 1, text
    assert "no pods for" in fails(k, f"%k8s logs -l app=nothing-here -n {namespace}", "NotFound")

    # describe: metadata, labels, spec highlights, conditions, events.
    text, msgs = ok(k, f"%k8s describe deploy web -n {namespace}")
    for part in ("Name:", "web", "Namespace:", namespace, "app.kubernetes.io/managed-by=kubernel",
                 "Replicas:", "2 desired", "Images:", "nginx", "Conditions:", "Available", "Events:", "ScalingReplicaSet"):
        assert part in text, f"{part!r} not in:\n{text}"
    assert "<h5>Conditions</h5>" in html_of(msgs)
    text, _ = ok(k, f"%k8s describe cm demo-config -n {namespace}")
    assert "greeting:" in text and "hello from kubernel" in text, text
    text, _ = ok(k, f"%k8s describe pods -n {namespace} -l app=web")
    assert "CONTAINER" in text and "nginx" in text and "running" in text, text

    # use namespace: later commands go there.
    text, _ = ok(k, f"%k8s use namespace {namespace}")
    assert f"namespace is now {namespace}" in text
    text, _ = ok(k, "%k8s get cm")
    assert "demo-config" in text, text

    # delete -f: a file with both documents.
    path = tmp_path / "web.yaml"
    path.write_text(MANIFEST)
    text, _ = ok(k, f"%k8s delete -f {path}")
    assert 'configmap "demo-config" deleted' in text and 'deployment.apps "web" deleted' in text, text
    fails(k, "%k8s get cm demo-config", "NotFound")
    text, _ = ok(k, f"%k8s delete -f {path} --ignore-not-found")

    # delete by label, after applying from the file.
    text, _ = ok(k, f"%k8s apply -f {path}")
    assert "deployment.apps/web serverside-applied" in text
    text, _ = ok(k, "%k8s delete deploy -l app.kubernetes.io/managed-by=kubernel")
    assert 'deployment.apps "web" deleted' in text, text
    text, _ = ok(k, "%k8s delete cm -l app=web")
    assert 'configmap "demo-config" deleted' in text, text
    text, _ = ok(k, "%k8s get deploy")
    assert f"No resources found in {namespace} namespace." in text, text

    # delete KIND NAME, of something applied from a directory.
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-dir\n")
    text, _ = ok(k, f"%k8s apply -f {tmp_path / 'dir'}")
    assert "configmap/from-dir serverside-applied" in text, text
    text, _ = ok(k, "%k8s delete cm from-dir")
    assert 'configmap "from-dir" deleted' in text, text
    assert "NotFound" in fails(k, "%k8s delete cm from-dir", "NotFound")
    ok(k, "%k8s use namespace default")


def test_get_watch_updates_in_place(k8s_kernel, namespace):
    k = k8s_kernel
    kubectl("create", "namespace", namespace, check=False)
    kubectl("create", "configmap", "before", "-n", namespace, "--from-literal=a=1", check=False)
    start = time.monotonic()
    msg_id = k.kc.execute(f"%k8s get cm -n {namespace} -w --timeout 6s")
    first = k.wait_iopub(msg_id, lambda m: m["msg_type"] == "display_data", timeout=20)
    display_id = first["content"]["transient"]["display_id"]
    assert "before" in first["content"]["data"]["text/plain"]
    kubectl("create", "configmap", "during", "-n", namespace, "--from-literal=b=2")
    update = k.wait_iopub(
        msg_id,
        lambda m: m["msg_type"] == "update_display_data" and "during" in m["content"]["data"]["text/plain"],
        timeout=20,
    )
    assert update["content"]["transient"]["display_id"] == display_id
    kubectl("delete", "configmap", "during", "-n", namespace)
    reply = k.reply(msg_id, timeout=30)
    msgs = k.wait_idle(msg_id)
    took = time.monotonic() - start
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert 5 < took < 15, f"took {took:.1f} s"
    last = [m for m in msgs if m["msg_type"] == "update_display_data"][-1]["content"]["data"]["text/plain"]
    assert "before" in last and "during" not in last and "stopped after 6s" in last, last
    kubectl("delete", "configmap", "before", "-n", namespace, check=False)


def test_run_expose_endpoints_http(k8s_kernel, namespace):
    k = k8s_kernel
    create_namespace(k, namespace)
    text, _ = ok(k, f"%k8s run hello --image nginx --port 80 --replicas 2 --cpu 10m/100m --memory 16Mi/64Mi -n {namespace}")
    assert f"deployment.apps/hello created or updated in {namespace}" in text, text
    dep = json.loads(kubectl("get", "deployment", "hello", "-n", namespace, "-o", "json").stdout)
    pod_spec = dep["spec"]["template"]["spec"]["containers"][0]
    assert pod_spec["resources"] == {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
    assert dep["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubernel"
    wait_ready(k, namespace, "hello", 2)

    text, _ = ok(k, f"%k8s expose deploy/hello --port 8080 --target-port 80 -n {namespace}")
    assert "service/hello exposes deployment.apps/hello on port 8080" in text, text
    text, _ = ok(k, f"%k8s get svc hello -n {namespace}")
    assert "ClusterIP" in text and "8080/TCP" in text, text

    deadline = time.monotonic() + 60
    while True:
        text, _ = ok(k, f"%k8s endpoints svc/hello -n {namespace}")
        rows = [l.split() for l in text.splitlines()[1:]]
        if len(rows) == 2 and all(r[2] == "true" for r in rows):
            break
        assert time.monotonic() < deadline, text
        time.sleep(1)
    assert text.splitlines()[0].split() == ["ADDRESS", "PORTS", "READY", "NODE", "POD"], text
    assert all(r[1] == "80/TCP" and r[3] == "kubernel" and r[4].startswith("hello-") for r in rows), text

    text, msgs = ok(k, f"%k8s http svc/hello:8080/ -n {namespace}")
    assert text.startswith("HTTP 200 from service/hello:8080/"), text
    assert "nginx" in text.lower(), text
    html = html_of(msgs)
    assert "<" in html and "nginx" in html.lower(), html[:300]
    err = fails(k, f"%k8s http svc/hello:8080/no-such-page -n {namespace}", "HTTPError")
    assert "HTTP 404 from service/hello:8080/no-such-page" in err, err


# -- errors for people ----------------------------------------------------------------------


def test_use_context(k8s_kernel):
    current = kubectl("config", "current-context").stdout.strip()
    text, _ = ok(k8s_kernel, f"%k8s use context {current}")
    assert f"context is now {current}" in text, text
    err = fails(k8s_kernel, "%k8s use context no-such-context", "ConfigError")
    assert f"no context 'no-such-context' in the kubeconfig; it has {current}" in err, err
    text, _ = ok(k8s_kernel, "%k8s get nodes")
    assert "kubernel" in text


def test_unknown_kind(k8s_kernel):
    err = fails(k8s_kernel, "%k8s get podz", "UnknownKind")
    assert "no kind 'podz' on this cluster; did you mean pods?" in err, err


def test_missing_flag_values_and_usage(k8s_kernel):
    assert "%k8s get: -n needs a namespace" in fails(k8s_kernel, "%k8s get pods -n", "UsageError")
    assert "%k8s get: -l needs a label selector" in fails(k8s_kernel, "%k8s get pods -l", "UsageError")
    assert "%k8s apply: -f needs a file name" in fails(k8s_kernel, "%k8s apply -f", "UsageError")
    assert "unknown verb 'gte'; did you mean get?" in fails(k8s_kernel, "%k8s gte pods", "UsageError")
    assert "unknown output format 'tabel'" in fails(k8s_kernel, "%k8s get pods -o tabel", "UsageError")


def test_yaml_error_names_its_line(k8s_kernel, namespace):
    cell = textwrap.dedent(f"""\
        %%k8s apply -n {namespace}
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: good
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: [unclosed
          data: 1
        """)
    err = fails(k8s_kernel, cell, "YAMLError")
    # Cell line 10 (the %%k8s line is line 1) is `  name: [unclosed`; the parser may point
    # at it or at the line after.
    assert any(f"the cell line {n}:" in err for n in (10, 11)), err
    # Nothing was applied: the documents are all checked first.
    assert kubectl("get", "configmap", "good", "-n", namespace, check=False).returncode != 0
    err = fails(k8s_kernel, f"%%k8s apply -n {namespace}\napiVersion: v1\nmetadata:\n  name: x\n", "YAMLError")
    assert "the cell line 2: the document has no kind" in err, err


def write_kubeconfig(path: Path, server: str, token: str | None = None, ca: str | None = None) -> Path:
    cluster = {"server": server}
    if ca:
        cluster["certificate-authority-data"] = ca
    else:
        cluster["insecure-skip-tls-verify"] = True
    user = {"token": token} if token else {"token": "nothing"}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "default"}}],
        "current-context": "ctx",
    }
    path.write_text(json.dumps(config))
    return path


def test_unreachable_server_within_10_s(k8s_kernel, tmp_path):
    # A port nobody listens on: refused at once.
    refused = write_kubeconfig(tmp_path / "refused.json", "https://127.0.0.1:9")
    err = fails(k8s_kernel, f"%k8s connect --kubeconfig {refused}", "Unreachable")
    assert "https://127.0.0.1:9" in err, err
    # A server that takes the connection and never answers (a listening socket nobody
    # accepts from; a far address would not do here, a proxy answers for those): given up
    # after 10 s.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        blackhole = write_kubeconfig(tmp_path / "silent.json", f"https://127.0.0.1:{port}")
        start = time.monotonic()
        err = fails(k8s_kernel, f"%k8s get pods --kubeconfig {blackhole}", "Unreachable", timeout=40)
        took = time.monotonic() - start
    assert f"https://127.0.0.1:{port}" in err and "within 10 s" in err, err
    assert 9 < took < 16, f"took {took:.1f} s"
    # The session's own connection is untouched.
    text, _ = ok(k8s_kernel, "%k8s get nodes")
    assert "kubernel" in text


def test_forbidden_names_verb_resource_and_user(k8s_kernel, namespace, tmp_path):
    kubectl("create", "namespace", namespace, check=False)
    kubectl("create", "serviceaccount", "reader", "-n", namespace, check=False)
    token = kubectl("create", "token", "reader", "-n", namespace, "--duration=10m").stdout.strip()
    view = json.loads(kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    cluster = view["clusters"][0]["cluster"]
    config = write_kubeconfig(tmp_path / "reader.json", cluster["server"], token, cluster.get("certificate-authority-data"))
    err = fails(k8s_kernel, f"%k8s get pods -n kube-system --kubeconfig {config}", "Forbidden")
    assert "list pods" in err and "RBAC" in err, err
    assert f"system:serviceaccount:{namespace}:reader" in err, err
    assert 'cannot list resource "pods"' in err, err


# -- completion -----------------------------------------------------------------------------


def complete(k, code: str) -> list[str]:
    msg_id = k.kc.complete(code, len(code))
    reply = k.reply(msg_id, timeout=20)
    k.wait_idle(msg_id)
    assert reply["content"]["status"] == "ok", reply["content"]
    c = reply["content"]
    # What the frontend would insert.
    return [code[: c["cursor_start"]] + m for m in c["matches"]]


def test_completion(k8s_kernel, namespace):
    k = k8s_kernel
    assert "%k8s get" in complete(k, "%k8s ge")
    assert "%k8s get pods --namespace" in complete(k, "%k8s get pods --names")
    assert "%k8s get pods" in complete(k, "%k8s get po")
    assert "%k8s describe deployments" in complete(k, "%k8s describe deploym")
    assert "%k8s get pods -n kube-system" in complete(k, "%k8s get pods -n kube-s")
    names = complete(k, "%k8s get pods -n kube-system core")
    assert any(n.startswith("%k8s get pods -n kube-system coredns-") for n in names), names
    # svc/NAME completes in the session's namespace (default): kube-dns is not there.
    assert complete(k, "%k8s describe svc/kube-d") == []
    names = complete(k, "%k8s get -n kube-system svc/kube-d")
    assert "%k8s get -n kube-system svc/kube-dns" in names, names


# -- owned and cleanup (last: it deletes the test namespace) ---------------------------------


def test_owned_and_cleanup(k8s_kernel, namespace):
    k = k8s_kernel
    create_namespace(k, namespace)
    ok(k, f"%%k8s apply -n {namespace}\n{MANIFEST}")
    # Made by someone else, in our namespace: not ours.
    kubectl("create", "configmap", "not-ours", "-n", namespace)
    text, msgs = ok(k, "%k8s owned")
    assert "created by this session" in text, text
    lines = text.splitlines()
    assert lines[1].split() == ["KIND", "NAMESPACE", "NAME", "AGE"], text
    rows = {tuple(l.split()[:3]) for l in lines[2:]}
    # A namespace has no namespace: its row reads KIND NAME AGE.
    assert any(r[:2] == ("namespace", namespace) for r in rows), text
    assert ("configmap", namespace, "demo-config") in rows, text
    assert ("deployment.apps", namespace, "web") in rows, text
    assert "not-ours" not in text
    text, msgs = ok(k, "%k8s cleanup")
    lines = text.splitlines()
    # The wait's live line ends in place saying all is gone (or it was gone at once: one line).
    updates = of_type(msgs, "update_display_data")
    final = updates[-1]["content"]["data"]["text/plain"] if updates else lines[-1]
    assert f'configmap "demo-config" deleted in {namespace}' in lines, text
    assert f'deployment.apps "web" deleted in {namespace}' in lines, text
    # Namespaces last, then a wait (shown) until all of it is gone.
    deleted = [l for l in lines if l.endswith(" deleted") or " deleted in " in l]
    assert deleted[-1] == f'namespace "{namespace}" deleted', text
    assert re.fullmatch(r"all \d+ gone in [\d.]+ s", final), final
    text, _ = ok(k, "%k8s owned")
    assert text.startswith("Nothing created by this session"), text
    assert kubectl("get", "deployment", "web", "-n", namespace, check=False).returncode != 0
