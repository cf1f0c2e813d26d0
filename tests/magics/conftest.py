"""Fixtures for the %k8s magic tests: the kernel fixtures of tests/kernel (imported, not
copied), the local cluster's environment, a kernel shared by a module, and a namespace of our
own that is deleted afterwards."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "kernel"))

_spec = importlib.util.spec_from_file_location("kernel_conftest", REPO / "tests" / "kernel" / "conftest.py")
kernel_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kernel_conftest)  # type: ignore[union-attr]

# The kernel suite's isolation (JUPYTER_PATH, a temporary kernelspec, history) and fixtures.
pytest_configure = kernel_conftest.pytest_configure
pytest_unconfigure = kernel_conftest.pytest_unconfigure
kernelspec = kernel_conftest.kernelspec
history_file = kernel_conftest.history_file
kernel = kernel_conftest.kernel

from kernel_harness import Kernel  # noqa: E402


def cluster_env() -> dict[str, str]:
    """KUBECONFIG and PATH (with kubectl) of the local cluster, from `install/cluster env`."""
    env = dict(os.environ)
    if env.get("KUBECONFIG") and subprocess.run(["which", "kubectl"], capture_output=True, env=env).returncode == 0:
        return env
    out = subprocess.run([str(REPO / "install" / "cluster"), "env"], capture_output=True, text=True, timeout=30)
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.startswith("export ") and "=" in line:
            key, value = line[len("export "):].split("=", 1)
            value = value.strip().strip('"').strip("'")
            value = value.replace("$PATH", env.get("PATH", "")).replace("${PATH}", env.get("PATH", ""))
            env[key] = value
    return env


ENV = cluster_env()


def kubectl(*args: str, check: bool = True, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, env=ENV, check=check, input=input, timeout=timeout)


@pytest.fixture(scope="session", autouse=True)
def cluster_up():
    try:
        proc = kubectl("get", "--raw", "/readyz", check=False, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"the local cluster is not reachable ({e}); start it with `install/cluster up`", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"the local cluster is not ready: {proc.stderr.strip()} (start it with `install/cluster up`)", pytrace=False)


@pytest.fixture(scope="module")
def k8s_kernel(kernelspec, tmp_path_factory):
    """One kernel for a module, so its cluster connection lives from cell to cell."""
    env = dict(ENV)
    env["KUBERNEL_HISTORY"] = str(tmp_path_factory.mktemp("history") / "history")
    k = Kernel.start(env=env)
    try:
        yield k
    finally:
        k.close()


@pytest.fixture(scope="module")
def namespace():
    """A namespace of our own, kubernel-test-<random>; deleted (with all in it) afterwards."""
    name = f"kubernel-test-{uuid.uuid4().hex[:8]}"
    yield name
    kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=false", check=False)
