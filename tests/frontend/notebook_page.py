"""A notebook in the JupyterLab page, as the frontend tests use it: written with the kubernel
kernelspec, opened, and its cells run the way a person runs them (click, Ctrl+Enter)."""
from __future__ import annotations

import json
import re

from playwright.sync_api import Locator, Page, expect

from conftest import FIRST_CELL_MS, Lab


def notebook_json(cells: list[str]) -> dict:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "kubernel", "display_name": "Rust (kubernel)", "language": "rust"},
            "language_info": {"name": "rust", "file_extension": ".rs"},
        },
        "cells": [
            {"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "execution_count": None,
             "outputs": [], "source": source}
            for i, source in enumerate(cells)
        ],
    }


def open_notebook(page: Page, lab: Lab, name: str, cells: list[str]) -> Page:
    """Writes the notebook into the Lab's root and opens it; waits for its cells (the kernel is
    checked by the tests)."""
    (lab.root / name).write_text(json.dumps(notebook_json(cells), indent=1))
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    expect(panel(page).locator(".jp-Notebook .jp-Cell")).to_have_count(len(cells), timeout=FIRST_CELL_MS)
    return page


def panel(page: Page) -> Locator:
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")


def cell(page: Page, index: int) -> Locator:
    return panel(page).locator(".jp-Notebook .jp-Cell").nth(index)


def run_cell(page: Page, index: int) -> Locator:
    """Clicks into the cell's editor and runs it with Ctrl+Enter (run in place)."""
    c = cell(page, index)
    c.scroll_into_view_if_needed()
    c.locator(".cm-content").click()
    page.keyboard.press("Control+Enter")
    return c


def wait_done(c: Locator, timeout: float | None = None) -> None:
    """The cell's prompt shows its execution count, [n]:, not [*]: or [ ]:."""
    kw = {"timeout": timeout} if timeout else {}
    expect(c.locator(".jp-InputPrompt")).to_have_text(re.compile(r"^\s*\[\d+\]:\s*$"), **kw)


def assert_other_hosts_blocked(page: Page, lab: Lab, url: str) -> None:
    """The guard of conftest.py works: a request to another host (a name under .invalid, which
    never resolves) is stopped in the browser and recorded; the record is then cleared."""
    outcome = page.evaluate("url => fetch(url).then(() => 'fetched', e => 'refused: ' + e)", url)
    assert outcome.startswith("refused"), outcome
    assert f"GET {url}" in lab.foreign, lab.foreign
    lab.foreign.remove(f"GET {url}")
