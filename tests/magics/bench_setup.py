"""What the magic benchmarks share: the local cluster's environment and a kubernel kernel
installed into a temporary Jupyter path (so no user configuration or history is touched)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "kernel"))
from kernel_harness import Kernel, built_kernel  # noqa: E402

REPO = HERE.parent.parent


def cluster_env() -> dict[str, str]:
    """This process's environment plus KUBECONFIG and PATH from `install/cluster env`."""
    env = dict(os.environ)
    out = subprocess.run([str(REPO / "install" / "cluster"), "env"], capture_output=True, text=True, timeout=30)
    for line in out.stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            key, value = line[len("export "):].split("=", 1)
            env[key] = value.strip().strip('"').replace("$PATH", env.get("PATH", ""))
    return env


def start_kernel() -> tuple[Kernel, dict[str, str]]:
    """A kernel of the built binary (KUBERNEL_BIN overrides it) and the environment it runs in."""
    env = cluster_env()
    tmp = Path(tempfile.mkdtemp(prefix="kubernel-bench-"))
    prefix = tmp / "prefix"
    binary = Path(built_kernel())
    subprocess.run([str(binary), "install", "--prefix", str(prefix)], check=True, capture_output=True)
    jupyter = {
        "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp / "data"),
    }
    os.environ.update(jupyter)
    env.update(jupyter)
    env["KUBERNEL_HISTORY"] = str(tmp / "history")
    return Kernel.start(env=env), env
