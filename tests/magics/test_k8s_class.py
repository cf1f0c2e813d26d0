"""What a class hit in its first hour with %k8s (issue: defects found by trying the tutorials as
a class would), through the real kernel against the local cluster. Each test failed before its
fix.

Everything lives in a namespace of the module's own (kubernel-test-<random>), deleted at the end.
"""
from __future__ import annotations

import os
import stat
import textwrap
import time

import pytest

from conftest import ENV, kubectl
from kernel_harness import Kernel, describe, stream_text
from test_k8s_apps import failed as apps_failed, ok as apps_ok, shown

pytestmark = pytest.mark.timeout(240)


def ok(k, code: str, timeout: float = 60) -> str:
    """Runs a cell that must succeed; returns all the text it showed."""
    return apps_ok(k, code, timeout)[0]


def failed(k, code: str, timeout: float = 60) -> tuple[dict, str]:
    """Runs a cell that must fail; returns its reply's content and all the text it showed."""
    reply, _, text = apps_failed(k, code, timeout)
    return reply["content"], text


@pytest.fixture(scope="module")
def ns(namespace):
    kubectl("create", "namespace", namespace)
    return namespace


def test_connect_keeps_the_chosen_namespace(k8s_kernel, ns):
    k = k8s_kernel
    ok(k, f"%k8s use namespace {ns}")
    text = ok(k, "%k8s connect")
    assert f"Namespace: {ns}" in text, text
    assert f"No resources found in {ns} namespace." in ok(k, "%k8s get pods")
    text = ok(k, "%k8s connect --namespace default")
    assert "Namespace: default" in text, text
    assert "No resources found in default namespace." in ok(k, "%k8s get configmaps -l nothing=here")
    ok(k, f"%k8s use namespace {ns}")


def test_http_to_a_service_without_pods_says_so_at_once(k8s_kernel, ns):
    kubectl("-n", ns, "create", "service", "clusterip", "nop", "--tcp=80:80")
    # Until the endpoints controller has seen the service, the proxy says `endpoints "nop" not
    # found` instead; a class's services are older than that.
    deadline = time.monotonic() + 15
    while kubectl("-n", ns, "get", "endpoints", "nop", check=False).returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    started = time.monotonic()
    c, text = failed(k8s_kernel, f"%k8s http svc/nop/ -n {ns}")
    took = time.monotonic() - started
    assert took < 3, f"the API server answers at once, the cell took {took:.1f} s"
    assert 'no endpoints available for service "nop"' in c["evalue"], c
    assert "did not answer" not in c["evalue"], c
    started = time.monotonic()
    c, _ = failed(k8s_kernel, f"%k8s http svc/nop:81/ -n {ns}")
    assert time.monotonic() - started < 3
    assert "no service port 81" in c["evalue"], c


def test_run_does_not_replace_what_someone_else_made(k8s_kernel, ns):
    k = k8s_kernel
    kubectl("-n", ns, "create", "deployment", "clash", "--image=nginx")
    c, text = failed(k, f"%k8s run clash --image busybox --no-wait -n {ns}")
    assert c["ename"] == "AlreadyExists", c
    assert "kubectl" in c["evalue"] and "--overwrite" in c["evalue"], c
    image = kubectl("-n", ns, "get", "deploy", "clash", "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert image == "nginx", "the classmate's Deployment is untouched"
    # The same cell run again in the same session stays idempotent.
    ok(k, f"%k8s run mine --image nginx --no-wait -n {ns}")
    ok(k, f"%k8s run mine --image nginx --no-wait -n {ns}")
    # Replacing it is asked for explicitly.
    ok(k, f"%k8s run clash --image nginx:1.27 --no-wait --overwrite -n {ns}")
    image = kubectl("-n", ns, "get", "deploy", "clash", "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert image == "nginx:1.27"


def test_run_made_by_another_kubernel_session_is_not_replaced(kernelspec, ns):
    other = Kernel.start(env=dict(ENV))
    try:
        ok(other, f"%k8s run theirs --image nginx --no-wait -n {ns}")
    finally:
        other.close()
    mine = Kernel.start(env=dict(ENV))
    try:
        c, _ = failed(mine, f"%k8s run theirs --image busybox --no-wait -n {ns}")
        assert c["ename"] == "AlreadyExists" and "another kubernel session" in c["evalue"], c
    finally:
        mine.close()


def test_apply_checks_every_document_before_applying_any(k8s_kernel, ns):
    cell = textwrap.dedent(
        """\
        %%k8s apply -n NS
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: first}
        data: {a: "1"}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: Not_Valid}
        data: {a: "2"}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: third}
        data: {a: "3"}
        """
    ).replace("NS", ns)
    c, text = failed(k8s_kernel, cell)
    assert c["ename"] == "Invalid", c
    assert "Not_Valid" in c["evalue"] and "line 7" in c["evalue"], c
    assert "nothing was applied" in c["evalue"], c
    for name in ("first", "third"):
        assert kubectl("-n", ns, "get", "cm", name, check=False).returncode != 0, f"{name} must not be applied"
    # All valid: all applied, each named.
    text = ok(k8s_kernel, cell.replace("Not_Valid", "second"))
    for name in ("first", "second", "third"):
        assert f"configmap/{name} serverside-applied" in text, text
        assert kubectl("-n", ns, "get", "cm", name, check=False).returncode == 0


def test_history_is_private(kernelspec, tmp_path):
    data = tmp_path / "data"
    folder = data / "kubernel"
    folder.mkdir(parents=True)
    os.chmod(folder, 0o755)
    history = folder / "history.jsonl"
    history.write_text("")
    os.chmod(history, 0o644)
    env = dict(ENV)
    env.pop("KUBERNEL_HISTORY", None)
    env["XDG_DATA_HOME"] = str(data)
    k = Kernel.start(env=env)
    try:
        ok(k, "%lsmagic")
    finally:
        k.close()
    assert "%lsmagic" in history.read_text(), "the history is kept where it was"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600, oct(history.stat().st_mode)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700, oct(folder.stat().st_mode)


def header_of(text: str) -> list[str]:
    """The column names of the first table in a text: split on runs of two or more spaces."""
    import re

    first = next(l for l in text.splitlines() if l.strip())
    return re.split(r"\s{2,}", first.strip())


def test_get_jobs_and_cronjobs_have_kubectls_columns(k8s_kernel, ns):
    kubectl("-n", ns, "create", "job", "once", "--image=busybox", "--", "true")
    kubectl("-n", ns, "create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", "--", "true")
    for kind in ("jobs", "cronjobs"):
        theirs = kubectl("-n", ns, "get", kind).stdout
        mine = ok(k8s_kernel, f"%k8s get {kind} -n {ns}")
        assert header_of(mine) == header_of(theirs), f"{kind}:\n{mine}\nkubectl:\n{theirs}"
        assert len(header_of(mine)) > 2, mine
    mine = ok(k8s_kernel, f"%k8s get cronjobs tick -n {ns}")
    assert "*/5 * * * *" in mine, mine
    # Several kinds in one get keep each kind's columns.
    mine = ok(k8s_kernel, f"%k8s get jobs,cronjobs -n {ns}")
    assert "job.batch/once" in mine and "cronjob.batch/tick" in mine and "SCHEDULE" in mine, mine


def test_version_cluster_info_and_api_resources_match_kubectl(k8s_kernel):
    server = [l for l in kubectl("version").stdout.splitlines() if l.startswith("Server Version:")][0]
    assert server in ok(k8s_kernel, "%k8s version")
    theirs = kubectl("cluster-info").stdout.splitlines()[0]
    assert theirs in ok(k8s_kernel, "%k8s cluster-info")
    import re

    def rows(text):
        return {tuple(re.split(r"\s{2,}", l.strip())[-3:]) for l in text.splitlines()[1:] if l.strip()}

    theirs = rows(kubectl("api-resources").stdout)
    mine = rows(ok(k8s_kernel, "%k8s api-resources"))
    assert mine == theirs, f"only kubectl: {theirs - mine}; only kubernel: {mine - theirs}"


def test_rollout_status_after_undo_judges_only_the_new_revision(k8s_kernel, ns):
    k = k8s_kernel
    ok(k, f"%k8s run back --image nginx -n {ns}", timeout=120)
    ok(k, f"%k8s set image deploy/back back=nginx:no-such-tag -n {ns}")
    c, _ = failed(k, f"%k8s rollout status deploy/back -n {ns} --timeout 60s", timeout=90)
    assert c["ename"] in ("ErrImagePull", "ImagePullBackOff"), c
    ok(k, f"%k8s rollout undo deploy/back -n {ns}")
    text = ok(k, f"%k8s rollout status deploy/back -n {ns} --timeout 60s", timeout=90)
    assert "successfully rolled out" in text, text


def test_wording_a_class_met(k8s_kernel, ns, tmp_path):
    k = k8s_kernel
    c, _ = failed(k, "%k8s cp a b")
    # cp is a verb now: its own usage error, not "did you mean top?".
    assert c["evalue"].startswith("%k8s cp: ") and "did you mean" not in c["evalue"], c
    c, _ = failed(k, "%k8s scale deploy/back --replicas -1")
    assert c["evalue"] == "%k8s scale: --replicas '-1' is not a number of replicas", c
    c, _ = failed(k, "%k8s apply -f /no/such/file.yaml")
    assert "/no/such/file.yaml" in c["evalue"] and "no such file" in c["evalue"] and "entity" not in c["evalue"], c
    kubectl("-n", ns, "create", "secret", "generic", "db", "--from-literal=password=s3cr3t-passw0rd!!")
    text = ok(k, f"%k8s describe secret db -n {ns}")
    assert "17 bytes" in text and "s3cr3t" not in text, text


def test_no_kubeconfig_names_where_it_looked(kernelspec, tmp_path):
    env = dict(ENV)
    env["KUBECONFIG"] = str(tmp_path / "missing-kubeconfig")
    k = Kernel.start(env=env)
    try:
        c, _ = failed(k, "%k8s get pods")
        assert c["ename"] == "ConfigError", c
        assert str(tmp_path / "missing-kubeconfig") in c["evalue"] and "No such file" not in c["evalue"], c
    finally:
        k.close()


def pod_yaml(name: str, ns: str, command: str, init_sleep: int = 0, cpu: str | None = None) -> str:
    init = (
        f"  initContainers:\n  - name: first\n    image: busybox\n    command: [sh, -c, 'sleep {init_sleep}']\n"
        if init_sleep
        else ""
    )
    res = f"    resources: {{requests: {{cpu: '{cpu}'}}}}\n" if cpu else ""
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{init}"
        f"  containers:\n  - name: main\n    image: busybox\n    command: [sh, -c, {command!r}]\n{res}"
    )


def test_logs_of_pods_that_have_not_started(k8s_kernel, ns):
    k = k8s_kernel
    kubectl("apply", "-f", "-", input=pod_yaml("huge", ns, "echo never", cpu="64"))
    text = ok(k, f"%k8s logs huge -n {ns}")
    assert "no logs yet" in text and "pod huge has not started yet (Pending)" in text, text
    # -f waits for a pod that is still starting, visibly, then follows it.
    kubectl("apply", "-f", "-", input=pod_yaml("late", ns, "echo hello-from-late; sleep 60", init_sleep=3))
    reply, msgs = k.execute(f"%k8s logs late -f --timeout 20s -n {ns}", timeout=60)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    text = shown(msgs)
    assert "waiting for late" in text and "started after" in text, text
    assert "hello-from-late" in stream_text(msgs), text


def test_exec_into_a_crashed_container_says_its_state(k8s_kernel, ns):
    kubectl("apply", "-f", "-", input=pod_yaml("crashy", ns, "echo boom; exit 3"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = kubectl("-n", ns, "get", "pod", "crashy", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}", check=False).stdout
        if state == "CrashLoopBackOff":
            break
        time.sleep(0.5)
    c, _ = failed(k8s_kernel, f"%k8s exec crashy -n {ns} -- ls")
    assert c["ename"] == "NotRunning", c
    assert "waiting (CrashLoopBackOff)" in c["evalue"] and "exit code 3" in c["evalue"], c
    assert "HTTP 500" not in c["evalue"], c


def test_get_output_forms_match_kubectl(k8s_kernel, ns):
    k = k8s_kernel
    for name, tier in (("cm-b", "back"), ("cm-a", "front")):
        kubectl("-n", ns, "create", "configmap", name, "--from-literal=k=v")
        kubectl("-n", ns, "label", "configmap", name, f"tier={tier}")
    import shlex

    same = [
        ["get", "configmaps", "-l", "tier", "-o", "jsonpath={.items[*].metadata.name}"],
        ["get", "configmaps", "-l", "tier", "-o", 'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.metadata.labels.tier}{"\\n"}{end}'],
        ["get", "configmaps", "-l", "tier", "-o", "custom-columns=NAME:.metadata.name,TIER:.metadata.labels.tier"],
        ["get", "configmaps", "-l", "tier", "--no-headers", "-o", "custom-columns=NAME:.metadata.name"],
        ["get", "configmaps", "cm-a", "-o", "jsonpath={.data.k}"],
        ["get", "configmaps", "-l", "tier", "--sort-by=.metadata.labels.tier", "-o", "custom-columns=NAME:.metadata.name"],
        ["get", "configmaps", "--field-selector", "metadata.name=cm-b", "-o", "custom-columns=NAME:.metadata.name"],
    ]
    for args in same:
        theirs = kubectl("-n", ns, *args).stdout
        mine = ok(k, f"%k8s {shlex.join(args)} -n {ns}")
        assert mine.strip() == theirs.strip(), f"{args}\nkubernel:\n{mine}\nkubectl:\n{theirs}"
    text = ok(k, f"%k8s get configmaps -l tier --show-labels -L tier -n {ns}")
    assert header_of(text)[-2:] == ["TIER", "LABELS"], text
    assert "tier=front" in text and "kubernetes.io" not in text.split("LABELS", 1)[0], text
    assert "NAME" not in ok(k, f"%k8s get configmaps -l tier --no-headers -n {ns}")


def test_get_all_lists_the_all_category(k8s_kernel, ns):
    kubectl("-n", ns, "create", "deployment", "everything", "--image=nginx")
    kubectl("-n", ns, "create", "job", "alljob", "--image=busybox", "--", "true")
    kubectl("-n", ns, "wait", "--for=create", "pod", "-l", "app=everything", "--timeout=30s", check=False)
    text = ok(k8s_kernel, f"%k8s get all -n {ns}")
    theirs = kubectl("-n", ns, "get", "all").stdout
    for word in ("deployment.apps/everything", "replicaset.apps/everything-", "pod/everything-", "job.batch/alljob"):
        assert word in theirs, f"kubectl shows {word}:\n{theirs}"
        assert word in text, f"{word} missing:\n{text}"


def test_logs_previous_of_a_restarted_container(k8s_kernel, ns):
    # Each run lives a few seconds, so the previous container is not swapped for
    # a newer one while both clients read it.
    kubectl("apply", "-f", "-", input=pod_yaml("again", ns, "echo run-$(date +%s%N); sleep 4; exit 1"))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        restarts = kubectl("-n", ns, "get", "pod", "again", "-o", "jsonpath={.status.containerStatuses[0].restartCount}", check=False).stdout
        if restarts and int(restarts) >= 1:
            break
        time.sleep(0.5)
    # The kubelet can briefly fail to read a just-replaced container's log
    # (kubectl too says "unable to retrieve container logs"); read again then.
    theirs = mine = ""
    while time.monotonic() < deadline:
        theirs = kubectl("-n", ns, "logs", "again", "-p", check=False).stdout
        if "run-" in theirs:
            mine = ok(k8s_kernel, f"%k8s logs again -p -n {ns}")
            if "run-" in mine:
                break
        time.sleep(1)
    assert "run-" in theirs, theirs
    assert "run-" in mine, mine


def test_label_and_annotate_as_kubectl_does(k8s_kernel, ns):
    k = k8s_kernel
    kubectl("-n", ns, "create", "configmap", "tagged", "--from-literal=k=v")
    text = ok(k, f"%k8s label configmap tagged tier=front team=blue -n {ns}")
    assert "configmap/tagged labeled" in text, text
    labels = kubectl("-n", ns, "get", "cm", "tagged", "-o", "jsonpath={.metadata.labels}").stdout
    assert '"tier":"front"' in labels and '"team":"blue"' in labels, labels
    c, _ = failed(k, f"%k8s label configmap tagged tier=back -n {ns}")
    assert "already has a value (front)" in c["evalue"] and "--overwrite" in c["evalue"], c
    ok(k, f"%k8s label configmap tagged tier=back team- --overwrite -n {ns}")
    labels = kubectl("-n", ns, "get", "cm", "tagged", "-o", "jsonpath={.metadata.labels}").stdout
    assert '"tier":"back"' in labels and "team" not in labels, labels
    assert "configmap/tagged annotated" in ok(k, f"%k8s annotate cm/tagged note=hello -n {ns}")
    assert kubectl("-n", ns, "get", "cm", "tagged", "-o", "jsonpath={.metadata.annotations.note}").stdout == "hello"


def test_create_makes_what_kubectl_create_makes(k8s_kernel, ns):
    k = k8s_kernel
    other = f"{ns}-made"
    assert f"namespace/{other} created" in ok(k, f"%k8s create namespace {other}")
    try:
        c, _ = failed(k, f"%k8s create namespace {other}")
        assert c["ename"] == "AlreadyExists", c
        assert "deployment.apps/made created" in ok(k, f"%k8s create deployment made --image nginx:1.27 --replicas 2 -n {ns}")
        kubectl("-n", ns, "create", "deployment", "theirs-made", "--image=nginx:1.27", "--replicas=2")
        fields = "jsonpath={.spec.replicas} {.spec.selector.matchLabels} {.spec.template.spec.containers[0].name} {.spec.template.spec.containers[0].image}"
        mine = kubectl("-n", ns, "get", "deploy", "made", "-o", fields).stdout
        theirs = kubectl("-n", ns, "get", "deploy", "theirs-made", "-o", fields).stdout.replace("theirs-made", "made")
        assert mine == theirs, (mine, theirs)
        assert "job.batch/hello created" in ok(k, f"%k8s create job hello --image busybox -n {ns} -- echo hi")
        assert "configmap/settings created" in ok(k, f"%k8s create configmap settings --from-literal a=1 --from-literal b=2 -n {ns}")
        assert kubectl("-n", ns, "get", "cm", "settings", "-o", "jsonpath={.data.b}").stdout == "2"
        assert "secret/pw created" in ok(k, f"%k8s create secret generic pw --from-literal password=s3cr3t -n {ns}")
        import base64

        raw = kubectl("-n", ns, "get", "secret", "pw", "-o", "jsonpath={.data.password}").stdout
        assert base64.b64decode(raw) == b"s3cr3t"
    finally:
        kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_config_contexts_as_kubectl_lists_them(k8s_kernel):
    assert ok(k8s_kernel, "%k8s config current-context").strip() == kubectl("config", "current-context").stdout.strip()
    theirs = kubectl("config", "get-contexts").stdout
    mine = ok(k8s_kernel, "%k8s config get-contexts")
    assert header_of(mine) == header_of(theirs), mine
    current = [l for l in theirs.splitlines() if l.startswith("*")][0].split()[1]
    assert any(l.startswith("*") and current in l for l in mine.splitlines()), mine
