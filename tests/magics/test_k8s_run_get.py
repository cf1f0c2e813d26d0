"""`%k8s run --restart=Never` (a one-off pod, its output streamed) and `%k8s get --into VAR`
(the cluster's objects as a notebook variable), through the real kernel against the local
cluster, checked against kubectl for the same objects.

Everything lives in a namespace of the module's own, deleted at the end.
"""
from __future__ import annotations

import json
import time

import pytest

from conftest import kubectl
from kernel_harness import describe, stream_text
from test_k8s_class import failed, ok

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def ns(namespace):
    kubectl("create", "namespace", namespace)
    return namespace


def pod_phase(ns: str, name: str) -> str | None:
    r = kubectl("-n", ns, "get", "pod", name, "-o", "jsonpath={.status.phase}", check=False)
    return r.stdout if r.returncode == 0 else None


def gone(ns: str, name: str, within: float = 30) -> bool:
    deadline = time.monotonic() + within
    while pod_phase(ns, name) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    return pod_phase(ns, name) is None


def test_run_once_streams_the_output_and_keeps_the_pod(k8s_kernel, ns):
    text = ok(k8s_kernel, f"%k8s run hello --image busybox --restart=Never -n {ns} -- sh -c 'echo one; sleep 1; echo two'", 90)
    assert "pod/hello created" in text, text
    assert text.index("one") < text.index("two"), text
    # kubectl sees the same pod, finished, with the same output.
    assert pod_phase(ns, "hello") == "Succeeded"
    assert kubectl("-n", ns, "logs", "hello").stdout.split() == ["one", "two"]
    restart = kubectl("-n", ns, "get", "pod", "hello", "-o", "jsonpath={.spec.restartPolicy}").stdout
    assert restart == "Never"
    # The same cell again runs the command again (a pod cannot be changed in place).
    uid = kubectl("-n", ns, "get", "pod", "hello", "-o", "jsonpath={.metadata.uid}").stdout
    text = ok(k8s_kernel, f"%k8s run hello --image busybox --restart=Never -n {ns} -- sh -c 'echo again'", 90)
    assert "again" in text, text
    assert kubectl("-n", ns, "get", "pod", "hello", "-o", "jsonpath={.metadata.uid}").stdout != uid


def test_run_once_with_rm_deletes_the_pod(k8s_kernel, ns):
    text = ok(k8s_kernel, f"%k8s run -it --rm gone --image busybox --restart=Never -n {ns} -- echo bye", 90)
    assert "bye" in text and 'pod "gone" deleted' in text, text
    assert gone(ns, "gone"), "--rm deletes the pod"


def test_run_once_failing_command_names_its_exit_code(k8s_kernel, ns):
    c, text = failed(k8s_kernel, f"%k8s run sad --image busybox --restart=Never -n {ns} -- sh -c 'echo trying; exit 3'", 90)
    assert "trying" in text, text
    assert "exited with code 3" in c["evalue"], c
    assert "%k8s delete pod/sad" in c["evalue"], c
    assert kubectl("-n", ns, "get", "pod", "sad", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}").stdout == "3"


def test_run_once_with_a_missing_image_stops_with_the_pull_error(k8s_kernel, ns):
    started = time.monotonic()
    c, _ = failed(k8s_kernel, f"%k8s run nope --image no-such-image:1 --restart=Never --rm -n {ns} -- true", 90)
    assert c["ename"] in ("ErrImagePull", "ImagePullBackOff"), c
    assert time.monotonic() - started < 60
    assert gone(ns, "nope"), "--rm deletes the pod that could not start"


def test_run_once_refusals(k8s_kernel, ns):
    c, _ = failed(k8s_kernel, f"%k8s run sh -it --image busybox --restart=Never -n {ns}")
    assert "no terminal" in c["evalue"] and "%k8s exec" in c["evalue"], c
    c, _ = failed(k8s_kernel, f"%k8s run x --image busybox --rm -n {ns}")
    assert "--restart=Never" in c["evalue"], c
    c, _ = failed(k8s_kernel, f"%k8s run x --image busybox --restart=Sometimes -n {ns}")
    assert "Always, OnFailure or Never" in c["evalue"], c
    kubectl("-n", ns, "run", "theirs", "--image=busybox", "--restart=Never", "--", "true")
    c, _ = failed(k8s_kernel, f"%k8s run theirs --image busybox --restart=Never -n {ns} -- echo mine")
    assert c["ename"] == "AlreadyExists" and "kubectl" in c["evalue"], c


def test_interrupting_a_one_off_pod_deletes_it(k8s_kernel, ns):
    k = k8s_kernel
    msg_id = k.kc.execute(f"%k8s run forever --image busybox --restart=Never -n {ns} -- sh -c 'echo started; sleep 3600'")
    deadline = time.monotonic() + 60
    while pod_phase(ns, "forever") != "Running" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert pod_phase(ns, "forever") == "Running"
    time.sleep(1)
    k.km.interrupt_kernel()
    reply = k.reply(msg_id, timeout=15)
    k.wait_idle(msg_id)
    assert reply["content"]["status"] == "error", reply
    assert gone(ns, "forever"), "the interrupted cell's pod is deleted"
    assert "forever" not in ok(k, f"%k8s get pods -n {ns}"), "the kernel keeps serving"


def test_get_watch_has_the_columns_of_get(k8s_kernel, ns):
    """-w shows the table get shows: the server's columns for jobs, -L and --no-headers."""
    k = k8s_kernel
    kubectl("-n", ns, "create", "job", "tick", "--image=busybox", "--", "true")
    kubectl("-n", ns, "label", "job", "tick", "team=blue")
    msg_id = k.kc.execute(f"%k8s get jobs -n {ns} -w --timeout 3s -L team")
    reply = k.reply(msg_id, timeout=30)
    msgs = k.wait_idle(msg_id)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    shown = [m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] in ("display_data", "update_display_data")]
    last = shown[-1]
    header = last.splitlines()[0].split()
    theirs = kubectl("-n", ns, "get", "jobs", "-L", "team").stdout.splitlines()[0].split()
    assert header == theirs, (header, theirs)
    assert "blue" in last and "stopped after 3s" in last, last
    msg_id = k.kc.execute(f"%k8s get jobs -n {ns} -w --timeout 2s --no-headers")
    k.reply(msg_id, timeout=30)
    last = [m["content"]["data"]["text/plain"] for m in k.wait_idle(msg_id) if m["msg_type"] in ("display_data", "update_display_data")][-1]
    assert last.splitlines()[0].startswith("tick"), last


def test_get_into_binds_the_objects_as_a_variable(k8s_kernel, ns):
    k = k8s_kernel
    for name, value in (("one", "1"), ("two", "2")):
        kubectl("-n", ns, "create", "configmap", name, f"--from-literal=a={value}")
        kubectl("-n", ns, "label", "configmap", name, "set=pair")
    text = ok(k, f"%k8s get cm -l set=pair -n {ns} --into cms")
    assert "cms: Vec<serde_json::Value> = 2 configmaps" in text, text
    assert ok(k, "cms.len()").strip() == "2"
    names = ok(k, 'cms.iter().map(|c| c["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>()')
    theirs = kubectl("-n", ns, "get", "cm", "-l", "set=pair", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert names.strip() == str(theirs).replace("'", '"'), (names, theirs)
    # One name: the object itself, as kubectl get cm one -o json gives it.
    ok(k, f"%k8s get cm one -n {ns} --into one")
    assert ok(k, 'one["data"]["a"].as_str().unwrap().to_string()').strip() == '"1"'
    uid = kubectl("-n", ns, "get", "cm", "one", "-o", "jsonpath={.metadata.uid}").stdout
    assert uid in ok(k, 'one["metadata"]["uid"].to_string()')
    # Wrong names and flags are refused before anything is bound.
    c, _ = failed(k, f"%k8s get cm -n {ns} --into 1x")
    assert "not a Rust variable name" in c["evalue"], c
    c, _ = failed(k, f"%k8s get cm -n {ns} --into x -o yaml")
    assert "does not go with -w or -o" in c["evalue"], c


@pytest.mark.timeout(480)
def test_get_into_is_typed_when_the_notebook_has_k8s_openapi(k8s_kernel, ns):
    k = k8s_kernel
    kubectl("-n", ns, "create", "configmap", "typed", "--from-literal=k=v")
    ok(k, ':dep k8s-openapi = { version = "0.29", features = ["v1_36"] }', 300)
    text = ok(k, f"%k8s get cm typed -n {ns} --into typed", 120)
    assert "typed: k8s_openapi::api::core::v1::ConfigMap" in text, text
    value = ok(k, 'typed.data.as_ref().unwrap()["k"].clone()')
    assert value.strip() == '"v"', value
