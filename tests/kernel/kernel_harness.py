"""A small harness around jupyter_client's KernelManager / BlockingKernelClient.

Every wait has a deadline. Messages are sorted by the msg_id of their parent,
so a test can wait for the reply and the side effects of one request while
others are in flight, without losing anything that arrives in between.
"""
from __future__ import annotations

import os
import re
import time
import uuid
from collections import defaultdict
from queue import Empty
from typing import Any, Iterable

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

KERNEL_NAME = "kubernel"


def built_kernel() -> str:
    """The kernel binary the set-up built: $KUBERNEL_BIN, else the release build in
    $CARGO_TARGET_DIR, else in ${KUBERNEL_CACHE:-~/.cache/kubernel}/target (as install/setup)."""
    if os.environ.get("KUBERNEL_BIN"):
        return os.environ["KUBERNEL_BIN"]
    cache = os.environ.get("KUBERNEL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "kubernel")
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(cache, "target")
    return os.path.join(target, "release", "kubernel")

# Seconds to wait for a request that does not compile Rust (kernel_info,
# complete, magics, ...).
QUICK = float(os.environ.get("KUBERNEL_TEST_QUICK_TIMEOUT", "20"))
# Seconds to wait for a Rust cell. The first cell of a kernel compiles the
# evcxr context; on a loaded 2-core machine that can take a while.
RUST = float(os.environ.get("KUBERNEL_TEST_RUST_TIMEOUT", "120"))
# Seconds to wait for the kernel to answer kernel_info after launch.
STARTUP = float(os.environ.get("KUBERNEL_TEST_STARTUP_TIMEOUT", "30"))

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


class KernelTimeout(AssertionError):
    pass


class Kernel:
    """A running kernel and a client connected to it."""

    def __init__(self, km: KernelManager, kc: BlockingKernelClient):
        self.km = km
        self.kc = kc
        self.iopub: dict[str | None, list[dict]] = defaultdict(list)
        self.idle: set[str] = set()
        self.replies: dict[str, dict] = {}
        self.control_replies: dict[str, dict] = {}
        self.all_iopub: list[dict] = []

    # -- start / stop -------------------------------------------------
    @classmethod
    def start(cls, env: dict[str, str] | None = None, cwd: str | None = None, **km_kw: Any) -> "Kernel":
        km = KernelManager(kernel_name=KERNEL_NAME, **km_kw)
        kw: dict[str, Any] = {}
        if env is not None:
            kw["env"] = env
        if cwd is not None:
            kw["cwd"] = cwd
        km.start_kernel(**kw)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=STARTUP)
        except Exception:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
            raise
        return cls(km, kc)

    def close(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=True)

    @property
    def pid(self) -> int:
        return self.km.provisioner.process.pid  # type: ignore[union-attr]

    # -- receiving ----------------------------------------------------
    def _pump_iopub(self, timeout: float) -> bool:
        try:
            msg = self.kc.get_iopub_msg(timeout=max(timeout, 0.001))
        except Empty:
            return False
        parent = msg.get("parent_header", {}).get("msg_id")
        self.iopub[parent].append(msg)
        self.all_iopub.append(msg)
        if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
            if parent:
                self.idle.add(parent)
        return True

    def drain_iopub(self, quiet: float = 0.3) -> None:
        """Read iopub until it has been quiet for `quiet` seconds."""
        while self._pump_iopub(quiet):
            pass

    def wait_idle(self, msg_id: str, timeout: float = QUICK) -> list[dict]:
        """All iopub messages of the request msg_id, up to its idle status."""
        deadline = time.monotonic() + timeout
        while msg_id not in self.idle:
            left = deadline - time.monotonic()
            if left <= 0:
                got = [m["msg_type"] for m in self.iopub.get(msg_id, [])]
                raise KernelTimeout(
                    f"no idle status for request {msg_id} within {timeout:.0f} s "
                    f"(iopub so far for it: {got})"
                )
            self._pump_iopub(min(left, 0.5))
        return list(self.iopub[msg_id])

    def wait_iopub(self, msg_id: str, predicate, timeout: float = QUICK) -> dict:
        """Wait for an iopub message of request msg_id that satisfies predicate."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            msgs = self.iopub.get(msg_id, [])
            for m in msgs[seen:]:
                if predicate(m):
                    return m
            seen = len(msgs)
            left = deadline - time.monotonic()
            if left <= 0:
                raise KernelTimeout(
                    f"no matching iopub message for {msg_id} within {timeout:.0f} s "
                    f"(got {[m['msg_type'] for m in msgs]})"
                )
            self._pump_iopub(min(left, 0.5))

    def _wait_reply(self, channel, store: dict, msg_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while msg_id not in store:
            left = deadline - time.monotonic()
            try:
                msg = channel.get_msg(timeout=max(min(left, 0.5), 0.001))
            except Empty:
                if left <= 0:
                    raise KernelTimeout(
                        f"no reply to request {msg_id} within {timeout:.1f} s"
                    ) from None
                continue
            store[msg.get("parent_header", {}).get("msg_id")] = msg
        return store.pop(msg_id)

    def poll_reply(self, msg_id: str, timeout: float = 0.0) -> dict | None:
        """The shell reply to msg_id if it has arrived (or arrives within timeout)."""
        try:
            return self.reply(msg_id, timeout)
        except KernelTimeout:
            return None

    def reply(self, msg_id: str, timeout: float = QUICK) -> dict:
        return self._wait_reply(self.kc.shell_channel, self.replies, msg_id, timeout)

    def control_reply(self, msg_id: str, timeout: float = QUICK) -> dict:
        return self._wait_reply(self.kc.control_channel, self.control_replies, msg_id, timeout)

    # -- requests -----------------------------------------------------
    def send_shell(self, msg_type: str, content: dict) -> str:
        msg = self.kc.session.msg(msg_type, content)
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def send_control(self, msg_type: str, content: dict | None = None) -> str:
        msg = self.kc.session.msg(msg_type, content or {})
        self.kc.control_channel.send(msg)
        return msg["header"]["msg_id"]

    def execute(
        self, code: str, timeout: float = RUST, **kw: Any
    ) -> tuple[dict, list[dict]]:
        """Run a cell; return its execute_reply and its iopub messages (busy..idle)."""
        msg_id = self.kc.execute(code, **kw)
        reply = self.reply(msg_id, timeout)
        msgs = self.wait_idle(msg_id, timeout=QUICK)
        return reply, msgs

    def request(self, msg_id: str, timeout: float = QUICK) -> tuple[dict, list[dict]]:
        reply = self.reply(msg_id, timeout)
        msgs = self.wait_idle(msg_id, timeout=QUICK)
        return reply, msgs


# -- reading outputs --------------------------------------------------------
def of_type(msgs: Iterable[dict], msg_type: str) -> list[dict]:
    return [m for m in msgs if m["msg_type"] == msg_type]


def stream_text(msgs: Iterable[dict], name: str = "stdout") -> str:
    return "".join(
        m["content"]["text"]
        for m in msgs
        if m["msg_type"] == "stream" and m["content"]["name"] == name
    )


def result_text(msgs: Iterable[dict]) -> str | None:
    results = of_type(msgs, "execute_result")
    if not results:
        return None
    return results[-1]["content"]["data"].get("text/plain")


def error_text(reply: dict, msgs: Iterable[dict] = ()) -> str:
    """Everything a user sees of an error: ename, evalue, traceback (no ANSI)."""
    parts = []
    for c in [reply["content"]] + [m["content"] for m in of_type(msgs, "error")]:
        parts.append(str(c.get("ename", "")))
        parts.append(str(c.get("evalue", "")))
        parts.extend(str(t) for t in c.get("traceback", []) or [])
    return strip_ansi("\n".join(parts))


def describe(reply: dict, msgs: Iterable[dict] = ()) -> str:
    """A short account of a cell's outcome, for assertion messages."""
    c = reply["content"]
    lines = [f"reply status={c.get('status')!r}"]
    if c.get("status") == "error":
        lines.append(f"ename={c.get('ename')!r} evalue={str(c.get('evalue'))[:500]!r}")
    for m in msgs:
        t = m["msg_type"]
        if t == "stream":
            lines.append(f"{t}/{m['content']['name']}: {m['content']['text'][:300]!r}")
        elif t in ("execute_result", "display_data"):
            lines.append(f"{t}: {str(m['content'].get('data'))[:300]}")
        elif t == "error":
            lines.append(f"error: {m['content'].get('ename')!r} {str(m['content'].get('evalue'))[:300]!r}")
    return "\n  ".join(lines)


def new_id() -> str:
    return uuid.uuid4().hex


def serving(k: Kernel):
    """The process that serves the session (the launcher Jupyter started, or the spare kernel
    it handed the session to) and its evcxr child, found from the child's pid."""
    import psutil

    reply, msgs = k.execute("std::process::id()", timeout=RUST)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    child = psutil.Process(int(result_text(msgs)))
    return child.parent(), child


def family(k: Kernel) -> list:
    """Every process of the kernel: the launcher, the process serving the session, and all
    they started."""
    import psutil

    server, _ = serving(k)
    launcher = psutil.Process(k.pid)
    return list({launcher, server, *server.children(recursive=True), *launcher.children(recursive=True)})
