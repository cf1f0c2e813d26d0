"""The program's own metrics, through the real kernel against the local cluster's Prometheus
and prometheus-adapter: a compiled service counting its requests with `kubernel::metrics`,
`promql` as a table and as a chart, the counter's rate in custom.metrics.k8s.io, an HPA on it
that scales the service under load, and a Prometheus that is not there and an adapter that is
down, each named as such.
"""
from __future__ import annotations

import json
import time

import pytest

from conftest import kubectl
from test_k8s_apps import ok as apps_ok
from test_k8s_class import failed, ok
from test_k8s_job import ns  # noqa: F401 (ns: the module's own namespace, a fixture)

pytestmark = pytest.mark.timeout(600)

COUNTED = """%%k8s deploy counted --port 8080 --cpu 50m
use std::io::{Read, Write};
let requests = kubernel::metrics::counter("requests", "Requests answered");
let port = std::env::var("PORT").unwrap();
let listener = std::net::TcpListener::bind(format!("0.0.0.0:{port}")).unwrap();
for stream in listener.incoming() {
    let Ok(mut stream) = stream else { continue };
    let mut request = [0u8; 2048];
    let _ = stream.read(&mut request);
    requests.inc();
    let _ = write!(stream, "HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nConnection: close\\r\\n\\r\\nok\\n");
}"""


@pytest.fixture(scope="module")
def counted(k8s_kernel, ns):
    k = k8s_kernel
    ok(k, COUNTED, 300)
    ok(k, "%k8s expose deploy/counted --port 80 --target-port 8080")
    ok(k, '%k8s run load --image busybox -- sh -c "trap exit TERM; while true; do wget -q -O /dev/null http://counted; sleep 0.05; done"', 120)
    return ns


def wait_for(what, check, limit: float):
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(2)
    raise AssertionError(f"{what} not within {limit} s (last: {last!r})")


def test_promql_shows_the_programs_own_counter(k8s_kernel, counted):
    k, ns = k8s_kernel, counted
    # The pods carry a port named metrics, which is how Prometheus finds them.
    ports = kubectl("-n", ns, "get", "deploy", "counted", "-o", "jsonpath={.spec.template.spec.containers[0].ports[*].name}").stdout
    assert "metrics" in ports.split(), ports

    def counted_so_far():
        # A rate needs two scrapes (5 s apart) of the counter.
        text = ok(k, f"%k8s promql 'sum(rate(requests_total{{namespace=\"{ns}\"}}[30s]))'")
        values = [float(line.split()[-1]) for line in text.splitlines()[1:] if line.strip()]
        return values and values[0] > 0 and text

    text = wait_for("the rate of requests_total in Prometheus", counted_so_far, 120)
    assert text.startswith("SERIES"), text
    text, msgs = apps_ok(k, f"%%k8s promql --range 2m --plot\nsum by (pod) (rate(requests_total{{namespace=\"{ns}\"}}[30s]))")
    charts = [m["content"]["data"] for m in msgs if m["msg_type"] in ("display_data", "execute_result") and "image/svg+xml" in m["content"]["data"]]
    assert charts and "image/png" in charts[-1], [m["msg_type"] for m in msgs]
    assert 'pod="counted-' in charts[-1]["text/plain"], charts[-1]["text/plain"]
    # A query Prometheus cannot parse: its own words.
    _, text = failed(k, "%k8s promql 'sum(('")
    assert "PromQLError" in text and "Prometheus refused the query" in text, text


def test_an_hpa_on_the_programs_own_metric_scales_it(k8s_kernel, counted):
    k, ns = k8s_kernel, counted

    def served():
        out = kubectl("get", "--raw", f"/apis/custom.metrics.k8s.io/v1beta1/namespaces/{ns}/pods/*/requests_per_second", check=False)
        return out.returncode == 0 and json.loads(out.stdout).get("items") and out.stdout

    wait_for("requests_per_second in custom.metrics.k8s.io", served, 120)
    text = ok(k, "%k8s autoscale deploy/counted --min 1 --max 3 --metric requests_per_second --target 2")
    assert "between 1 and 3 replicas at 2 requests_per_second per pod" in text, text
    text, msgs = apps_ok(k, "%k8s watch hpa/counted --replicas 3 --timeout 4m", 300)
    last = [m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] in ("display_data", "update_display_data") and "image/svg+xml" in m["content"]["data"]][-1]
    assert "3 replicas now, 3 desired; requests_per_second" in last, last


def test_a_prometheus_that_is_not_there_is_named(k8s_kernel, counted):
    k, ns = k8s_kernel, counted
    _, text = failed(k, f"%k8s promql up --prometheus {ns}/nothing:9090")
    assert f"there is no Prometheus service {ns}/nothing:9090" in text, text
    # A service with no pod behind it, as a Prometheus that is down.
    kubectl("-n", ns, "create", "service", "clusterip", "down", "--tcp=9090:9090")
    _, text = failed(k, f"%k8s promql up --prometheus {ns}/down:9090")
    assert f"Prometheus at {ns}/down:9090 is not answering" in text, text


def custom_metrics_available() -> str:
    return kubectl("get", "apiservice", "v1beta1.custom.metrics.k8s.io", "-o", 'jsonpath={.status.conditions[?(@.type=="Available")].status}', check=False).stdout


def test_an_adapter_that_is_down_is_named(k8s_kernel, counted):
    # prometheus-adapter stopped: the autoscaler on the program's metric can never act. The
    # class hears that when it creates it, and watching it ends at once naming the adapter.
    k = k8s_kernel
    kubectl("-n", "monitoring", "scale", "deploy/prometheus-adapter", "--replicas", "0")
    try:
        wait_for("the custom metrics API unavailable", lambda: custom_metrics_available() == "False", 120)
        text = ok(k, "%k8s autoscale deploy/counted --name blind --min 1 --max 3 --metric requests_per_second --target 2")
        assert "note: the autoscaler cannot act yet: custom.metrics.k8s.io is not available" in text, text
        assert "(served by service monitoring/prometheus-adapter)" in text, text
        started = time.monotonic()
        _, text = failed(k, "%k8s watch hpa/blind --replicas 3 --timeout 2m", 150)
        assert "MetricsUnavailable" in text and "hpa blind cannot read requests_per_second: custom.metrics.k8s.io is not available" in text, text
        assert "monitoring/prometheus-adapter" in text, text
        assert time.monotonic() - started < 30, "watch went on although the adapter was down"
    finally:
        kubectl("-n", "monitoring", "scale", "deploy/prometheus-adapter", "--replicas", "1")
        wait_for("the custom metrics API available again", lambda: custom_metrics_available() == "True", 180)
        kubectl("delete", "-n", counted, "hpa/blind", check=False)
