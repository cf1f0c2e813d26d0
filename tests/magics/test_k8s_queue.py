"""A work queue on Redis (`kubernel::queue`), through the real kernel against the local cluster:
Redis from the local registry's `redis` image, the notebook filling the queue through a
port-forward, a Job of workers draining it by the service's name, one worker deleted mid-run,
and every result there exactly once.
"""
from __future__ import annotations

import json
import time

import pytest

from conftest import kubectl
from test_k8s_apps import ok as apps_ok
from test_k8s_class import failed, ok
from test_k8s_job import job_pods, ns  # noqa: F401 (ns: the module's own namespace, a fixture)

pytestmark = pytest.mark.timeout(420)

PORT = 16379


def redis_cli(ns: str, *args: str) -> str:
    """Asks the cluster's Redis itself, with its own client in its pod."""
    pod = kubectl("-n", ns, "get", "pods", "-l", "app=redis", "-o", "jsonpath={.items[0].metadata.name}").stdout.strip()
    return kubectl("-n", ns, "exec", pod, "--", "redis-cli", *args).stdout.strip()


@pytest.fixture(scope="module")
def redis(k8s_kernel, ns):
    k = k8s_kernel
    ok(k, "%k8s run redis --image redis --port 6379", 180)
    ok(k, "%k8s expose deploy/redis --port 6379")
    ok(k, f"%k8s port-forward svc/redis {PORT}:6379")
    ok(k, ":dep kubernel", 300)
    ok(k, ':dep serde_json = "1"', 300)
    return ns


def test_workers_drain_the_queue_and_a_deleted_worker_loses_nothing(k8s_kernel, redis):
    k, ns = k8s_kernel, redis
    ok(k, f'let q = kubernel::queue::<u64>("redis://127.0.0.1:{PORT}/tasks").unwrap();\nq.clear().unwrap();\nq.push_all(0..5000u64).unwrap()', 120)
    assert redis_cli(ns, "LLEN", "tasks") == "5000"
    cell = """%%k8s job drain --parallelism 3 --into done
let q = kubernel::queue::<u64>("redis://redis:6379/tasks").unwrap();
q.for_each(|x| {
    std::thread::sleep(std::time::Duration::from_millis(5));
    x * x
})
.unwrap()"""
    msg_id = k.kc.execute(cell)
    # Delete one worker once a fifth of the work is done.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and int(redis_cli(ns, "LLEN", "tasks:results") or 0) < 1000:
        time.sleep(0.5)
    pods = job_pods(ns, "drain")
    assert len(pods) == 3, pods
    kubectl("-n", ns, "delete", "pod", pods[1], "--grace-period=0", "--force", "--wait=false")
    reply = k.reply(msg_id, timeout=300)
    msgs = k.wait_idle(msg_id)
    text = "".join(m["content"].get("text", "") for m in msgs if m["msg_type"] == "stream")
    assert reply["content"]["status"] == "ok", (reply["content"], text)
    # Every item's result, once: as many results as items, each the item's square, in order.
    assert redis_cli(ns, "LLEN", "tasks:results") == "5000"
    got = ok(k, "let r: Vec<u64> = q.wait_results(5000, std::time::Duration::from_secs(60)).unwrap();\nprintln!(\"{}\", serde_json::to_string(&r).unwrap());", 120)
    printed = [line for line in got.splitlines() if line.startswith("[")]
    assert printed and json.loads(printed[-1]) == [x * x for x in range(5000)], got[-300:]
    assert "5000 of 5000 results" in got
    assert redis_cli(ns, "LLEN", "tasks") == "0"
    # The workers that ran to the end did the rest; the one deleted is named as stopped, and its
    # items went back to the queue.
    assert "items) are back in the queue" in text or "item(s) are back in the queue" in text, text


def test_long_lived_workers_taken_away_mid_run_lose_nothing(k8s_kernel, redis):
    k, ns = k8s_kernel, redis
    # The workers start (and wait on an empty queue, listed as workers) before the notebook
    # clears and fills it: a clear must not make them unknown, or their items die with them.
    ok(k, '%%k8s workers drainers --replicas 3\nlet q = kubernel::queue::<u64>("redis://redis:6379/lost").unwrap();\nloop {\n    q.for_each(|x| { std::thread::sleep(std::time::Duration::from_millis(20)); x * x }).unwrap();\n}', 300)
    ok(k, f'let lost = kubernel::queue::<u64>("redis://127.0.0.1:{PORT}/lost").unwrap();\nlost.clear().unwrap();\nlost.push_all(0..1000u64).unwrap();\nstd::thread::sleep(std::time::Duration::from_millis(1500));')
    # Two workers die at once, in the middle of their items.
    pods = kubectl("-n", ns, "get", "pods", "-l", "app=drainers", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert len(pods) == 3, pods
    kubectl("-n", ns, "delete", "pod", pods[0], pods[1], "--grace-period=0", "--force", "--wait=false")
    got = ok(k, "let r: Vec<u64> = lost.wait_results(1000, std::time::Duration::from_secs(120)).unwrap();\nprintln!(\"{}\", serde_json::to_string(&r).unwrap());", 180)
    printed = [line for line in got.splitlines() if line.startswith("[")]
    assert printed and json.loads(printed[-1]) == [x * x for x in range(1000)], got[-300:]
    assert redis_cli(ns, "LLEN", "lost:results") == "1000"
    ok(k, "%k8s delete rs/drainers")


def test_an_empty_queue_ends_the_job(k8s_kernel, redis):
    k = k8s_kernel
    ok(k, f'let e = kubernel::queue::<u64>("redis://127.0.0.1:{PORT}/empty").unwrap();\ne.clear().unwrap();')
    started = time.monotonic()
    text = ok(k, '%%k8s job idle --parallelism 2 --into idle\nkubernel::queue::<u64>("redis://redis:6379/empty").unwrap().for_each(|x| x).unwrap()', 240)
    assert "idle: Vec<u64> = 2 results of job idle" in text, text
    assert ok(k, "idle.clone()").strip() == "[0, 0]"
    assert time.monotonic() - started < 120


def test_a_channel_without_leases(k8s_kernel, redis):
    k = k8s_kernel
    got = ok(k, f'let c = kubernel::queue::<String>("redis://127.0.0.1:{PORT}/chan").unwrap();\nc.clear().unwrap();\nc.push(&"one".to_string()).unwrap();\nc.push(&"two".to_string()).unwrap();\nlet first = c.take(std::time::Duration::from_secs(1)).unwrap();\nlet second = c.take(std::time::Duration::from_secs(1)).unwrap();\nlet none = c.take(std::time::Duration::from_millis(200)).unwrap();\nprintln!("{{:?}} {{:?}} {{:?}}", first, second, none);')
    assert got.strip().splitlines()[-1] == 'Some("one") Some("two") None'


def test_a_bad_address_or_no_redis_is_one_clear_error(k8s_kernel, redis):
    k = k8s_kernel
    _, text = failed(k, 'kubernel::queue::<u64>("http://redis/tasks").map(|_| ()).unwrap()')
    assert "is not a queue's address" in text and "redis://HOST:PORT/NAME" in text, text
    # Nothing listens on this port: the error says so, after the connect timeout.
    _, text = failed(k, 'unsafe { std::env::set_var("KUBERNEL_QUEUE_CONNECT_TIMEOUT", "2") };\nkubernel::queue::<u64>("redis://127.0.0.1:1/tasks").map(|_| ()).unwrap()', 60)
    assert "Redis at 127.0.0.1:1 did not answer within 2 s" in text, text
