"""The %k8s magics in JupyterLab, checked on the rendered page: what only a browser shows of
them (HTML tables, live displays updated in place, errors under the display, the toolbar's
Interrupt), against the cluster that KUBECONFIG names.

    eval "$(install/cluster env)"; tests/frontend/run test_lab_cluster.py

One notebook with the kernelspec "kubernel" is prepared in JupyterLab's root directory and
opened in headless Chromium; the tests run its cells in file order (click into a cell,
Ctrl+Enter) on the same kernel. Everything happens in a namespace of the notebook's own, made
by its first cell (`%%k8s apply` of a Namespace) and deleted by its last (`%k8s cleanup`);
should a test stop before that, the module deletes the namespace with kubectl.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest
from playwright.sync_api import Locator, Page, expect

from conftest import FIRST_CELL_MS, Lab
from notebook_page import assert_other_hosts_blocked, cell, open_notebook, panel, run_cell, wait_done

NOTEBOOK = "frontend-cluster.ipynb"
NS = f"kubernel-lab-{uuid.uuid4().hex[:8]}"
# An image tag that no registry has.
BAD_IMAGE = "nginx:doesnotexist"

CELLS = [
    f"%%k8s apply\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n",
    f"%k8s use namespace {NS}",
    "%k8s get nodes",
    "%k8s run web --image nginx --replicas 2 --port 80",
    f"%k8s run bad --image {BAD_IMAGE}",
    "%k8s expose deploy/web --port 80",
    "%k8s http svc/web/",
    "%k8s logs deploy/web --stats --timeout 4s",
    "%k8s get pods -w",
    "%k8s get deploy",
    "%k8s cleanup",
]
(APPLY_CELL, USE_CELL, NODES_CELL, RUN_CELL, BAD_CELL, EXPOSE_CELL, HTTP_CELL, STATS_CELL,
 WATCH_CELL, AFTER_CELL, CLEANUP_CELL) = range(len(CELLS))
# How many times the http cell runs before the statistics are read.
REQUESTS = 3

# Cluster operations take seconds; a rollout pulls nginx if the node does not have it yet, and
# cleanup waits (up to 90 s) until the namespace is gone. Limits, not measurements.
ROLLOUT_MS = 200_000
CLEANUP_MS = 150_000

STDOUT = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stdout"]'
STDERR = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'
HTML = '.jp-RenderedHTML[data-mime-type="text/html"]'

pytestmark = pytest.mark.timeout(280)


# -- the cluster, outside the page ----------------------------------------------------------


def kubectl(*args: str, check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture(scope="module", autouse=True)
def cluster() -> None:
    """The cluster KUBECONFIG names answers (the kernel in JupyterLab gets the same environment);
    afterwards the notebook's namespace is gone, whatever happened."""
    if not os.environ.get("KUBECONFIG"):
        pytest.fail('KUBECONFIG is not set: run eval "$(install/cluster env)" first', pytrace=False)
    if not shutil.which("kubectl"):
        pytest.fail('no kubectl on PATH: run eval "$(install/cluster env)" first', pytrace=False)
    ready = kubectl("get", "--raw", "/readyz", timeout=30)
    if ready.returncode != 0:
        pytest.fail(f"the cluster is not ready ({ready.stderr.strip()}); start it with install/cluster up", pytrace=False)
    yield
    kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false")


# -- the notebook ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def notebook(page: Page, lab: Lab) -> Page:
    return open_notebook(page, lab, NOTEBOOK, CELLS)


def outputs(c: Locator) -> Locator:
    """The cell's rendered output items, one per output (a stream, a display, an error)."""
    return c.locator(".jp-OutputArea > .jp-OutputArea-child .jp-OutputArea-output")


def output_types(page: Page, index: int) -> list[str]:
    """What the notebook holds for the cell (what JupyterLab would save): the output_type of
    each output, e.g. ["stream", "display_data", "error"]. An error and a stderr stream look
    alike on the page; this tells them apart."""
    return page.evaluate("""(index) => {
        const nb = window.jupyterapp.shell.currentWidget.content;
        return nb.widgets[index].model.outputs.toJSON().map(o => o.output_type);
    }""", index)


# Records every version of a cell's output area while it changes: for each, the rendered
# output items (their MIME type, number of tables and text), in order.
RECORD = """(cell, key) => {
    const area = cell.querySelector('.jp-OutputArea');
    window[key] = [];
    const snap = () => Array.from(area.querySelectorAll(':scope > .jp-OutputArea-child')).map(child => {
        const out = child.querySelector('.jp-OutputArea-output');
        return out ? {mime: out.getAttribute('data-mime-type'), tables: out.querySelectorAll('table').length,
                      text: out.innerText.trim()} : {mime: null, tables: 0, text: child.innerText.trim()};
    });
    const note = () => {
        const now = JSON.stringify(snap());
        const seen = window[key];
        if (seen[seen.length - 1] !== now) seen.push(now);
    };
    new MutationObserver(note).observe(area, {subtree: true, childList: true, characterData: true});
}"""


def record(page: Page, index: int, key: str) -> None:
    c = cell(page, index)
    c.scroll_into_view_if_needed()
    c.evaluate(RECORD, key)


def versions(page: Page, key: str) -> list[list[dict]]:
    return [json.loads(s) for s in page.evaluate(f"window[{json.dumps(key)}]")]


def displays(items: list[dict]) -> list[dict]:
    return [i for i in items if i["mime"] == "text/html"]


def header_cells(table: Locator) -> list[str]:
    return [t.strip() for t in table.locator("thead th").all_inner_texts()]


def column(table: Locator, name: str) -> list[str]:
    """The texts of one column of a rendered table, by its header."""
    i = header_cells(table).index(name)
    return [t.strip() for t in table.locator(f"tbody tr td:nth-child({i + 1})").all_inner_texts()]


# -- the tests ------------------------------------------------------------------------------


def test_kernel_is_rust_kubernel_and_idle(notebook: Page) -> None:
    toolbar = notebook.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar")
    expect(toolbar.locator(".jp-KernelName")).to_have_text("Rust (kubernel)", timeout=FIRST_CELL_MS)
    expect(toolbar.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "idle", timeout=FIRST_CELL_MS)


def test_requests_to_other_hosts_are_blocked(notebook: Page, lab: Lab) -> None:
    assert_other_hosts_blocked(notebook, lab, "http://kubernel-guard-check.invalid/cluster.css")


def test_namespace_of_its_own(notebook: Page) -> None:
    page = notebook
    c = run_cell(page, APPLY_CELL)
    wait_done(c, FIRST_CELL_MS)
    expect(c.locator(STDERR)).to_have_count(0)
    expect(c.locator(".jp-OutputArea")).to_contain_text(NS)
    c = run_cell(page, USE_CELL)
    wait_done(c)
    expect(c.locator(STDERR)).to_have_count(0)
    expect(c.locator(".jp-OutputArea")).to_contain_text(NS)


def test_get_nodes_is_an_html_table(notebook: Page) -> None:
    page = notebook
    c = run_cell(page, NODES_CELL)
    wait_done(c)
    expect(c.locator(STDERR)).to_have_count(0)
    table = c.locator(f"{HTML} table")
    expect(table).to_have_count(1)
    headers = header_cells(table)
    for name in ("NAME", "STATUS", "ROLES", "AGE", "VERSION"):
        assert name in headers, headers
    # The node kubectl lists, Ready.
    nodes = json.loads(kubectl("get", "nodes", "-o", "json", check=True).stdout)["items"]
    names = [n["metadata"]["name"] for n in nodes]
    assert names, "the cluster has no nodes"
    expect(table.locator("tbody tr")).to_have_count(len(names))
    row = table.locator("tbody tr", has=page.locator("td", has_text=re.compile(f"^{re.escape(names[0])}$")))
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(headers.index("STATUS"))).to_have_text("Ready")


def test_run_shows_one_live_display_until_rolled_out(notebook: Page) -> None:
    page = notebook
    record(page, RUN_CELL, "kubernelRun")
    c = run_cell(page, RUN_CELL)
    wait_done(c, ROLLOUT_MS)
    expect(c.locator(STDERR)).to_have_count(0)
    display = c.locator(HTML)
    expect(display).to_have_count(1)
    expect(display).to_contain_text("successfully rolled out: 2/2 available")
    table = display.locator("table")
    expect(table).to_have_count(1)
    expect(table.locator("tbody tr")).to_have_count(2)
    assert column(table, "STATUS") == ["Running", "Running"], column(table, "STATUS")
    for name in column(table, "NAME"):
        assert name.startswith("web-"), name
    # While it ran the page showed exactly one display, redrawn in place.
    seen = versions(page, "kubernelRun")
    shown = [displays(items) for items in seen if displays(items)]
    assert all(len(d) == 1 for d in shown), json.dumps(seen, indent=1)[:4000]
    texts = [d[0]["text"] for d in shown]
    assert len(set(texts)) >= 2, f"the display was never seen before its last version: {texts}"
    assert "successfully rolled out" in texts[-1] and all("successfully rolled out" not in t for t in texts[:-1]), texts
    # Besides it, nothing but a line saying what was made.
    for items in seen:
        others = [i for i in items if i["mime"] != "text/html"]
        assert all(i["mime"] == "application/vnd.jupyter.stdout" and "deployment.apps/web" in i["text"] for i in others), items


def test_run_with_a_missing_image_ends_with_an_error_under_its_display(notebook: Page) -> None:
    page = notebook
    record(page, BAD_CELL, "kubernelBad")
    c = run_cell(page, BAD_CELL)
    wait_done(c, ROLLOUT_MS)
    # The live display stays, and under it one error naming the cause and the image.
    display = c.locator(HTML)
    expect(display).to_have_count(1)
    expect(display).to_contain_text("bad")
    error = c.locator(STDERR)
    expect(error).to_have_count(1)
    expect(error).to_contain_text(re.compile("ErrImagePull|ImagePullBackOff"))
    expect(error).to_contain_text(BAD_IMAGE)
    items = outputs(c)
    expect(items.last).to_have_attribute("data-mime-type", "application/vnd.jupyter.stderr")
    types = output_types(page, BAD_CELL)
    assert types.count("display_data") == 1 and types.count("error") == 1, types
    assert types[-1] == "error" and types.index("display_data") < types.index("error"), types
    seen = versions(page, "kubernelBad")
    assert all(len(displays(items)) <= 1 for items in seen), json.dumps(seen, indent=1)[:4000]


def test_http_renders_the_nginx_page(notebook: Page) -> None:
    page = notebook
    c = run_cell(page, EXPOSE_CELL)
    wait_done(c)
    expect(c.locator(STDERR)).to_have_count(0)
    expect(c.locator(".jp-OutputArea")).to_contain_text("web")
    # The service's endpoints come a moment after it (the cluster's doing, not the page's).
    deadline = time.monotonic() + 60
    while "true" not in kubectl("get", "endpointslices", "-n", NS, "-l", "kubernetes.io/service-name=web", "-o",
                                "jsonpath={.items[*].endpoints[*].conditions.ready}").stdout:
        assert time.monotonic() < deadline, "service web has no ready endpoint after 60 s"
        time.sleep(0.5)
    for _ in range(REQUESTS):
        c = run_cell(page, HTTP_CELL)
        wait_done(c)
        expect(c.locator(STDERR)).to_have_count(0)
        heading = c.locator(f".jp-OutputArea-executeResult {HTML} h1")
        expect(heading).to_have_count(1)
        expect(heading).to_have_text("Welcome to nginx!")


def test_logs_stats_is_one_display_of_three_tables(notebook: Page) -> None:
    page = notebook
    record(page, STATS_CELL, "kubernelStats")
    c = run_cell(page, STATS_CELL)
    wait_done(c)
    expect(c.locator(STDERR)).to_have_count(0)
    display = c.locator(HTML)
    expect(display).to_have_count(1)
    expect(outputs(c)).to_have_count(1)
    expect(display.locator("table")).to_have_count(3)
    for name in ("by status", "by path", "by client"):
        expect(display.get_by_text(name, exact=True)).to_have_count(1)
    # The table under "by status" has a row for 200, with the requests made above.
    status = display.locator("xpath=.//div[div/i[normalize-space()='by status']]/table")
    expect(status).to_have_count(1)
    assert header_cells(status)[0] == "STATUS", header_cells(status)
    codes = column(status, "STATUS")
    assert "200" in codes, codes
    ok = int(column(status, "REQUESTS")[codes.index("200")])
    assert ok >= REQUESTS, f"{ok} requests with status 200, {REQUESTS} made"
    # One display all along, redrawn in place.
    seen = versions(page, "kubernelStats")
    assert all(len(items) <= 1 for items in seen), json.dumps(seen, indent=1)[:4000]
    shown = [items[0] for items in seen if items]
    assert all(i["mime"] == "text/html" for i in shown), shown
    texts = [i["text"] for i in shown]
    assert len(set(texts)) >= 2, f"the display was never seen before its last version: {texts}"


def test_watch_is_stopped_by_the_toolbar_interrupt(notebook: Page) -> None:
    page = notebook
    c = run_cell(page, WATCH_CELL)
    expect(c.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\*\]"))
    table = c.locator(f"{HTML} table")
    # The live table shows the pods of web (and of bad) while it watches.
    expect(table).to_have_count(1)
    expect(table.locator("tbody tr", has_text="web-")).to_have_count(2)
    panel(page).locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Interrupt the kernel").click()
    wait_done(c)
    error = c.locator(STDERR)
    expect(error).to_have_count(1)
    expect(error).to_contain_text("nterrupt")
    # The table stays, above the error.
    expect(table).to_have_count(1)
    expect(table.locator("tbody tr", has_text="web-")).to_have_count(2)
    expect(outputs(c).last).to_have_attribute("data-mime-type", "application/vnd.jupyter.stderr")


def test_next_cell_runs_after_the_interrupt(notebook: Page) -> None:
    page = notebook
    c = run_cell(page, AFTER_CELL)
    wait_done(c)
    expect(c.locator(STDERR)).to_have_count(0)
    table = c.locator(f"{HTML} table")
    expect(table).to_have_count(1)
    expect(table.locator("tbody tr", has=page.locator("td", has_text=re.compile("^web$")))).to_have_count(1)


def test_cleanup_says_gone(notebook: Page) -> None:
    page = notebook
    c = run_cell(page, CLEANUP_CELL)
    wait_done(c, CLEANUP_MS)
    expect(c.locator(STDERR)).to_have_count(0)
    area = c.locator(".jp-OutputArea")
    expect(area).to_contain_text(NS)
    expect(area).to_contain_text(re.compile(r"\ball \d+ gone\b"))
    gone = kubectl("get", "namespace", NS)
    assert gone.returncode != 0 and "NotFound" in gone.stderr, (gone.stdout, gone.stderr)


def test_kernel_still_idle_and_nothing_left_this_machine(notebook: Page, lab: Lab) -> None:
    expect(panel(notebook).locator(".jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle")
    assert lab.foreign == [], f"the page tried to reach other hosts: {lab.foreign}"
