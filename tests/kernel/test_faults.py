"""Faults in user code: the cell fails as a user would expect, and the kernel
keeps serving."""
from __future__ import annotations

import pytest

from kernel_harness import (
    RUST,
    Kernel,
    describe,
    error_text,
    of_type,
    result_text,
    stream_text,
    strip_ansi,
)


def assert_next_cell_works(k: Kernel) -> None:
    assert k.km.is_alive(), "the kernel process died"
    reply, msgs = k.execute("1 + 1")
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert result_text(msgs) == "2"


def assert_error_cell(reply: dict, msgs: list[dict]) -> None:
    assert reply["content"]["status"] == "error", describe(reply, msgs)
    errors = of_type(msgs, "error")
    assert len(errors) == 1, "expected one error message on iopub: " + describe(reply, msgs)
    assert errors[0]["content"]["ename"] == reply["content"]["ename"]


def test_panic(kernel: Kernel) -> None:
    k = kernel
    reply, msgs = k.execute('let n = 42; panic!("kubernel test panic {}", n);')
    assert_error_cell(reply, msgs)
    assert reply["content"]["ename"] == "Panic", describe(reply, msgs)
    assert "kubernel test panic 42" in reply["content"]["evalue"], describe(reply, msgs)
    assert_next_cell_works(k)


@pytest.mark.parametrize(
    "crash",
    [
        pytest.param("std::process::abort();", id="abort"),
        pytest.param("unsafe { std::ptr::null_mut::<i32>().write(1) }", id="segfault"),
    ],
)
def test_process_death_names_lost_variables(kernel: Kernel, crash: str) -> None:
    k = kernel
    reply, msgs = k.execute("let kept = 5;")
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    reply, msgs = k.execute(crash)
    assert_error_cell(reply, msgs)
    text = error_text(reply, msgs)
    assert "kept" in text, "the error does not name the lost variable `kept`:\n" + text
    assert_next_cell_works(k)


@pytest.mark.timeout(600)
def test_ten_megabytes_of_output(kernel: Kernel) -> None:
    k = kernel
    reply, msgs = k.execute(
        'for i in 0..100_000 { println!("{:0>99}", i); }', timeout=max(RUST, 300)
    )
    assert reply["content"]["status"] == "ok", describe(reply, msgs[:5])
    out = stream_text(msgs)
    assert len(out) >= 10_000_000, f"only {len(out)} characters of stdout arrived"
    lines = out.splitlines()
    assert len(lines) == 100_000
    expected = [f"{i:0>99}" for i in range(100_000)]
    if lines != expected:
        bad = next(i for i, (a, b) in enumerate(zip(lines, expected)) if a != b)
        pytest.fail(f"stdout line {bad} is {lines[bad][:40]!r}..., expected {expected[bad][:40]!r}...")
    assert not stream_text(msgs, "stderr"), stream_text(msgs, "stderr")[:500]
    assert_next_cell_works(k)


def test_unicode_in_source_and_output(kernel: Kernel) -> None:
    k = kernel
    code = 'let s = "héllo ✓ 日本"; println!("{}", s);'
    reply, msgs = k.execute(code)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    (inp,) = of_type(msgs, "execute_input")
    assert inp["content"]["code"] == code
    assert stream_text(msgs) == "héllo ✓ 日本\n"
    reply, msgs = k.execute("s.chars().count()")
    assert result_text(msgs) == "10", describe(reply, msgs)
    reply, msgs = k.execute("s")
    assert result_text(msgs) == '"héllo ✓ 日本"', describe(reply, msgs)


def test_compile_error_shows_rustc_message_at_user_line(kernel: Kernel) -> None:
    k = kernel
    line = 'let answer: i32 = "forty-two";'
    reply, msgs = k.execute(line)
    assert_error_cell(reply, msgs)
    assert reply["content"]["ename"] == "CompileError", describe(reply, msgs)
    tb = "\n".join(
        strip_ansi(t) for t in reply["content"]["traceback"]
    )
    assert "mismatched types" in tb, tb
    assert line in tb, "the traceback does not show the user's own line:\n" + tb
    # text a person reads, not rustc's JSON diagnostics
    assert '"spans"' not in tb and '"$message_type"' not in tb, tb
    assert_next_cell_works(k)


FRONTEND_THAT_DIES = r"""
import sys, time
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name=sys.argv[1], startup_timeout=120)
reply = kc.execute_interactive("let kept = 1; kept", timeout=120, output_hook=lambda msg: None)
print(km.provisioner.process.pid, flush=True)
time.sleep(600)
"""


def test_kernel_ends_when_its_frontend_dies() -> None:
    """A frontend killed outright (no shutdown_request) leaves no kernel, no evcxr child behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    from kernel_harness import KERNEL_NAME

    frontend = subprocess.Popen([sys.executable, "-c", FRONTEND_THAT_DIES, KERNEL_NAME], stdout=subprocess.PIPE, text=True)
    try:
        line = frontend.stdout.readline()
        assert line.strip().isdigit(), f"the frontend did not start a kernel: {line!r}"
        kernel = psutil.Process(int(line))
        family = [kernel] + kernel.children(recursive=True)
        assert len(family) > 1, "the kernel has no evcxr child after running a cell"
        os.kill(frontend.pid, signal.SIGKILL)
        frontend.wait(timeout=10)
        gone, alive = psutil.wait_procs(family, timeout=10)
        assert not alive, f"still running 10 s after the frontend died: {[p.cmdline()[:2] for p in alive]}"
    finally:
        if frontend.poll() is None:
            frontend.kill()
