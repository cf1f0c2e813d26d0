"""Rolling updates under traffic, through the real kernel against the local cluster: a compiled
web service that answers with its version, a readiness probe and a graceful shutdown, traffic
from a Rust cell (`kubernel::load`) through `%k8s proxy` and the API server's service proxy while
the service is redeployed and rolled back, every request answered; and the same update with
readiness and graceful shutdown taken away, where the failures are counted and named.
"""
from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from conftest import kubectl
from test_k8s_apps import ok as apps_ok
from test_k8s_class import failed, ok
from test_k8s_job import ns  # noqa: F401 (ns: the module's own namespace, a fixture)

pytestmark = pytest.mark.timeout(600)

PROXY_PORT = 18001

# The service as the tutorial writes it: a notebook item, so that each deploy cell is one line.
SERVE = r"""fn serve(version: &str, careful: bool) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::time::Duration;
    static READY: AtomicBool = AtomicBool::new(false);
    let shutdown = kubernel::shutdown::on_sigterm();
    // Warming up (a cache, a model) takes a moment before the port opens.
    std::thread::sleep(Duration::from_secs(2));
    let listener = std::net::TcpListener::bind(format!("0.0.0.0:{}", std::env::var("PORT").unwrap())).unwrap();
    READY.store(true, SeqCst);
    std::thread::spawn(move || {
        shutdown.wait();
        if careful {
            // Not ready any more, so the endpoints drop this pod; answer what still comes.
            READY.store(false, SeqCst);
            std::thread::sleep(Duration::from_secs(3));
        }
        std::process::exit(0);
    });
    let version = version.to_string();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let version = version.clone();
        std::thread::spawn(move || {
            let mut request = [0u8; 2048];
            let n = stream.read(&mut request).unwrap_or(0);
            let (status, body) = if request[..n].starts_with(b"GET /ready") {
                if READY.load(SeqCst) { ("200 OK", "ready\n".to_string()) } else { ("503 Service Unavailable", "stopping\n".to_string()) }
            } else {
                ("200 OK", format!("{version}\n"))
            };
            let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        });
    }
}"""

CAREFUL = "%%k8s deploy web --port 8080 --replicas 2 --readiness /ready --max-surge 1 --max-unavailable 0\n"
CARELESS = "%%k8s deploy web --port 8080 --replicas 2 --max-surge 1 --max-unavailable 0\n"


@pytest.fixture(scope="module")
def web(k8s_kernel, ns):
    k = k8s_kernel
    ok(k, ":dep kubernel", 300)
    ok(k, SERVE, 120)
    ok(k, CAREFUL + 'serve("v1", true)', 300)
    ok(k, "%k8s expose deploy/web --port 80 --target-port 8080")
    text = ok(k, f"%k8s proxy --port {PROXY_PORT}")
    assert f"Starting to serve on 127.0.0.1:{PROXY_PORT}" in text, text
    ok(k, f'let url = "http://127.0.0.1:{PROXY_PORT}/api/v1/namespaces/{ns}/services/web/proxy/";')
    yield ns
    ok(k, "%k8s proxy --stop")


def start_traffic(k) -> str:
    """Starts the load; returns the id of its cell's request, whose display keeps changing."""
    reply, msgs = k.execute("let traffic = kubernel::load::start(url, 100).unwrap();", timeout=60)
    assert reply["content"]["status"] == "ok", msgs
    return reply["parent_header"]["msg_id"]


def stop_traffic(k) -> str:
    ok(k, "assert!(traffic.wait_for_requests(2000, std::time::Duration::from_secs(90)));", 120)
    text, msgs = apps_ok(k, "let report = traffic.stop(); report", 60)
    # The chart is drawn a last time once the requests in flight have come back: its
    # figures are the report's.
    last = [m for m in msgs if m["msg_type"] == "update_display_data"][-1]["content"]["data"]["text/plain"]
    charted = last.split("(stopped): ")[1].split("\n")[0]
    reported = text[text.rindex("\n", 0, text.rindex(" requests in ")) + 1:].split("\n")[0]
    assert charted == reported, f"the last chart says {charted!r}, the report {reported!r}"
    return text


def test_a_rolling_update_and_a_rollback_with_readiness_fail_no_request(k8s_kernel, web):
    k, ns = k8s_kernel, web
    spec = kubectl("-n", ns, "get", "deploy", "web", "-o", "jsonpath={.spec.strategy.rollingUpdate.maxSurge}/{.spec.strategy.rollingUpdate.maxUnavailable} {.spec.template.spec.containers[0].readinessProbe.httpGet.path}").stdout
    assert spec == "1/0 /ready", spec
    load_id = start_traffic(k)
    seen_before = len(k.iopub[load_id])
    ok(k, CAREFUL + 'serve("v2", true)', 300)
    # The traffic's chart went on changing in its own cell while the update ran in another.
    updates = [m for m in k.iopub[load_id][seen_before:] if m["msg_type"] == "update_display_data"]
    assert len(updates) >= 3, f"{len(updates)} updates of the traffic's chart during the update"
    assert "v2" in updates[-1]["content"]["data"]["text/plain"], updates[-1]["content"]["data"]["text/plain"]
    ok(k, "%k8s rollout undo deploy/web", 60)
    ok(k, "%k8s rollout status deploy/web --timeout 2m", 180)
    text = stop_traffic(k)
    # "N requests in T s, 0 failed; v1 A (x%); v2 B (y%)"
    assert ", 0 failed;" in text, text
    count = int(text.split(" requests")[0].split()[-1])
    assert count >= 2000, text
    assert "; v1 " in text and "; v2 " in text, text
    # After the rollback, v1 answers alone again.
    ok(k, "let after = kubernel::load::start(url, 50).unwrap(); after.wait_for_requests(50, std::time::Duration::from_secs(30));")
    last = ok(k, "after.stop()")
    assert "v2" not in last and "0 failed; v1 " in last, last


def test_without_readiness_and_graceful_shutdown_requests_fail(k8s_kernel, web):
    k, ns = k8s_kernel, web
    ok(k, CARELESS + 'serve("v1", false)', 300)
    probe = kubectl("-n", ns, "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].readinessProbe}").stdout
    assert probe == "", f"the readiness probe stayed: {probe}"
    start_traffic(k)
    time.sleep(2)
    ok(k, CARELESS + 'serve("v2", false)', 300)
    text = stop_traffic(k)
    failed_count = int(text.split(" failed")[0].split()[-1])
    assert failed_count > 0, text
    # Each failure is named by its cause (the pod reached before it listened, or after it had
    # gone): the report's "  N failed: CAUSE" lines add up to the count.
    # The report is the last thing shown (the chart's text form, shown before it, says the same).
    report = text[text.rindex(" requests in "):]
    causes = [line.strip() for line in report.splitlines() if line.strip().split(" failed: ")[0].isdigit()]
    assert causes and all(len(c.split(" failed: ")[1]) > 5 for c in causes), text
    assert sum(int(c.split(" failed: ")[0]) for c in causes) == failed_count, text


def test_bad_urls_and_proxy_lines_are_named(k8s_kernel, web):
    k = k8s_kernel
    _, text = failed(k, 'kubernel::load::start("https://web/", 10).unwrap();')
    assert "https is not spoken here" in text, text
    text = ok(k, f"%k8s proxy --port {PROXY_PORT}")
    assert "Already serving" in text, text
    _, text = failed(k, "%k8s proxy svc/web")
    assert "proxy takes no arguments" in text, text
    _, text = failed(k, '%%k8s deploy web --port 8080 --readiness ready\nserve("v3", true)')
    assert "needs an HTTP path starting with /" in text, text
    # The proxy refuses a shell in a pod, as kubectl proxy does, and answers only for this machine.
    pod = kubectl("-n", web, "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}").stdout.strip()
    base = f"http://127.0.0.1:{PROXY_PORT}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{base}/api/v1/namespaces/{web}/pods/{pod}/exec?command=ls", method="POST"), timeout=10)
    assert refused.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as rebound:
        urllib.request.urlopen(urllib.request.Request(f"{base}/version", headers={"Host": "evil.example"}), timeout=10)
    assert rebound.value.code == 403
    with urllib.request.urlopen(f"{base}/version", timeout=10) as answer:
        assert "gitVersion" in answer.read().decode()
