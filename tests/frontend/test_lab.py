"""kubernel in JupyterLab, checked as a person would: on the rendered page.

One notebook with the kernelspec "kubernel" is prepared in JupyterLab's root directory and
opened in headless Chromium; each test runs one of its cells (click into it, Ctrl+Enter) and
looks at what the page shows. The tests run in file order on the same notebook and kernel.
"""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from conftest import FIRST_CELL_MS, Lab
from notebook_page import assert_other_hosts_blocked, cell, open_notebook, run_cell, wait_done

NOTEBOOK = "frontend.ipynb"

# The first cell is left empty: the test types its code, as a person would.
TYPED = "let x = 40 + 2; x"
STREAMS = 'println!("to stdout from Rust");\neprintln!("to stderr from Rust");'
COMPILE_ERROR = 'let y: i32 = "no";'
# One table with a display id, then three updates of it in place, a moment apart.
LIVE = """for step in 1..=4 {
    let verb = if step == 1 { "" } else { " update" };
    println!("KUBERNEL_BEGIN_CONTENT text/html display_id=frontend-live{}", verb);
    println!("<table class=\\"kubernel-live\\"><tr><th>step</th></tr><tr><td>version {} of 4</td></tr></table>", step);
    println!("KUBERNEL_END_CONTENT");
    std::thread::sleep(std::time::Duration::from_millis(800));
}"""
# Input the way kubernel supports it (README): evcxr's input protocol, the line that
# evcxr_input::get_string prints (written out here, so the test needs no crate download),
# then a read of stdin, which the kernel answers from the frontend's input box.
STDIN = ('println!("EVCXR_INPUT_REQUEST:Your name? ");\n'
         'let mut s = String::new();\nstd::io::stdin().read_line(&mut s).unwrap();\n'
         'println!("got {}", s.trim());')
LSMAGIC = "%lsmagic"
# Plain stdin, without evcxr's request line: the kernel asks the frontend for the line.
PLAIN_STDIN = ('let mut s = String::new();\nstd::io::stdin().read_line(&mut s).unwrap();\n'
               'println!("got {}", s.trim());')
SLEEP = "std::thread::sleep(std::time::Duration::from_secs(120));"
AFTER = "6 * 7"

CELLS = ["", STREAMS, COMPILE_ERROR, LIVE, STDIN, LSMAGIC, PLAIN_STDIN, SLEEP, AFTER]
(TYPED_CELL, STREAMS_CELL, ERROR_CELL, LIVE_CELL, STDIN_CELL, LSMAGIC_CELL, PLAIN_STDIN_CELL,
 SLEEP_CELL, AFTER_CELL) = range(len(CELLS))
# How long test_plain_stdin_read_line waits for the input box.
PLAIN_STDIN_WAIT_MS = 20_000

STDOUT = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stdout"]'
STDERR = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'


@pytest.fixture(scope="module")
def notebook(page: Page, lab: Lab) -> Page:
    return open_notebook(page, lab, NOTEBOOK, CELLS)


def test_kernel_is_rust_kubernel_and_idle(notebook: Page) -> None:
    page = notebook
    # The toolbar names the kernel, and the execution indicator says it is idle.
    expect(page.locator(".jp-NotebookPanel-toolbar .jp-KernelName")).to_have_text("Rust (kubernel)", timeout=FIRST_CELL_MS)
    expect(page.locator(".jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=FIRST_CELL_MS)


def test_requests_to_other_hosts_are_blocked(notebook: Page, lab: Lab) -> None:
    assert_other_hosts_blocked(notebook, lab, "http://kubernel-guard-check.invalid/feed.xml")


def test_value_of_a_typed_rust_cell(notebook: Page) -> None:
    page = notebook
    c = cell(page, TYPED_CELL)
    c.locator(".cm-content").click()
    page.keyboard.type(TYPED)
    expect(c.locator(".cm-content")).to_have_text(TYPED)
    page.keyboard.press("Control+Enter")
    wait_done(c, FIRST_CELL_MS)
    result = c.locator(".jp-OutputArea-executeResult")
    expect(result).to_have_count(1)
    expect(result.locator(".jp-OutputArea-output")).to_have_text("42")
    # The result's prompt carries the same execution count as the input.
    count = c.locator(".jp-InputPrompt").inner_text().strip()
    expect(result.locator(".jp-OutputPrompt")).to_have_text(count)


def test_stdout_and_stderr(notebook: Page) -> None:
    page = notebook
    c = run_cell(page, STREAMS_CELL)
    wait_done(c)
    expect(c.locator(STDOUT)).to_have_text(re.compile(r"^\s*to stdout from Rust\s*$"))
    expect(c.locator(STDERR)).to_have_text(re.compile(r"^\s*to stderr from Rust\s*$"))
    # stdout comes first, as printed, and stderr is styled as such: JupyterLab gives it a
    # background of its own, stdout none.
    texts = c.locator(".jp-OutputArea-output").all_inner_texts()
    assert [t.strip() for t in texts] == ["to stdout from Rust", "to stderr from Rust"], texts
    background = "e => getComputedStyle(e).backgroundColor"
    stdout_bg, stderr_bg = c.locator(STDOUT).evaluate(background), c.locator(STDERR).evaluate(background)
    assert stderr_bg not in ("", "transparent", "rgba(0, 0, 0, 0)") and stderr_bg != stdout_bg, (stdout_bg, stderr_bg)
    expect(c.locator(".jp-OutputArea-executeResult")).to_have_count(0)


def test_compile_error(notebook: Page) -> None:
    page = notebook
    c = run_cell(page, ERROR_CELL)
    wait_done(c)
    error = c.locator(STDERR)
    expect(error).to_have_count(1)
    expect(error).to_contain_text("mismatched types")
    expect(error).to_contain_text("E0308")
    # rustc's span is under the user's own line.
    expect(error).to_contain_text(COMPILE_ERROR)
    expect(c.locator(".jp-OutputArea-executeResult")).to_have_count(0)
    # The kernel keeps serving: the next cell runs (checked by the tests below).


def test_live_display_is_updated_in_place(notebook: Page) -> None:
    page = notebook
    c = cell(page, LIVE_CELL)
    c.scroll_into_view_if_needed()
    # Record every version of the table the page shows while the cell runs.
    c.evaluate("""(cell) => {
        window.kubernelSeen = [];
        const area = cell.querySelector('.jp-OutputArea');
        const note = () => {
            const texts = Array.from(area.querySelectorAll('table.kubernel-live')).map(t => t.innerText.trim());
            const last = window.kubernelSeen[window.kubernelSeen.length - 1];
            const now = JSON.stringify(texts);
            if (texts.length && now !== last) window.kubernelSeen.push(now);
        };
        new MutationObserver(note).observe(area, {subtree: true, childList: true, characterData: true});
    }""")
    run_cell(page, LIVE_CELL)
    wait_done(c)
    tables = c.locator("table.kubernel-live")
    expect(tables).to_have_count(1)
    expect(tables).to_contain_text("version 4 of 4")
    expect(c.locator(".jp-OutputArea-output")).to_have_count(1)
    seen = [json.loads(s) for s in page.evaluate("window.kubernelSeen")]
    # At every moment the page showed one table, and it went through the versions in order.
    assert all(len(texts) == 1 for texts in seen), seen
    versions = [int(re.search(r"version (\d) of 4", texts[0]).group(1)) for texts in seen]
    assert versions == sorted(versions) and versions[-1] == 4, versions
    assert len(versions) >= 2, f"the table was never seen before its last version: {versions}"


def test_stdin_input_box(notebook: Page) -> None:
    page = notebook
    c = run_cell(page, STDIN_CELL)
    box = c.locator("input.jp-Stdin-input")
    expect(box).to_be_visible()
    expect(c.locator(".jp-Stdin-prompt")).to_have_text(re.compile(r"^\s*Your name\?\s*$"))
    box.click()
    page.keyboard.type("kubernel in a browser")
    page.keyboard.press("Enter")
    wait_done(c)
    # The box is gone; the question and the answer stay in the output, as JupyterLab shows
    # them, and the cell printed what it read.
    expect(c.locator("input.jp-Stdin-input")).to_have_count(0)
    expect(c.locator(".jp-OutputArea")).to_have_text(
        re.compile(r"^\s*Your name\?\s+kubernel in a browser\s+got kubernel in a browser\s*$"))
    expect(c.locator(STDOUT).last).to_have_text(re.compile(r"^\s*got kubernel in a browser\s*$"))
    expect(c.locator(STDERR)).to_have_count(0)
    assert "EVCXR_INPUT_REQUEST" not in c.locator(".jp-OutputArea").inner_text()


def test_lsmagic(notebook: Page) -> None:
    page = notebook
    c = run_cell(page, LSMAGIC_CELL)
    wait_done(c)
    # The magics as an HTML table, rendered as the cell's result.
    table = c.locator('.jp-OutputArea-executeResult .jp-RenderedHTML[data-mime-type="text/html"] table')
    expect(table).to_have_count(1)
    expect(table.locator("tr", has_text="%lsmagic")).to_have_count(1)
    expect(table.locator("tr", has_text="%k8s")).to_have_count(1)
    expect(c.locator(STDERR)).to_have_count(0)


def test_plain_stdin_read_line(notebook: Page) -> None:
    """std::io::stdin().read_line in a cell, without evcxr's request line, gets the input box."""
    page = notebook
    c = run_cell(page, PLAIN_STDIN_CELL)
    box = c.locator("input.jp-Stdin-input")
    expect(box).to_be_visible(timeout=PLAIN_STDIN_WAIT_MS)
    box.click()
    page.keyboard.type("plain stdin")
    page.keyboard.press("Enter")
    wait_done(c)
    expect(c.locator("input.jp-Stdin-input")).to_have_count(0)
    expect(c.locator(".jp-OutputArea")).to_have_text(re.compile(r"^\s*plain stdin\s+got plain stdin\s*$"))


def test_interrupt_from_the_toolbar(notebook: Page) -> None:
    """A cell that sleeps is stopped by the toolbar's Interrupt button, and says so."""
    page = notebook
    c = run_cell(page, SLEEP_CELL)
    expect(c.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\*\]"))
    page.wait_for_timeout(1000)
    page.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Interrupt the kernel").click()
    wait_done(c)
    expect(c.locator(STDERR)).to_contain_text("nterrupt")


def test_rust_cell_after_interrupt(notebook: Page) -> None:
    page = notebook
    c = run_cell(page, AFTER_CELL)
    wait_done(c)
    expect(c.locator(".jp-OutputArea-executeResult .jp-OutputArea-output")).to_have_text("42")


def test_kernel_still_idle_and_nothing_left_this_machine(notebook: Page, lab: Lab) -> None:
    expect(notebook.locator(".jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle")
    assert lab.foreign == [], f"the page tried to reach other hosts: {lab.foreign}"
