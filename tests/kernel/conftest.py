"""Fixtures for the kubernel kernel tests.

The kernel binary is $KUBERNEL_BIN, else the release build install/setup made
($CARGO_TARGET_DIR, else ${KUBERNEL_CACHE:-~/.cache/kubernel}/target).
Its kernelspec is installed with `kubernel install --prefix <tmp>` into a
temporary prefix, and JUPYTER_PATH points at <tmp>/share/jupyter, so the tests
never see (or change) a kernelspec of the user's. KUBERNEL_HISTORY points at a
temporary file, so the tests never read or write the user's history.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from kernel_harness import Kernel, built_kernel

_state: dict[str, object] = {}


def kubernel_bin() -> Path:
    return Path(built_kernel())


def pytest_configure(config: pytest.Config) -> None:
    # Isolate everything Jupyter reads or writes, before any test module
    # (or jupyter_client) looks at the environment.
    tmp = Path(tempfile.mkdtemp(prefix="kubernel-tests-"))
    _state["tmp"] = tmp
    prefix = tmp / "prefix"
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(tmp / "runtime")
    os.environ["JUPYTER_DATA_DIR"] = str(tmp / "data")
    os.environ["JUPYTER_CONFIG_DIR"] = str(tmp / "config")
    os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
    os.environ["KUBERNEL_HISTORY"] = str(tmp / "history-session")
    # The tests' kernels hand their sessions to spares of their own, never to the user's.
    os.environ["KUBERNEL_SPARE_DIR"] = str(tmp / "spares")


def pytest_unconfigure(config: pytest.Config) -> None:
    tmp = _state.get("tmp")
    if isinstance(tmp, Path):
        end_spares_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def end_spares_under(root: Path) -> None:
    """Kills the spare kernels the tests' kernels left behind (each leads a process group of its
    own), whose spare directory is under `root`: the next kernel would have taken them."""
    import signal

    import psutil

    for p in psutil.process_iter(["cmdline"]):
        try:
            if (p.info["cmdline"] or [])[1:3] == ["spare", "--detached"] and p.environ().get("KUBERNEL_SPARE_DIR", "").startswith(str(root)):
                os.killpg(p.pid, signal.SIGKILL)
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue


def spare_root() -> Path:
    """Where tests put spare directories of their own."""
    tmp = _state["tmp"]
    assert isinstance(tmp, Path)
    return tmp


@pytest.fixture(scope="session", autouse=True)
def kernelspec() -> dict:
    """Install the kubernel kernelspec into the temporary prefix (once)."""
    if "spec" in _state:
        return _state["spec"]  # type: ignore[return-value]
    if "spec_error" in _state:
        pytest.fail(str(_state["spec_error"]), pytrace=False)
    binary = kubernel_bin()
    tmp = _state["tmp"]
    assert isinstance(tmp, Path)
    prefix = tmp / "prefix"
    try:
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise RuntimeError(
                f"kubernel binary not found at {binary} "
                "(install/setup builds it; or set KUBERNEL_BIN or CARGO_TARGET_DIR)"
            )
        proc = subprocess.run(
            [str(binary), "install", "--prefix", str(prefix)],
            capture_output=True, text=True, timeout=60,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"`kubernel install --prefix {prefix}` failed ({proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        spec_file = prefix / "share" / "jupyter" / "kernels" / "kubernel" / "kernel.json"
        if not spec_file.is_file():
            raise RuntimeError(
                f"`kubernel install --prefix {prefix}` did not write {spec_file}:\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        spec = json.loads(spec_file.read_text())
    except Exception as e:  # report once, fail every test with it
        _state["spec_error"] = e
        pytest.fail(str(e), pytrace=False)
    _state["spec"] = spec
    return spec


@pytest.fixture
def history_file(tmp_path: Path) -> Path:
    return tmp_path / "history"


@pytest.fixture
def kernel(history_file: Path, kernelspec: dict):
    """A fresh kubernel with its own history file, shut down afterwards."""
    env = dict(os.environ)
    env["KUBERNEL_HISTORY"] = str(history_file)
    k = Kernel.start(env=env)
    try:
        yield k
    finally:
        k.close()
