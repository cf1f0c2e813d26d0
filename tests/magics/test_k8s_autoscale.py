"""Autoscaling, watched live, through the real kernel against the local cluster: a compiled
CPU-bound service, an HPA on CPU with a short scale-down window, load from busybox (as in the
Kubernetes HPA walkthrough), `watch hpa/NAME` until the autoscaler has acted, up and back down.
"""
from __future__ import annotations

import pytest

from conftest import kubectl
from test_k8s_apps import ok as apps_ok
from test_k8s_class import failed, ok
from test_k8s_job import ns  # noqa: F401 (ns: the module's own namespace, a fixture)

pytestmark = pytest.mark.timeout(600)

BURN = """%%k8s deploy burn --port 8080 --cpu 100m/500m
use std::io::{Read, Write};
let port = std::env::var("PORT").unwrap();
let listener = std::net::TcpListener::bind(format!("0.0.0.0:{port}")).unwrap();
for stream in listener.incoming() {
    let Ok(mut stream) = stream else { continue };
    let mut request = [0u8; 2048];
    let _ = stream.read(&mut request);
    // About 20 ms of CPU for each request.
    let started = std::time::Instant::now();
    let mut x = 1u64;
    while started.elapsed().as_millis() < 20 {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    let body = format!("{x}\\n");
    let _ = write!(stream, "HTTP/1.1 200 OK\\r\\nContent-Length: {}\\r\\nConnection: close\\r\\n\\r\\n{}", body.len(), body);
}"""


def charts(msgs) -> list[dict]:
    return [m["content"] for m in msgs if m["msg_type"] in ("display_data", "update_display_data") and "image/svg+xml" in m["content"]["data"]]


def test_the_cpu_autoscaler_scales_up_under_load_and_back_after(k8s_kernel, ns):
    k = k8s_kernel
    ok(k, BURN, 300)
    ok(k, "%k8s expose deploy/burn --port 80 --target-port 8080")
    text = ok(k, "%k8s autoscale deploy/burn --min 1 --max 3 --cpu-percent 50 --scale-down-window 10s")
    assert "keeps deployment burn between 1 and 3 replicas at 50% CPU" in text, text
    hpa = kubectl("-n", ns, "get", "hpa", "burn", "-o", "jsonpath={.spec.behavior.scaleDown.stabilizationWindowSeconds}").stdout
    assert hpa == "10", hpa
    ok(k, '%k8s run load --image busybox -- sh -c "trap exit TERM; while true; do wget -q -O /dev/null http://burn; done"', 120)
    text, msgs = apps_ok(k, "%k8s watch hpa/burn --replicas 3 --timeout 4m", 300)
    shown = charts(msgs)
    assert len(shown) >= 2, "the chart was not redrawn"
    last = shown[-1]["data"]
    assert "image/png" in last, "no PNG for untrusted notebooks"
    assert "3 replicas now, 3 desired" in last["text/plain"], last["text/plain"]
    assert "New size: 3" in last["text/plain"] or "New size: 2" in last["text/plain"], last["text/plain"]
    assert kubectl("-n", ns, "get", "deploy", "burn", "-o", "jsonpath={.spec.replicas}").stdout == "3"
    # The load stops; after the short window the autoscaler goes back to one replica.
    ok(k, "%k8s delete deploy/load")
    text, msgs = apps_ok(k, "%k8s watch hpa/burn --replicas 1 --timeout 4m", 300)
    last = charts(msgs)[-1]["data"]["text/plain"]
    assert "1 replicas now, 1 desired" in last and "New size: 1" in last, last


def test_watch_names_what_it_cannot_draw(k8s_kernel, ns):
    k = k8s_kernel
    _, text = failed(k, "%k8s watch hpa/nothing-here --timeout 10s")
    assert 'horizontalpodautoscalers.autoscaling "nothing-here" not found' in text, text
    _, text = failed(k, "%k8s watch deploy/burn")
    assert "use get deploy -w" in text, text
