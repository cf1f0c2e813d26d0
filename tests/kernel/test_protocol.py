"""The Jupyter messaging protocol, through jupyter_client, against kubernel.

Each test starts a fresh kernel (fixture `kernel` in conftest.py).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from pathlib import Path
from queue import Empty

import psutil
import pytest
import zmq
from jupyter_client.session import Session

from kernel_harness import (
    QUICK,
    RUST,
    Kernel,
    KernelTimeout,
    describe,
    family,
    of_type,
    result_text,
    stream_text,
)


def rust_str(s: str) -> str:
    """A Rust string literal for s (JSON escapes are valid Rust escapes here)."""
    return json.dumps(s)


# ---------------------------------------------------------------- busy / idle
SHELL_REQUESTS = {
    "kernel_info": lambda kc: kc.kernel_info(),
    "execute": lambda kc: kc.execute('println!("side effect"); 1 + 1'),
    "complete": lambda kc: kc.complete("std::collections::Hash"),
    "inspect": lambda kc: kc.inspect("std::vec::Vec"),
    "is_complete": lambda kc: kc.is_complete("fn f() {"),
    "history": lambda kc: kc.history(hist_access_type="tail", n=10),
    "comm_info": lambda kc: kc.comm_info(),
}


def check_busy_idle(k: Kernel, msg_id: str, request_type: str) -> list[dict]:
    msgs = k.wait_idle(msg_id, timeout=QUICK)
    k.drain_iopub(0.3)
    msgs_after = k.iopub[msg_id]
    states = [m["content"]["execution_state"] for m in msgs_after if m["msg_type"] == "status"]
    assert msgs_after[0]["msg_type"] == "status" and states[0] == "busy", (
        f"{request_type}: first iopub message is not status busy: "
        f"{[m['msg_type'] for m in msgs_after]}"
    )
    assert states == ["busy", "idle"], f"{request_type}: status sequence {states}"
    assert msgs_after[-1]["msg_type"] == "status", (
        f"{request_type}: iopub messages after idle: {[m['msg_type'] for m in msgs_after]}"
    )
    for m in msgs_after:
        ph = m["parent_header"]
        assert ph.get("msg_type") == f"{request_type}_request", ph
        assert ph.get("session") == k.kc.session.session, ph
    return msgs


@pytest.mark.parametrize("request_type", list(SHELL_REQUESTS))
def test_busy_idle_around_shell_request(kernel: Kernel, request_type: str) -> None:
    k = kernel
    k.drain_iopub(0.2)
    msg_id = SHELL_REQUESTS[request_type](k.kc)
    reply = k.reply(msg_id, timeout=RUST)
    assert reply["msg_type"] == f"{request_type}_reply"
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["parent_header"]["msg_type"] == f"{request_type}_request"
    if request_type == "is_complete":
        assert reply["content"]["status"] == "incomplete", reply["content"]
    else:
        assert reply["content"]["status"] == "ok", reply["content"]
    msgs = check_busy_idle(k, msg_id, request_type)
    if request_type == "execute":
        # side effects carry the request as their parent
        assert of_type(msgs, "execute_input"), describe(reply, msgs)
        assert "side effect" in stream_text(msgs), describe(reply, msgs)
        assert result_text(msgs) == "2", describe(reply, msgs)


def test_busy_idle_around_control_kernel_info(kernel: Kernel) -> None:
    k = kernel
    k.drain_iopub(0.2)
    msg_id = k.send_control("kernel_info_request")
    reply = k.control_reply(msg_id)
    assert reply["msg_type"] == "kernel_info_reply"
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["language_info"]["name"] == "rust"
    check_busy_idle(k, msg_id, "kernel_info")


# ---------------------------------------------------------- execution count
def test_execution_count_starts_at_one(kernel: Kernel) -> None:
    reply, msgs = kernel.execute("1 + 1")
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert reply["content"]["execution_count"] == 1
    (inp,) = of_type(msgs, "execute_input")
    assert inp["content"]["execution_count"] == 1
    (res,) = of_type(msgs, "execute_result")
    assert res["content"]["execution_count"] == 1
    assert res["content"]["data"]["text/plain"] == "2"

    reply, msgs = kernel.execute("2 + 2")
    assert reply["content"]["execution_count"] == 2
    assert result_text(msgs) == "4"


@pytest.mark.timeout(900)
def test_200_queued_executes_answered_in_order(kernel: Kernel) -> None:
    k = kernel
    codes = []
    for i in range(200):
        if i % 20 == 7:
            codes.append(f"{i} + 1")  # a Rust cell
        elif i % 3 == 1:
            codes.append("")
        else:
            codes.append("%lsmagic")
    ids = [k.kc.execute(code) for code in codes]

    # Replies in the order they arrive on the shell channel.
    order: list[dict] = []
    deadline = time.monotonic() + 60 + 20 * RUST / 10
    while len(order) < len(ids):
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(order)} of {len(ids)} replies arrived"
        try:
            order.append(k.kc.get_shell_msg(timeout=min(left, 1.0)))
        except Exception:
            continue
    got_ids = [r["parent_header"]["msg_id"] for r in order]
    assert got_ids == ids, "replies are not in the order of the requests"

    statuses = [r["content"]["status"] for r in order]
    assert statuses == ["ok"] * len(ids), [
        (codes[i], s) for i, s in enumerate(statuses) if s != "ok"
    ][:5]

    # An empty cell may or may not take a number (IPython does not count it);
    # every other cell takes the next one.
    counts = [r["content"]["execution_count"] for r in order]
    assert counts[0] == 1, counts[:5]
    assert all(b >= a for a, b in zip(counts, counts[1:])), counts
    nonempty = [c for c, code in zip(counts, codes) if code]
    assert all(b > a for a, b in zip(nonempty, nonempty[1:])), nonempty

    # the Rust cells' results belong to the right request
    for msg_id, code, count in zip(ids, codes, counts):
        if code.endswith(" + 1"):
            msgs = k.wait_idle(msg_id, timeout=QUICK)
            i = int(code.split()[0])
            (res,) = of_type(msgs, "execute_result")
            assert res["content"]["data"]["text/plain"] == str(1 + i)
            assert res["content"]["execution_count"] == count


# ------------------------------------------------------------ stop_on_error
FAILING_CELL = 'let not_a_number: i32 = "x";'  # a compile error: fails without running

def test_stop_on_error_aborts_queued_executes_only(kernel: Kernel) -> None:
    k = kernel
    k.execute("let before = 1;")
    failing = k.kc.execute(FAILING_CELL)
    queued = [k.kc.execute(f"before + {i}") for i in range(3)]
    info = k.kc.kernel_info()
    comp = k.kc.complete("%lsma")
    queued.append(k.kc.execute("before + 10"))

    r = k.reply(failing, timeout=RUST)
    assert r["content"]["status"] == "error", describe(r)
    for msg_id in queued:
        r = k.reply(msg_id, timeout=RUST)
        assert r["content"]["status"] == "aborted", (
            "an execute queued behind a failing cell must be aborted: " + describe(r)
        )
    r = k.reply(info, timeout=QUICK)
    assert r["msg_type"] == "kernel_info_reply" and r["content"]["status"] == "ok"
    r = k.reply(comp, timeout=QUICK)
    assert r["msg_type"] == "complete_reply" and r["content"]["status"] == "ok"
    assert "%lsmagic" in r["content"]["matches"]
    k.drain_iopub(0.5)
    for msg_id in queued:
        assert not of_type(k.iopub[msg_id], "execute_result"), "an aborted cell ran"

    # the queue is over: the next cell runs
    reply, msgs = k.execute("before + 41")
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert result_text(msgs) == "42"


def test_cell_sent_after_an_error_reply_runs(kernel: Kernel) -> None:
    """Only executes queued while the failing cell ran are aborted, not one sent after its reply."""
    k = kernel
    for _ in range(3):
        failing = k.kc.execute(FAILING_CELL)
        r = k.reply(failing, timeout=RUST)
        assert r["content"]["status"] == "error", describe(r)
        after = k.kc.execute("%lsmagic")  # at once, no pause
        r = k.reply(after, timeout=RUST)
        assert r["content"]["status"] == "ok", "a cell sent after the error's reply was aborted: " + describe(r)


def test_stop_on_error_false_keeps_running_the_queue(kernel: Kernel) -> None:
    k = kernel
    failing = k.kc.execute(FAILING_CELL, stop_on_error=False)
    after = k.kc.execute("20 + 22")
    r = k.reply(failing, timeout=RUST)
    assert r["content"]["status"] == "error", describe(r)
    r = k.reply(after, timeout=RUST)
    msgs = k.wait_idle(after)
    assert r["content"]["status"] == "ok", describe(r, msgs)
    assert result_text(msgs) == "42"


# ------------------------------------------------------------------- silent
def test_silent_execute(kernel: Kernel) -> None:
    k = kernel
    reply, _ = k.execute("1 + 1")
    assert reply["content"]["execution_count"] == 1

    reply, msgs = k.execute("let quiet = 41; quiet", silent=True)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert not of_type(msgs, "execute_input"), "silent execute published execute_input"
    assert not of_type(msgs, "execute_result"), "silent execute published execute_result"

    reply, msgs = k.execute("quiet + 1")
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert reply["content"]["execution_count"] == 2, "a silent execute counted"
    assert result_text(msgs) == "42", "the silent cell did not run"

    reply, _ = k.request(k.kc.history(hist_access_type="tail", n=10))
    sources = [h[2] for h in reply["content"]["history"]]
    assert "let quiet = 41; quiet" not in sources, "a silent execute went into history"
    assert "quiet + 1" in sources


# --------------------------------------------------------- user_expressions
def test_user_expressions(kernel: Kernel) -> None:
    reply, msgs = kernel.execute(
        "let ue = 20;",
        user_expressions={
            "double": "ue * 2 + 2",
            "text": '"é".len()',
            "bad": "no_such_variable_here",
        },
    )
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    ue = reply["content"]["user_expressions"]
    assert ue["double"]["status"] == "ok", ue["double"]
    assert ue["double"]["data"]["text/plain"] == "42"
    assert ue["text"]["status"] == "ok", ue["text"]
    assert ue["text"]["data"]["text/plain"] == "2"
    assert ue["bad"]["status"] == "error", ue["bad"]
    assert ue["bad"]["ename"]
    # user expressions are not cells: no output of their own
    assert not of_type(msgs, "execute_result")


# ---------------------------------------------------------------- interrupt
LOOP = "loop { std::thread::sleep(std::time::Duration::from_millis(100)); }"


def start_endless_cell(k: Kernel, tmp_path: Path) -> str:
    marker = tmp_path / "cell-started"
    code = f"std::fs::write({rust_str(str(marker))}, \"x\").unwrap();\n{LOOP}"
    msg_id = k.kc.execute(code)
    deadline = time.monotonic() + RUST
    while not marker.exists():
        r = k.poll_reply(msg_id)
        assert r is None, "the endless cell ended by itself: " + describe(r)
        assert time.monotonic() < deadline, "the endless cell did not start"
        time.sleep(0.05)
    time.sleep(0.3)  # well inside the loop now
    return msg_id


@pytest.mark.parametrize("via", ["kernel_manager", "control_channel"])
def test_interrupt_running_cell(kernel: Kernel, tmp_path: Path, via: str) -> None:
    k = kernel
    assert k.km.kernel_spec.interrupt_mode == "message"
    msg_id = start_endless_cell(k, tmp_path)

    t0 = time.monotonic()
    if via == "kernel_manager":
        k.km.interrupt_kernel()
    else:
        irq = k.send_control("interrupt_request")
        ir = k.control_reply(irq, timeout=5)
        assert ir["msg_type"] == "interrupt_reply"
        assert ir["content"]["status"] == "ok"
        assert time.monotonic() - t0 < 1.0, "interrupt_reply took more than 1 s"
    try:
        reply = k.reply(msg_id, timeout=10)
    except KernelTimeout:
        pytest.fail("the interrupted cell did not end within 10 s")
    elapsed = time.monotonic() - t0
    msgs = k.wait_idle(msg_id)
    assert elapsed < 1.0, f"the interrupted cell ended after {elapsed:.2f} s (> 1 s)"
    assert reply["content"]["status"] == "error", describe(reply, msgs)
    assert reply["content"]["ename"] == "Interrupted", describe(reply, msgs)
    errors = of_type(msgs, "error")
    assert errors and errors[0]["content"]["ename"] == "Interrupted", describe(reply, msgs)

    reply, msgs = k.execute("1 + 1")
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert result_text(msgs) == "2"


# ----------------------------------------------- bad and garbage messages
def url(info: dict, channel: str) -> str:
    port = info[f"{channel}_port"]
    if info["transport"] == "ipc":
        return f"ipc://{info['ip']}-{port}"
    return f"tcp://{info['ip']}:{port}"


def signed_frames(key: bytes, parts: list[bytes]) -> list[bytes]:
    sig = hmac.new(key, digestmod=hashlib.sha256)
    for p in parts:
        sig.update(p)
    return [b"<IDS|MSG>", sig.hexdigest().encode()] + parts


def hostile_frames(k: Kernel, msg_type: str, content: dict) -> tuple[list[tuple[str, list[bytes]]], dict[str, str]]:
    """Badly signed, unsigned and malformed messages, each of which the kernel
    must drop without acting on it or replying: [(what it is, frames)], and
    {msg_id: what it is} for those that carry a parsable header."""
    key = k.kc.session.key
    out: list[tuple[str, list[bytes]]] = []
    ids: dict[str, str] = {}

    def add(label: str, frames: list[bytes]) -> None:
        out.append((label, frames))
        try:
            ids[json.loads(frames[2])["msg_id"]] = label
        except Exception:
            pass

    wrong = Session(key=b"not-the-kernel-key", username="intruder")
    add(f"{msg_type} signed with another key", wrong.serialize(wrong.msg(msg_type, content)))
    unsigned = Session(key=b"", username="intruder")
    add(f"{msg_type} without a signature", unsigned.serialize(unsigned.msg(msg_type, content)))
    frames = k.kc.session.serialize(k.kc.session.msg(msg_type, content))
    frames[1] = hmac.new(key, b"something else", hashlib.sha256).hexdigest().encode()
    add(f"{msg_type} with the signature of other bytes", frames)
    frames = k.kc.session.serialize(k.kc.session.msg(msg_type, content))
    frames[1] = frames[1][:10]
    add(f"{msg_type} with a truncated signature", frames)
    for label, frames in [
        ("one empty frame", [b""]),
        ("one garbage frame", [b"garbage"]),
        ("a lone delimiter", [b"<IDS|MSG>"]),
        ("delimiter and empty signature", [b"<IDS|MSG>", b""]),
        ("broken JSON, no signature", [b"<IDS|MSG>", b"", b"{", b"}", b"", b""]),
        ("4 KiB of random bytes", [os.urandom(4096)]),
        ("100 frames of junk", [b"x"] * 100),
        ("bad signature over invalid UTF-8", [b"<IDS|MSG>", b"0" * 64, b"\xff\xfe\xfd", b"{}", b"{}", b"{}"]),
    ]:
        add(label, frames)

    hdr = lambda t: json.dumps(  # noqa: E731
        {"msg_id": uuid.uuid4().hex, "username": "u", "session": "s",
         "date": "2026-01-01T00:00:00Z", "msg_type": t, "version": "5.3"}
    ).encode()
    for label, parts in [
        ("signed, header not UTF-8", [b"\xff\xfe", b"{}", b"{}", b"{}"]),
        ("signed, header not JSON", [b"not json", b"{}", b"{}", b"{}"]),
        ("signed, header a JSON list", [b"[]", b"{}", b"{}", b"{}"]),
        ("signed, header without fields", [b"{}", b"{}", b"{}", b"{}"]),
        (f"signed {msg_type} whose content is a JSON list", [hdr(msg_type), b"{}", b"{}", b"[1, 2]"]),
        (f"signed {msg_type} whose content is a JSON string", [hdr(msg_type), b"{}", b"{}", b'"text"']),
        (f"signed {msg_type} without a content frame", [hdr(msg_type), b"{}", b"{}"]),
    ]:
        add(label, signed_frames(key, parts))
    return out, ids


def send_hostile(k: Kernel, channel: str, msg_type: str, content: dict) -> dict[str, str]:
    """Send every hostile message to `channel` from a raw DEALER socket; fail
    if the kernel answers any of them. Returns {msg_id: what it is}."""
    batches, ids = hostile_frames(k, msg_type, content)
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.linger = 0
    s.connect(url(k.km.get_connection_info(), channel))
    answered = []
    try:
        time.sleep(0.2)
        for _, frames in batches:
            s.send_multipart(frames)
            time.sleep(0.01)
        deadline = time.monotonic() + 1.0
        while s.poll(max(int((deadline - time.monotonic()) * 1000), 0)):
            reply = s.recv_multipart()
            what = "an unparsable message"
            try:
                i = reply.index(b"<IDS|MSG>")
                parent = json.loads(reply[i + 3])
                what = ids.get(parent.get("msg_id"), what)
                what += f" (answered with {json.loads(reply[i + 2]).get('msg_type')})"
            except Exception:
                pass
            answered.append(what)
    finally:
        s.close()
    assert not answered, f"the kernel on {channel} acted on: {answered}"
    return ids


def assert_kernel_serves(k: Kernel) -> None:
    assert k.km.is_alive(), "the kernel process died"
    # shell
    reply, msgs = k.execute("1 + 1")
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert result_text(msgs) == "2"
    # control
    r = k.control_reply(k.send_control("kernel_info_request"))
    assert r["content"]["status"] == "ok"
    # heartbeat
    assert heartbeat_rtt(k, b"ping") is not None, "heartbeat not answered"


def heartbeat_rtt(k: Kernel, payload: bytes, timeout: float = 2.0) -> float | None:
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.REQ)
    s.linger = 0
    try:
        s.connect(url(k.km.get_connection_info(), "hb"))
        t0 = time.monotonic()
        s.send(payload)
        if not s.poll(int(timeout * 1000)):
            return None
        echo = s.recv()
        assert echo == payload, "heartbeat did not echo the bytes it got"
        return time.monotonic() - t0
    finally:
        s.close()


def no_trace_of(k: Kernel, ids: dict[str, str]) -> None:
    k.drain_iopub(0.3)
    for msg_id, what in ids.items():
        assert not k.iopub.get(msg_id), (
            f"the kernel acted on {what}: {[m['msg_type'] for m in k.iopub[msg_id]]}"
        )
    for m in k.all_iopub:
        if m["msg_type"] == "stream":
            assert "SHOULD_NOT_RUN" not in m["content"]["text"], "a badly signed cell ran"


def test_bad_messages_on_shell(kernel: Kernel) -> None:
    k = kernel
    ids = send_hostile(
        k, "shell", "execute_request",
        {"code": 'println!("SHOULD_NOT_RUN");', "silent": False, "store_history": True,
         "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    )
    assert_kernel_serves(k)
    no_trace_of(k, ids)


def test_bad_messages_on_control(kernel: Kernel) -> None:
    k = kernel
    ids = send_hostile(k, "control", "shutdown_request", {"restart": False})
    time.sleep(0.5)
    assert k.km.is_alive(), "a badly signed or malformed shutdown_request shut the kernel down"
    assert_kernel_serves(k)
    no_trace_of(k, ids)


STDIN_CELL = (
    'println!("EVCXR_INPUT_REQUEST:Name? "); let mut s = String::new(); '
    "std::io::stdin().read_line(&mut s).unwrap(); println!(\"got {}\", s.trim());"
)


def stdin_round_trip(k: Kernel, answer: str, cell: str = STDIN_CELL) -> tuple[dict, list[dict], dict]:
    msg_id = k.kc.execute(cell, allow_stdin=True)
    deadline = time.monotonic() + RUST
    req = None
    while req is None:
        if time.monotonic() > deadline:
            r = k.poll_reply(msg_id)
            pytest.fail("no input_request arrived" + (": " + describe(r) if r else ""))
        try:
            m = k.kc.get_stdin_msg(timeout=0.5)
        except Empty:
            m = None
        if m is not None and m["parent_header"].get("msg_id") == msg_id:
            req = m
            break
        r = k.poll_reply(msg_id)
        if r is not None:
            pytest.fail("the cell ended without an input_request: " + describe(r, k.wait_idle(msg_id)))
    assert req["msg_type"] == "input_request"
    k.kc.input(answer)
    reply = k.reply(msg_id, timeout=RUST)
    msgs = k.wait_idle(msg_id)
    return reply, msgs, req


def test_bad_messages_on_stdin(kernel: Kernel) -> None:
    k = kernel
    ids = send_hostile(k, "stdin", "input_reply", {"value": "intruder"})
    assert_kernel_serves(k)
    no_trace_of(k, ids)
    # stdin itself still works, and takes the real answer
    reply, msgs, _ = stdin_round_trip(k, "Ada")
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert "got Ada" in stream_text(msgs)


def test_garbage_on_heartbeat(kernel: Kernel) -> None:
    k = kernel
    info = k.km.get_connection_info()
    ctx = zmq.Context.instance()
    # a REQ peer: every payload, however odd, comes back as it was
    for payload in [b"", b"\x00\xff\xfe", os.urandom(1 << 20), "é✓".encode()]:
        rtt = heartbeat_rtt(k, payload, timeout=5)
        assert rtt is not None, f"heartbeat did not echo a {len(payload)}-byte payload"
    # multipart through REQ
    s = ctx.socket(zmq.REQ)
    s.linger = 0
    s.connect(url(info, "hb"))
    s.send_multipart([b"a", b"b", b"c"])
    assert s.poll(5000), "heartbeat did not answer a multipart message"
    assert s.recv_multipart() == [b"a", b"b", b"c"]
    s.close()
    # a DEALER peer sends frames without the REQ envelope (malformed for REP)
    d = ctx.socket(zmq.DEALER)
    d.linger = 0
    d.connect(url(info, "hb"))
    time.sleep(0.2)
    for frames in ([b"no envelope"], [b"x", b"y"], [os.urandom(100)]):
        d.send_multipart(frames)
    time.sleep(0.5)
    d.close()
    assert_kernel_serves(k)


# ------------------------------------------------ heartbeat during compile
SLOW_COMPILE_N = 1_500_000
# const evaluation makes rustc work for seconds on a small cell
SLOW_COMPILE = (
    "let slow_result = {\n"
    "    #[allow(long_running_const_eval)]\n"
    "    const SLOW: u64 = {\n"
    "        let mut i = 0u64; let mut s = 0u64;\n"
    f"        while i < {SLOW_COMPILE_N} {{ s = s.wrapping_mul(31).wrapping_add(i); i += 1; }}\n"
    "        s\n"
    "    };\n"
    "    SLOW\n"
    "};\n"
    "slow_result"
)


def slow_compile_value() -> int:
    s = 0
    for i in range(SLOW_COMPILE_N):
        s = (s * 31 + i) & 0xFFFFFFFFFFFFFFFF
    return s


def test_heartbeat_answered_during_long_compile(kernel: Kernel) -> None:
    k = kernel
    info = k.km.get_connection_info()
    hb = zmq.Context.instance().socket(zmq.REQ)
    hb.linger = 0
    hb.connect(url(info, "hb"))
    msg_id = k.kc.execute(SLOW_COMPILE)
    t0 = time.monotonic()
    rtts = []
    reply = None
    try:
        while reply is None:
            assert time.monotonic() - t0 < RUST * 2, "the slow cell did not finish"
            ts = time.monotonic()
            hb.send(b"beat")
            assert hb.poll(1000), (
                f"heartbeat not answered within 1 s, {ts - t0:.1f} s into a compile"
            )
            assert hb.recv() == b"beat"
            rtts.append(time.monotonic() - ts)
            time.sleep(0.1)
            reply = k.poll_reply(msg_id)
    finally:
        hb.close()
    duration = time.monotonic() - t0
    msgs = k.wait_idle(msg_id)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert result_text(msgs) == str(slow_compile_value())
    assert duration > 1.0 and len(rtts) >= 5, (
        f"the cell took only {duration:.1f} s: too short to show anything about the heartbeat"
    )
    assert max(rtts) < 1.0


# ---------------------------------------------------- shutdown and restart
def session_processes(sid: int) -> list[psutil.Process]:
    """Live processes in session sid (the kernel is started in its own session,
    so everything it spawns is in it unless it escaped with setsid)."""
    found = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if os.getsid(p.pid) == sid:
                found.append(p)
        except (ProcessLookupError, psutil.Error, PermissionError):
            continue
    return found


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for p in procs:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def describe_procs(procs: list[psutil.Process]) -> str:
    out = []
    for p in procs:
        try:
            out.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
        except psutil.Error:
            out.append(str(p.pid))
    return "; ".join(out)


def test_shutdown_leaves_no_process(kernel: Kernel) -> None:
    k = kernel
    reply, msgs = k.execute("let x = 1; x + 1")  # evcxr is up, with its child
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    pid = k.pid
    # With a spare, the session is served by another process than the one Jupyter started.
    before = set(family(k)) | set(session_processes(pid))

    msg_id = k.kc.shutdown()
    r = k.control_reply(msg_id, timeout=QUICK)
    assert r["msg_type"] == "shutdown_reply"
    assert r["content"]["status"] == "ok"
    assert r["content"]["restart"] is False

    # the kernel exits by itself (nobody kills it here)
    deadline = time.monotonic() + 10
    while k.km.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not k.km.is_alive(), "the kernel did not exit within 10 s of shutdown_reply"
    left = wait_gone(list(before) + session_processes(pid), timeout=5)
    assert not left, f"processes left behind by the kernel: {describe_procs(left)}"


def test_restart_leaves_no_process(kernel: Kernel) -> None:
    k = kernel
    reply, msgs = k.execute("let before_restart = 7;")
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    old_pid = k.pid
    before = set(family(k)) | set(session_processes(old_pid))

    k.km.shutdown_wait_time = 30  # long enough to see whether it exits by itself
    t0 = time.monotonic()
    k.km.restart_kernel(now=False)
    took = time.monotonic() - t0
    left = wait_gone(list(before) + session_processes(old_pid), timeout=5)
    assert not left, f"processes left behind by the old kernel: {describe_procs(left)}"
    assert took < 10, (
        f"restart took {took:.1f} s: the kernel did not exit on shutdown_request(restart=True) "
        "and had to be signalled"
    )
    assert k.pid != old_pid
    k.kc.wait_for_ready(timeout=QUICK)
    k.replies.clear()
    reply, msgs = k.execute("1 + 1")
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert reply["content"]["execution_count"] == 1
    assert result_text(msgs) == "2"
    reply, msgs = k.execute("before_restart")
    assert reply["content"]["status"] == "error", "a variable survived the restart"


# -------------------------------------------------------------------- stdin
def test_stdin_round_trip(kernel: Kernel) -> None:
    reply, msgs, req = stdin_round_trip(kernel, "Ada")
    assert req["content"]["prompt"] == "Name? "
    assert req["content"]["password"] is False
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    out = stream_text(msgs)
    assert "got Ada" in out, describe(reply, msgs)
    assert "EVCXR_INPUT_REQUEST" not in out, "the stdin protocol line leaked into the output"


def test_plain_stdin_read_line(kernel: Kernel) -> None:
    """Rust's own std::io::stdin() asks the frontend too, once per line, and the kernel goes on."""
    cell = 'let mut plain = String::new(); std::io::stdin().read_line(&mut plain).unwrap(); println!("read {:?}", plain);'
    reply, msgs, req = stdin_round_trip(kernel, "grace hopper", cell)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert 'read "grace hopper\\n"' in stream_text(msgs), describe(reply, msgs)
    # Nothing of the answer is left on the pipe to be taken for a command.
    reply, msgs = kernel.execute("plain.len()")
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert result_text(msgs) == "13"


def test_stdin_prompt_without_newline(kernel: Kernel) -> None:
    """print!("Name: ") then a read: the input box still comes (the request starts its own line)."""
    cell = ('use std::io::Write; print!("Name: "); std::io::stdout().flush().unwrap(); '
            'let mut who = String::new(); std::io::stdin().read_line(&mut who).unwrap(); println!("hi {}", who.trim());')
    reply, msgs, _ = stdin_round_trip(kernel, "Ada", cell)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    out = stream_text(msgs)
    assert "hi Ada" in out and "EVCXR_INPUT_REQUEST" not in out, describe(reply, msgs)


def test_stdin_without_a_frontend_is_end_of_file(kernel: Kernel) -> None:
    """With allow_stdin false, reading stdin ends at once (EOF) instead of hanging or spinning."""
    cell = ('use std::io::Read; let mut all = String::new(); '
            'let n = std::io::stdin().read_to_string(&mut all).unwrap(); println!("read {} bytes", n);')
    reply, msgs = kernel.execute(cell, allow_stdin=False)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert "read 0 bytes" in stream_text(msgs), describe(reply, msgs)
    reply, msgs = kernel.execute("40 + 2")
    assert result_text(msgs) == "42", describe(reply, msgs)


# ------------------------------------------------------------------ history
def history(k: Kernel, **kw) -> list:
    kw.setdefault("raw", True)
    kw.setdefault("output", False)
    reply, _ = k.request(k.kc.history(**kw))
    assert reply["content"]["status"] == "ok", reply["content"]
    return [list(h) for h in reply["content"]["history"]]


def test_history_tail_range_search(kernel: Kernel) -> None:
    k = kernel
    cells = ["let hist_a = 40;", "hist_a + 2", "%lsmagic"]
    counts = []
    for code in cells:
        reply, msgs = k.execute(code)
        assert reply["content"]["status"] == "ok", describe(reply, msgs)
        counts.append(reply["content"]["execution_count"])

    tail = history(k, hist_access_type="tail", n=3)
    assert [h[2] for h in tail] == cells
    assert [h[1] for h in tail] == counts
    session = tail[0][0]
    assert all(h[0] == session for h in tail)

    rng = history(k, hist_access_type="range", session=session, start=counts[0], stop=counts[2] + 1)
    assert [h[2] for h in rng] == cells
    rng = history(k, hist_access_type="range", session=0, start=counts[1], stop=counts[2])
    assert [h[2] for h in rng] == ["hist_a + 2"], "session 0 is the current session"

    assert [h[2] for h in history(k, hist_access_type="search", pattern="hist_a*")] == ["hist_a + 2"]
    assert len(history(k, hist_access_type="search", pattern="*hist_a*")) == 2
    k.execute("hist_a + 2")
    assert len(history(k, hist_access_type="search", pattern="hist_a*")) == 2
    assert len(history(k, hist_access_type="search", pattern="hist_a*", unique=True)) == 1
    assert len(history(k, hist_access_type="search", pattern="*", n=2)) == 2


def test_history_with_output(kernel: Kernel) -> None:
    k = kernel
    for code in ["let hist_b = 40;", "hist_b + 2"]:
        reply, msgs = k.execute(code)
        assert reply["content"]["status"] == "ok", describe(reply, msgs)
    with_output = history(k, hist_access_type="tail", n=2, output=True)
    assert [len(h[2]) for h in with_output] == [2, 2], with_output
    assert [h[2][0] for h in with_output] == ["let hist_b = 40;", "hist_b + 2"]
    out = with_output[1][2][1]
    assert out == "42", f"output history (output=True) of `hist_b + 2` is {out!r}, not its result"


def test_history_survives_restart(kernel: Kernel, history_file: Path) -> None:
    k = kernel
    k.execute("let persisted_cell = 7;")
    k.km.restart_kernel(now=False)
    k.kc.wait_for_ready(timeout=QUICK)
    k.replies.clear()
    tail = history(k, hist_access_type="tail", n=5)
    assert "let persisted_cell = 7;" in [h[2] for h in tail], tail
    found = history(k, hist_access_type="search", pattern="*persisted_cell*")
    assert found and found[0][2] == "let persisted_cell = 7;"
    assert history_file.exists(), "KUBERNEL_HISTORY was not used for the history file"


# -------------------------------------------------------------------- comms
def test_comm_open_unknown_target_is_closed(kernel: Kernel) -> None:
    k = kernel
    comm_id = uuid.uuid4().hex
    msg_id = k.send_shell(
        "comm_open", {"comm_id": comm_id, "target_name": "kubernel.no_such_target", "data": {}}
    )
    close = k.wait_iopub(msg_id, lambda m: m["msg_type"] == "comm_close", timeout=QUICK)
    assert close["content"]["comm_id"] == comm_id
    reply, _ = k.request(k.kc.comm_info())
    assert comm_id not in reply["content"]["comms"]


# -------------------------------------------------------------- is_complete
def is_complete(k: Kernel, code: str) -> dict:
    reply, _ = k.request(k.kc.is_complete(code))
    return reply["content"]


def test_is_complete_gives_indent(kernel: Kernel) -> None:
    k = kernel
    one = is_complete(k, "fn f() {")
    assert one["status"] == "incomplete", one
    assert one.get("indent", "").strip() == "" and len(one.get("indent", "")) > 0, one
    two = is_complete(k, "fn f() {\n    if true {")
    assert two["status"] == "incomplete", two
    assert two.get("indent", "").strip() == "" and len(two["indent"]) > len(one["indent"]), two
    assert is_complete(k, 'let s = "abc')["status"] == "incomplete"
    assert is_complete(k, "fn f() {\n}")["status"] == "complete"
    assert is_complete(k, "fn f() }")["status"] == "invalid"


def test_is_complete_for_magics_as_a_shell_would(kernel: Kernel) -> None:
    k = kernel
    # A cell magic's body goes on until a blank line, so a terminal client can take YAML.
    assert is_complete(k, "%%k8s apply")["status"] == "incomplete"
    assert is_complete(k, "%%k8s apply\napiVersion: v1")["status"] == "incomplete"
    assert is_complete(k, "%%k8s apply\napiVersion: v1\n\n")["status"] == "complete"
    # An open quote or a trailing backslash continues a line magic.
    assert is_complete(k, "%k8s get pods -l 'app=web")["status"] == "incomplete"
    assert is_complete(k, "%k8s get pods \\")["status"] == "incomplete"
    assert is_complete(k, "%k8s get pods")["status"] == "complete"


def test_a_backslash_continues_a_magic_line(kernel: Kernel) -> None:
    reply, _ = kernel.execute("%help \\\n    lsmagic")
    c = reply["content"]
    assert c["status"] == "ok", c
    pages = [p["data"]["text/plain"] for p in c.get("payload", []) if p.get("source") == "page"]
    assert pages and "%lsmagic" in pages[0], c


# ----------------------------------------------------------------- complete
@pytest.mark.parametrize("where", ["end", "middle"])
def test_complete_cursor_in_code_points(kernel: Kernel, where: str) -> None:
    k = kernel
    prefix = "let résumé_total = 1;\nlet ok = résumé_t"
    code = prefix + (" + 1;" if where == "middle" else "")
    pos = len(prefix)  # code points, not bytes
    reply, _ = k.request(k.kc.complete(code, cursor_pos=pos), timeout=RUST)
    c = reply["content"]
    assert c["status"] == "ok", c
    assert "résumé_total" in c["matches"], c["matches"][:20]
    assert c["cursor_end"] == pos, c
    assert c["cursor_start"] == pos - len("résumé_t"), c


def test_complete_magic(kernel: Kernel) -> None:
    reply, _ = kernel.request(kernel.kc.complete("%lsma"))
    c = reply["content"]
    assert c["matches"] == ["%lsmagic"]
    assert (c["cursor_start"], c["cursor_end"]) == (0, 5)


# -------------------------------------------------------- streaming output
def test_output_streams_while_the_cell_runs(kernel: Kernel) -> None:
    k = kernel
    msg_id = k.kc.execute(
        'println!("early"); std::thread::sleep(std::time::Duration::from_secs(3)); println!("late");'
    )
    early = k.wait_iopub(
        msg_id, lambda m: m["msg_type"] == "stream" and "early" in m["content"]["text"], timeout=RUST
    )
    t_early = time.monotonic()
    assert "late" not in early["content"]["text"], "stdout arrived only at the end of the cell"
    reply = k.reply(msg_id, timeout=RUST)
    assert time.monotonic() - t_early > 1.5, "stdout arrived only at the end of the cell"
    msgs = k.wait_idle(msg_id)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert stream_text(msgs) == "early\nlate\n"


def test_stdout_and_stderr_keep_their_order(kernel: Kernel) -> None:
    reply, msgs = kernel.execute(
        'println!("o1"); eprintln!("e1"); println!("o2"); eprintln!("e2");'
    )
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    seq = []
    for m in of_type(msgs, "stream"):
        for line in m["content"]["text"].splitlines():
            seq.append(f"{m['content']['name']}:{line}")
    assert seq == ["stdout:o1", "stderr:e1", "stdout:o2", "stderr:e2"], seq


def test_threads_a_cell_left_running_are_heard_between_cells(kernel: Kernel) -> None:
    # A live display (traffic, progress) is drawn by a thread while no cell runs: its output
    # must be shown then, not when the next cell happens to run, and its panic is not the
    # next cell's error.
    k = kernel
    reply, msgs = k.execute(
        "std::thread::spawn(|| { for i in 0..4 { std::thread::sleep(std::time::Duration::from_millis(300)); "
        'println!("tick {i}"); } eprintln!("done"); panic!("late trouble"); });'
    )
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    msg_id = reply["parent_header"]["msg_id"]
    k.wait_iopub(msg_id, lambda m: m["msg_type"] == "stream" and "late trouble" in m["content"]["text"], timeout=QUICK)
    seen = k.iopub[msg_id]
    assert stream_text(seen) == "tick 0\ntick 1\ntick 2\ntick 3\n", describe(reply, seen)
    assert "done\n" in stream_text(seen, "stderr"), describe(reply, seen)
    reply, msgs = k.execute("1 + 1")
    assert reply["content"]["status"] == "ok" and result_text(msgs) == "2", describe(reply, msgs)
