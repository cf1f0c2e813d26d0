"""A kernel's start: the first cell, with and without a spare kernel, and what a spare must
never do (mix two sessions, keep the environment it was started with, outlive its session).

Each test has a spare directory of its own (KUBERNEL_SPARE_DIR), so that spares of other tests
or of the user are never taken here.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from conftest import kubernel_bin, spare_root
from kernel_harness import RUST, Kernel, describe, family, result_text, serving

WARM = 300  # seconds a spare may take to warm up on a busy machine


def spare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # Under the session's directory, whose spares are all ended when the tests end.
    env = dict(os.environ, KUBERNEL_SPARE_DIR=str(spare_root() / f"spares-{tmp_path.name}"))
    env.update(extra)
    return env


def warm_spare(env: dict[str, str]) -> None:
    """Starts a spare with `env` and waits until it takes sessions."""
    stop_spare(env)  # a spare started by an earlier kernel of this test, still warming
    psutil.wait_procs(spares(env), timeout=10)
    subprocess.run([str(kubernel_bin()), "spare"], env=env, check=True, timeout=30)
    deadline = time.monotonic() + WARM
    while not waiting_sockets(env):
        assert time.monotonic() < deadline, f"no spare waiting within {WARM} s"
        time.sleep(0.1)


def waiting_sockets(env: dict[str, str]) -> list[Path]:
    """The sockets of spares waiting in `env`'s directory (one per kind of kernel)."""
    return sorted(Path(env["KUBERNEL_SPARE_DIR"]).glob("spare-*.sock"))


def stop_spare(env: dict[str, str]) -> None:
    subprocess.run([str(kubernel_bin()), "spare", "--stop"], env=env, capture_output=True, timeout=30)


@pytest.fixture
def spare(tmp_path):
    env = spare_env(tmp_path)
    warm_spare(env)
    yield env
    stop_spare(env)


@pytest.mark.parametrize("how", ["cold", "spare"])
def test_a_first_cell_sent_before_the_evaluator_is_ready_gets_its_answer(tmp_path, how):
    env = spare_env(tmp_path, KUBERNEL_SPARE="0" if how == "cold" else "1")
    if how == "spare":
        warm_spare(env)
    k = Kernel.start(env=env)
    try:
        # Sent as soon as kernel_info is answered: a cold evaluator is still starting.
        reply, msgs = k.execute("let v = 40 + 2; v", timeout=RUST)
        assert reply["content"]["status"] == "ok", describe(reply, msgs)
        assert reply["content"]["execution_count"] == 1
        assert result_text(msgs) == "42"
        server, _ = serving(k)
        assert (server.pid != k.pid) == (how == "spare"), f"served by {server.pid}, launched as {k.pid}"
    finally:
        k.close()
        stop_spare(env)


def test_two_kernels_started_at_once_keep_separate_state(spare):
    kernels: list[Kernel] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            kernels.append(Kernel.start(env=spare))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert not errors, errors
        assert len(kernels) == 2
        for name, k in zip(["first", "second"], kernels):
            reply, msgs = k.execute(f'let who = "{name}";', timeout=RUST)
            assert reply["content"]["status"] == "ok", describe(reply, msgs)
        for name, k in zip(["first", "second"], kernels):
            reply, msgs = k.execute("who", timeout=RUST)
            assert result_text(msgs) == f'"{name}"', describe(reply, msgs)
        servers = [serving(k)[0].pid for k in kernels]
        assert len(set(servers)) == 2, "two sessions in one process"
        assert sum(s != k.pid for s, k in zip(servers, kernels)) == 1, "exactly one was given the spare"
    finally:
        for k in kernels:
            k.close()


def test_a_kernel_sees_its_own_working_directory_and_kubeconfig(tmp_path, spare):
    # The spare was started from the tests' directory with no KUBECONFIG of this test's.
    work = tmp_path / "week 1"
    work.mkdir()
    kubeconfig = tmp_path / "class.kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: classroom\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: classroom, context: {cluster: c, user: u}}]\n"
    )
    env = dict(spare, KUBECONFIG=str(kubeconfig), KUBERNEL_TEST_MARK="only-this-session")
    k = Kernel.start(env=env, cwd=str(work))
    try:
        server, _ = serving(k)
        assert server.pid != k.pid, "the spare did not take the session: this test would show nothing"
        reply, msgs = k.execute('std::env::current_dir().unwrap().display().to_string()', timeout=RUST)
        assert result_text(msgs) == f'"{work}"', describe(reply, msgs)
        reply, msgs = k.execute('(std::env::var("KUBECONFIG").unwrap(), std::env::var("KUBERNEL_TEST_MARK").unwrap())', timeout=RUST)
        assert result_text(msgs) == f'("{kubeconfig}", "only-this-session")', describe(reply, msgs)
        # A relative path is the notebook's, and so is the kubeconfig the magics read.
        (work / "data.txt").write_text("hello")
        reply, msgs = k.execute('std::fs::read_to_string("data.txt").unwrap()', timeout=RUST)
        assert result_text(msgs) == '"hello"', describe(reply, msgs)
        reply, msgs = k.execute("%k8s config current-context", timeout=RUST)
        assert reply["content"]["status"] == "ok", describe(reply, msgs)
        assert result_text(msgs) == "classroom", describe(reply, msgs)
    finally:
        k.close()


def spares(env: dict[str, str]) -> list[psutil.Process]:
    """The spare processes of `env`'s spare directory."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if (p.info["cmdline"] or [])[1:3] == ["spare", "--detached"] and p.environ().get("KUBERNEL_SPARE_DIR") == env["KUBERNEL_SPARE_DIR"]:
                found.append(p)
        except psutil.Error:
            continue
    return found


def test_a_spare_started_with_other_build_settings_is_not_used(tmp_path):
    other = spare_env(tmp_path, EVCXR_SETTING_OF_THIS_TEST="elsewhere")
    warm_spare(other)
    old = spares(other)
    assert len(old) == 1, old
    env = spare_env(tmp_path)
    k = Kernel.start(env=env)
    try:
        server, _ = serving(k)
        assert server.pid == k.pid, "a spare warmed with other build settings served the session"
        reply, msgs = k.execute("1 + 1", timeout=RUST)
        assert result_text(msgs) == "2", describe(reply, msgs)
        # It still waits, for a kernel with its settings (another kernelspec, say).
        assert all(p.is_running() for p in old)
        assert len(waiting_sockets(other)) >= 1
    finally:
        k.close()
        stop_spare(env)
    gone, alive = psutil.wait_procs(old, timeout=10)
    assert not alive, "`kubernel spare --stop` left a spare running"


def test_shutdown_of_a_kernel_a_spare_serves_leaves_no_process(spare):
    k = Kernel.start(env=spare)
    procs = family(k)
    assert len(procs) >= 3, f"expected the launcher, the spare and its evcxr child: {procs}"
    k.kc.shutdown()
    deadline = time.monotonic() + 10
    while k.km.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not k.km.is_alive(), "the launcher did not exit within 10 s of shutdown"
    gone, alive = psutil.wait_procs(procs, timeout=10)
    assert not alive, f"left behind: {[p.cmdline()[:3] for p in alive]}"
    k.kc.stop_channels()


def test_a_spare_serving_a_killed_launcher_ends(spare):
    k = Kernel.start(env=spare)
    try:
        server, child = serving(k)
        assert server.pid != k.pid
        os.kill(k.pid, signal.SIGKILL)
        gone, alive = psutil.wait_procs([server, child], timeout=10)
        assert not alive, f"still running 10 s after the launcher was killed: {[p.cmdline()[:3] for p in alive]}"
    finally:
        try:
            k.close()
        except Exception:  # noqa: BLE001 - the kernel is already gone
            pass
