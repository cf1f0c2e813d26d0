"""%k8s explain, wait, patch and auth can-i through the real kernel, against the local cluster,
each checked against kubectl's own output for the same objects, and their bad inputs.

Everything lives in a namespace of the module's own (kubernel-test-<random>), deleted at the end.
"""
from __future__ import annotations

import json
import threading
import time

import pytest

from conftest import kubectl
from kernel_harness import of_type, stream_text
from test_k8s import complete, write_kubeconfig
from test_k8s_apps import apply_deployment, failed as apps_failed, live_display, ok as apps_ok

pytestmark = pytest.mark.timeout(240)


def run(k, code: str, timeout: float = 60) -> tuple[str, str, list[dict]]:
    """Runs a cell that must succeed; returns its stdout, its stderr and its messages."""
    _, msgs = apps_ok(k, code, timeout)
    return stream_text(msgs), stream_text(msgs, "stderr"), msgs


def failed(k, code: str, timeout: float = 60) -> tuple[dict, list[dict]]:
    """Runs a cell that must fail; returns its reply's content and its messages."""
    reply, msgs, _ = apps_failed(k, code, timeout)
    return reply["content"], msgs


def kubectl_out(*args: str) -> str:
    return kubectl(*args).stdout


@pytest.fixture(scope="module")
def ns(k8s_kernel, namespace):
    """The module's namespace, made the kernel's, with `web` (nginx, 2 replicas, available)."""
    kubectl("create", "namespace", namespace)
    apps_ok(k8s_kernel, f"%k8s use namespace {namespace}")
    apply_deployment(namespace, "web", replicas=2)
    return namespace


# -- explain --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "what",
    [
        "deploy",  # a kind of a group, by its short name
        "po.spec.containers",  # a list of objects: its description and the item type's
        "deployments.apps.spec.replicas",  # kind.group, then fields
        "svc.spec.type",  # a field with an enum
        "pods.spec.containers.resources.limits",  # a map of a referenced type
        "ns",  # the core group: no GROUP line
    ],
)
def test_explain_prints_what_kubectl_prints(k8s_kernel, ns, what):
    out, _, _ = run(k8s_kernel, f"%k8s explain {what}")
    assert out == kubectl_out("explain", what), f"explain {what} differs from kubectl's"


def test_explain_recursive_matches_kubectl(k8s_kernel, ns):
    out, _, _ = run(k8s_kernel, "%k8s explain deploy.spec.strategy --recursive")
    assert out == kubectl_out("explain", "deploy.spec.strategy", "--recursive")
    out, _, _ = run(k8s_kernel, "%k8s explain cm -R")
    assert out == kubectl_out("explain", "cm", "-R")
    assert "  binaryData\t<map[string]string>\n" in out, out
    # A deep one, and one whose schema refers to itself (a CRD's JSONSchemaProps): kubectl stops
    # at the first repeat, and so do we.
    for what in ("pods", "crd.spec.versions.schema"):
        out, _, _ = run(k8s_kernel, f"%k8s explain {what} --recursive")
        assert out == kubectl_out("explain", what, "--recursive"), f"explain {what} --recursive differs from kubectl's"


def test_explain_api_version_matches_kubectl(k8s_kernel, ns):
    out, _, _ = run(k8s_kernel, "%k8s explain hpa.spec.metrics --api-version autoscaling/v2")
    assert out == kubectl_out("explain", "hpa.spec.metrics", "--api-version", "autoscaling/v2")
    assert "VERSION:    v2" in out


def test_explain_a_wrong_field_names_the_path_and_the_fields_there(k8s_kernel, ns):
    c, _ = failed(k8s_kernel, "%k8s explain deploy.spec.replica")
    assert c["ename"] == "NotFound", c
    said = kubectl("explain", "deploy.spec.replica", check=False).stderr.strip().removeprefix("error: ")
    assert said == 'field "replica" does not exist' and said in c["evalue"], (said, c)
    assert "in deploy.spec" in c["evalue"] and "did you mean replicas?" in c["evalue"], c
    assert "minReadySeconds, paused, progressDeadlineSeconds, replicas" in c["evalue"], c
    c, _ = failed(k8s_kernel, "%k8s explain deploy.spec.replicas.x")
    assert "deploy.spec.replicas is <integer> and has no fields" in c["evalue"], c


def test_explain_bad_input(k8s_kernel, ns):
    c, _ = failed(k8s_kernel, "%k8s explain deplyo")
    assert c["ename"] == "UnknownKind" and "did you mean deployments?" in c["evalue"], c
    c, _ = failed(k8s_kernel, "%k8s explain")
    assert c["ename"] == "UsageError" and "which kind?" in c["evalue"], c
    c, _ = failed(k8s_kernel, "%k8s explain pods nodes")
    assert "'nodes' is one too many" in c["evalue"], c
    c, _ = failed(k8s_kernel, "%k8s explain pods.spec.containers[0]")
    assert "without [n]" in c["evalue"], c
    c, _ = failed(k8s_kernel, "%k8s explain pods --recursve")
    assert c["evalue"] == "%k8s explain: unknown flag --recursve", c


# -- patch ----------------------------------------------------------------------------------


def data(ns: str, cm: str) -> dict:
    return json.loads(kubectl_out("-n", ns, "get", "cm", cm, "-o", "json")).get("data", {})


def test_patch_strategic_merge_json_and_yaml_as_kubectl(k8s_kernel, ns):
    k = k8s_kernel
    kubectl("-n", ns, "create", "configmap", "p1", "--from-literal=a=1")
    out, _, _ = run(k, """%k8s patch cm p1 -p '{"data":{"b":"2"}}'""")
    assert out == "configmap/p1 patched\n", out
    assert data(ns, "p1") == {"a": "1", "b": "2"}
    # The same patch again changes nothing; kubectl says so the same way.
    theirs = kubectl_out("-n", ns, "patch", "cm", "p1", "-p", '{"data":{"b":"2"}}')
    out, _, _ = run(k, """%k8s patch configmap/p1 -p '{"data":{"b":"2"}}'""")
    assert out == theirs == "configmap/p1 patched (no change)\n", (out, theirs)
    # YAML, and a merge patch that removes a key.
    out, _, _ = run(k, "%k8s patch cm p1 --type merge -p 'data: {c: \"3\", a: null}'")
    assert out == "configmap/p1 patched\n" and data(ns, "p1") == {"b": "2", "c": "3"}
    # A JSON patch: a list of operations.
    out, _, _ = run(k, """%k8s patch cm p1 --type=json -p '[{"op":"remove","path":"/data/b"},{"op":"add","path":"/data/d","value":"4"}]'""")
    assert out == "configmap/p1 patched\n" and data(ns, "p1") == {"c": "3", "d": "4"}
    theirs = kubectl_out("-n", ns, "patch", "cm", "p1", "--type=json", "-p", '[{"op":"replace","path":"/data/d","value":"4"}]')
    out, _, _ = run(k, """%k8s patch cm p1 --type json -p '[{"op":"replace","path":"/data/d","value":"4"}]'""")
    assert out == theirs, (out, theirs)


def test_patch_strategic_merges_lists_by_key_where_merge_replaces(k8s_kernel, ns):
    k = k8s_kernel
    apply_deployment(ns, "pat", wait=False)
    env = '{"spec":{"template":{"spec":{"containers":[{"name":"pat","env":[{"name":"A","value":"1"}]}]}}}}'
    out, _, _ = run(k, f"%k8s patch deploy pat -p '{env}'")
    assert out == "deployment.apps/pat patched\n", out
    container = json.loads(kubectl_out("-n", ns, "get", "deploy", "pat", "-o", "json"))["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx" and container["env"] == [{"name": "A", "value": "1"}], "merged by name, image kept"
    # Once the rollout the patch started is over: while the controller still writes the
    # Deployment's status, kubectl's own "no change" check sees a change (it compares objects).
    kubectl_out("-n", ns, "rollout", "status", "deploy/pat", "--timeout=120s")
    assert kubectl_out("-n", ns, "patch", "deploy", "pat", "-p", env) == "deployment.apps/pat patched (no change)\n"
    # A merge patch replaces the list: the container has no image, and the server says so.
    c, _ = failed(k, f"%k8s patch deploy/pat --type merge -p '{env}'")
    assert c["ename"] == "Invalid" and "image" in c["evalue"], c


def test_patch_bad_input_is_refused_before_anything_is_sent(k8s_kernel, ns):
    k = k8s_kernel
    kubectl("-n", ns, "create", "configmap", "p2", "--from-literal=a=1")
    before = kubectl_out("-n", ns, "get", "cm", "p2", "-o", "jsonpath={.metadata.resourceVersion}")
    c, _ = failed(k, """%k8s patch cm p2 -p '{"data":'""")
    assert c["ename"] == "UsageError" and "-p is not valid JSON: EOF while parsing" in c["evalue"], c
    c, _ = failed(k, """%k8s patch cm p2 --type json -p '{"op":"add","path":"/data/x","value":"1"}'""")
    assert "a json patch is a list of operations" in c["evalue"] and "this is an object" in c["evalue"], c
    c, _ = failed(k, """%k8s patch cm p2 --type json -p '[{"op":"frob","path":"/data/a"}]'""")
    assert "unknown variant `frob`" in c["evalue"], c
    c, _ = failed(k, """%k8s patch cm p2 -p '[{"op":"add","path":"/data/x","value":"1"}]'""")
    assert "is an object" in c["evalue"] and "--type json" in c["evalue"], c
    c, _ = failed(k, """%k8s patch cm p2 --type apply -p '{}'""")
    assert c["evalue"] == "%k8s patch: --type 'apply': use strategic, merge or json", c
    assert "strategic" in kubectl("-n", ns, "patch", "cm", "p2", "--type", "apply", "-p", "{}", check=False).stderr
    c, _ = failed(k, "%k8s patch cm p2")
    assert "-p PATCH is needed" in c["evalue"], c
    c, _ = failed(k, """%k8s patch cm -p '{}'""")
    assert "which cm?" in c["evalue"], c
    c, _ = failed(k, """%k8s patch cm p2 -p '{}' --replicas 2""")
    assert c["evalue"] == "%k8s patch: --replicas is not a flag of patch", c
    assert kubectl_out("-n", ns, "get", "cm", "p2", "-o", "jsonpath={.metadata.resourceVersion}") == before, "nothing was sent"
    c, _ = failed(k, """%k8s patch cm nope -p '{"data":{"a":"2"}}'""")
    assert c["ename"] == "NotFound" and 'configmaps "nope" not found' in c["evalue"], c


# -- wait -----------------------------------------------------------------------------------


def slow_deployment(ns: str, name: str, ready_after: int) -> None:
    """A Deployment whose one pod becomes ready `ready_after` seconds after it starts."""
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{
                        "name": name,
                        "image": "busybox",
                        "command": ["sh", "-c", f"sleep {ready_after}; touch /tmp/ready; sleep 3600"],
                        "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1},
                    }],
                },
            },
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(manifest))


def test_wait_for_a_condition_already_met_says_what_kubectl_says(k8s_kernel, ns):
    out, _, msgs = run(k8s_kernel, "%k8s wait deploy/web --for=condition=Available")
    assert out == kubectl_out("-n", ns, "wait", "deploy/web", "--for=condition=Available") == "deployment.apps/web condition met\n"
    assert not of_type(msgs, "display_data"), "nothing to wait for: no live line"


def test_wait_shows_the_state_live_until_the_condition_is_met(k8s_kernel, ns):
    slow_deployment(ns, "slow", ready_after=4)
    start = time.monotonic()
    out, _, msgs = run(k8s_kernel, "%k8s wait deploy/slow --for=condition=Available --timeout=90s", timeout=100)
    took = time.monotonic() - start
    assert out == "deployment.apps/slow condition met\n", out
    assert took > 3, f"it waited for the pod ({took:.1f} s)"
    _, updates, last = live_display(msgs)
    seen = [m["content"]["data"]["text/plain"] for m in of_type(msgs, "display_data") + updates]
    assert any("waiting for condition=Available on deployment.apps/slow: " in s for s in seen), seen
    assert any("Available=False" in s or "no conditions yet" in s or "no Available condition" in s for s in seen), seen
    assert "met by deployment.apps/slow" in last, last
    assert kubectl_out("-n", ns, "wait", "deploy/slow", "--for=condition=Available") == out


def test_wait_jsonpath_and_all_match_kubectl(k8s_kernel, ns):
    k = k8s_kernel
    out, _, _ = run(k, "%k8s wait pods -l app=web --for=jsonpath='{.status.phase}'=Running")
    theirs = kubectl_out("-n", ns, "wait", "pods", "-l", "app=web", "--for=jsonpath={.status.phase}=Running")
    assert sorted(out.splitlines()) == sorted(theirs.splitlines()) and len(theirs.splitlines()) == 2, (out, theirs)
    out, _, _ = run(k, "%k8s wait deploy --all --for=jsonpath=.status.readyReplicas=2 -l app=web")
    assert out == "deployment.apps/web condition met\n", out
    # -A: a label of this test's own, so that other namespaces' pods do not count.
    kubectl("-n", ns, "label", "pods", "-l", "app=web", f"ewpa={ns}")
    out, _, _ = run(k, f"%k8s wait pods -l ewpa={ns} -A --for=condition=Ready")
    assert sorted(out.splitlines()) == sorted(theirs.splitlines()), out
    # Any value: the path only has to be set.
    out, _, _ = run(k, "%k8s wait deploy/web --for=jsonpath={.status.availableReplicas}")
    assert out == kubectl_out("-n", ns, "wait", "deploy/web", "--for=jsonpath={.status.availableReplicas}")


def test_wait_for_delete_as_kubectl(k8s_kernel, ns):
    k = k8s_kernel
    kubectl("-n", ns, "create", "configmap", "doomed")
    timer = threading.Timer(2.0, lambda: kubectl("-n", ns, "delete", "configmap", "doomed"))
    timer.start()
    try:
        start = time.monotonic()
        out, _, msgs = run(k, "%k8s wait --for=delete cm/doomed --timeout=30s")
        took = time.monotonic() - start
    finally:
        timer.join()
    assert out == "configmap/doomed condition met\n", out
    assert 1.5 < took < 10, f"it ended when the object went ({took:.1f} s)"
    _, _, last = live_display(msgs)
    assert "met by configmap/doomed" in last, last
    # What is not there is deleted already: kubectl prints nothing, and neither do we.
    theirs = kubectl("-n", ns, "wait", "--for=delete", "cm/doomed")
    out, _, _ = run(k, "%k8s wait --for=delete cm/doomed")
    assert out == theirs.stdout == "", (out, theirs.stdout)
    out, _, _ = run(k, "%k8s wait --for=delete cm -l nothing=here")
    assert out == "", out


def test_wait_for_create_then_more_as_kubectl(k8s_kernel, ns):
    k = k8s_kernel
    timer = threading.Timer(2.0, lambda: kubectl("-n", ns, "create", "configmap", "later"))
    timer.start()
    try:
        out, _, msgs = run(k, "%k8s wait cm/later --for=jsonpath={.metadata.name}=later --for=create --timeout=30s")
    finally:
        timer.join()
    _, _, last = live_display(msgs)
    assert "met by configmap/later" in last, last
    # One line a condition met, create first, as kubectl prints them.
    theirs = kubectl_out("-n", ns, "wait", "cm/later", "--for=jsonpath={.metadata.name}=later", "--for=create")
    assert out == theirs == "configmap/later condition met\n" * 2, (out, theirs)


def test_wait_timeout_names_what_is_not_met_and_how_it_is(k8s_kernel, ns):
    start = time.monotonic()
    c, msgs = failed(k8s_kernel, "%k8s wait deploy/web --for=condition=Available=false --timeout=2s")
    took = time.monotonic() - start
    assert 1.8 < took < 8, f"the timeout is 2 s ({took:.1f} s)"
    said = kubectl("-n", ns, "wait", "deploy/web", "--for=condition=Available=false", "--timeout=2s", check=False).stderr.strip()
    assert said == "error: timed out waiting for the condition on deployments/web", said
    assert c["ename"] == "Timeout" and c["evalue"].startswith(said.removeprefix("error: ")), c
    assert "(2s): Available=True" in c["evalue"], c
    _, _, last = live_display(msgs)
    assert "timed out" in last and "web (Available=True" in last, last
    # Several objects: each named with its state.
    c, _ = failed(k8s_kernel, "%k8s wait pods -l app=web --for=jsonpath={.status.phase}=Pending --timeout=1s")
    pods = sorted(kubectl_out("-n", ns, "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}").split())
    for p in pods:
        assert f"pods/{p}" in c["evalue"] and f"{p}: {{.status.phase}} is Running" in c["evalue"], c


def test_wait_timeout_zero_checks_once(k8s_kernel, ns):
    out, _, _ = run(k8s_kernel, "%k8s wait deploy/web --for=condition=Available --timeout=0")
    assert out == "deployment.apps/web condition met\n"
    c, _ = failed(k8s_kernel, "%k8s wait deploy/web --for=condition=Available=false --timeout=0")
    said = kubectl("-n", ns, "wait", "deploy/web", "--for=condition=Available=false", "--timeout=0", check=False).stderr.strip()
    assert said == "error: condition not met for deployments/web", said
    assert c["evalue"].startswith(said.removeprefix("error: ")), c


def test_wait_bad_input(k8s_kernel, ns):
    k = k8s_kernel
    c, _ = failed(k, "%k8s wait deploy/web --for=frob")
    assert c["ename"] == "UsageError" and "'frob' is not a condition; use condition=NAME" in c["evalue"], c
    assert 'unrecognized condition: "frob"' in kubectl("-n", ns, "wait", "deploy/web", "--for=frob", check=False).stderr
    c, _ = failed(k, "%k8s wait deploy/web")
    assert "--for is needed" in c["evalue"], c
    c, _ = failed(k, "%k8s wait deploy --for=delete")
    assert "which deploy?" in c["evalue"], c
    c, _ = failed(k, "%k8s wait deploy/web -l app=web --for=delete")
    assert "do not go together" in c["evalue"], c
    c, _ = failed(k, "%k8s wait deploy/web --for=condition=Available --timeout=soon")
    assert "is not a duration" in c["evalue"], c
    c, _ = failed(k, "%k8s wait deploy/web --for=jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'=True")
    assert "filters" in c["evalue"] and "--for=condition=NAME" in c["evalue"], c
    # The cluster's answers, named.
    c, _ = failed(k, "%k8s wait pod/nonexist --for=condition=Ready")
    assert c["ename"] == "NotFound" and 'pods "nonexist" not found' in c["evalue"], c
    assert 'pods "nonexist" not found' in kubectl("-n", ns, "wait", "pod/nonexist", "--for=condition=Ready", check=False).stderr
    c, _ = failed(k, "%k8s wait pods -l app=nothing --for=condition=Ready")
    assert "no matching resources found" in c["evalue"], c
    assert "no matching resources found" in kubectl("-n", ns, "wait", "pods", "-l", "app=nothing", "--for=condition=Ready", check=False).stderr
    c, _ = failed(k, "%k8s wait deploy/web --for=jsonpath='{.spec}'=x --timeout=5s")
    assert "{.spec} is an object" in c["evalue"], c
    assert "nested object" in kubectl("-n", ns, "wait", "deploy/web", "--for=jsonpath={.spec}=x", "--timeout=5s", check=False).stderr


def test_interrupting_a_wait_stops_it_and_says_so(k8s_kernel, ns):
    k = k8s_kernel
    msg_id = k.kc.execute("%k8s wait deploy/web --for=condition=Available=false --timeout=120s")
    k.wait_iopub(msg_id, lambda m: m["msg_type"] == "display_data", timeout=20)
    time.sleep(0.5)
    k.km.interrupt_kernel()
    reply = k.reply(msg_id, timeout=15)
    msgs = k.wait_idle(msg_id)
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "Interrupted", reply["content"]
    _, _, last = live_display(msgs)
    assert "(stopped)" in last, last
    out, _, _ = run(k, "%k8s wait deploy/web --for=condition=Available")
    assert out == "deployment.apps/web condition met\n", "the kernel keeps serving"


# -- auth can-i -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reader(ns, tmp_path_factory):
    """A kubeconfig for a service account that may get and list pods in the namespace only."""
    kubectl("-n", ns, "create", "serviceaccount", "reader")
    kubectl("-n", ns, "create", "role", "pod-reader", "--verb=get,list", "--resource=pods")
    kubectl("-n", ns, "create", "rolebinding", "reader-reads", "--role=pod-reader", f"--serviceaccount={ns}:reader")
    token = kubectl_out("create", "token", "reader", "-n", ns, "--duration=30m").strip()
    view = json.loads(kubectl_out("config", "view", "--raw", "--minify", "-o", "json"))
    cluster = view["clusters"][0]["cluster"]
    return write_kubeconfig(tmp_path_factory.mktemp("reader") / "reader.json", cluster["server"], token, cluster.get("certificate-authority-data"))


def test_can_i_yes_and_no_as_kubectl(k8s_kernel, ns, reader):
    k = k8s_kernel
    answers = []
    for question in ["get pods", "list pods", "delete pods", "create deployments.apps", "get pods/web", "get /healthz", "get pods -A"]:
        args = question.split() + ([] if "-A" in question else ["-n", ns])
        theirs = kubectl("--kubeconfig", str(reader), "auth", "can-i", *args, check=False)
        out, _, _ = run(k, f"%k8s auth can-i {' '.join(args)} --kubeconfig {reader}")
        assert out == theirs.stdout, (question, out, theirs.stdout)
        answers.append(out.strip())
    assert answers == ["yes", "yes", "no", "no", "yes", "yes", "no"], answers
    # The session's own user (the cluster's admin) may.
    out, _, _ = run(k, "%k8s auth can-i create deployments")
    assert out == kubectl_out("-n", ns, "auth", "can-i", "create", "deployments") == "yes\n"


def test_can_i_warnings_as_kubectl(k8s_kernel, ns):
    theirs = kubectl("-n", ns, "auth", "can-i", "frob", "pods", check=False)
    out, err, _ = run(k8s_kernel, "%k8s auth can-i frob pods")
    assert out == theirs.stdout and err.strip() == theirs.stderr.strip() == "Warning: verb 'frob' is not a known verb", (out, err, theirs)
    theirs = kubectl("-n", ns, "auth", "can-i", "get", "nothings", check=False)
    out, err, _ = run(k8s_kernel, "%k8s auth can-i get nothings")
    assert out == theirs.stdout and err.strip() == theirs.stderr.strip(), (out, err, theirs)
    theirs = kubectl("-n", ns, "auth", "can-i", "get", "nodes", check=False)
    out, err, _ = run(k8s_kernel, "%k8s auth can-i get nodes")
    assert out == theirs.stdout and err.strip() == theirs.stderr.strip() == "Warning: resource 'nodes' is not namespace scoped", (err, theirs)


def test_can_i_list_is_kubectls_table(k8s_kernel, ns, reader):
    k = k8s_kernel
    text, _ = apps_ok(k, f"%k8s auth can-i --list -n {ns} --kubeconfig {reader}")
    theirs = kubectl_out("--kubeconfig", str(reader), "-n", ns, "auth", "can-i", "--list")
    assert text.strip() == theirs.strip(), f"ours:\n{text}\nkubectl's:\n{theirs}"
    assert "pods   " in theirs and "[get list]" in theirs
    text, _ = apps_ok(k, f"%k8s auth can-i --list -n {ns} --kubeconfig {reader} --no-headers")
    theirs = kubectl_out("--kubeconfig", str(reader), "-n", ns, "auth", "can-i", "--list", "--no-headers")
    assert text.strip() == theirs.strip(), f"ours:\n{text}\nkubectl's:\n{theirs}"


def test_can_i_bad_input(k8s_kernel, ns):
    k = k8s_kernel
    c, _ = failed(k, "%k8s auth can-i get")
    assert c["ename"] == "UsageError" and "write auth can-i VERB KIND" in c["evalue"], c
    assert "you must specify two arguments" in kubectl("auth", "can-i", "get", check=False).stderr
    c, _ = failed(k, "%k8s auth whoami")
    assert "'whoami' is not in kubernel yet" in c["evalue"], c
    c, _ = failed(k, "%k8s auth can-i --list get pods")
    assert "--list takes no VERB or KIND" in c["evalue"], c
    c, _ = failed(k, "%k8s auth can-i get pods --quiet")
    assert c["evalue"] == "%k8s auth: unknown flag --quiet", c


# -- completion and the verb list ------------------------------------------------------------


def test_completion_of_the_new_verbs(k8s_kernel, ns):
    k = k8s_kernel
    run(k, "%k8s get pods")  # connected, so names and schemas can be offered
    assert "%k8s explain deploy.spec" in complete(k, "%k8s explain deploy.sp")
    assert "%k8s explain po.spec.containers" in complete(k, "%k8s explain po.spec.cont")
    assert "%k8s wait deploy/web" in complete(k, "%k8s wait deploy/w")
    assert "%k8s patch deploy web" in complete(k, "%k8s patch deploy w")
    assert complete(k, "%k8s auth ") == ["%k8s auth can-i"]
    assert "%k8s auth can-i create" in complete(k, "%k8s auth can-i cr")
    assert "%k8s wait deploy/web --for" in complete(k, "%k8s wait deploy/web --fo")
    for verb in ("explain", "patch", "wait", "auth"):
        c, _ = failed(k, f"%k8s {verb} --frob")
        assert "is not in kubernel yet" not in c["evalue"], c
