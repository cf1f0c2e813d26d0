"""Faults in user code: the cell fails as a user would expect, and the kernel
keeps serving."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

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


def ran(k: Kernel, code: str, timeout: float = RUST) -> list[dict]:
    """Runs a cell that must succeed; returns its iopub messages."""
    reply, msgs = k.execute(code, timeout=timeout)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    return msgs


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


def test_bytes_that_are_not_utf8_are_shown_and_output_goes_on(kernel: Kernel) -> None:
    # A program that prints raw bytes (a binary file, a cut string) must not silence the
    # kernel's stderr for the rest of the session.
    k = kernel
    msgs = ran(
        k,
        'use std::io::Write; std::io::stderr().write_all(b"err \\xff\\xfe end\\n").unwrap(); '
        'std::io::stdout().write_all(b"out \\xc3( end\\n").unwrap();',
    )
    assert stream_text(msgs, "stderr") == "err \ufffd\ufffd end\n", msgs
    assert stream_text(msgs) == "out \ufffd( end\n", msgs
    # A character written in two pieces arrives whole.
    reply, msgs = k.execute(
        'let euro = "\u20ac".as_bytes(); eprint!("a"); std::io::stderr().write_all(&euro[..1]).unwrap(); '
        'std::io::stderr().write_all(&euro[1..]).unwrap(); eprintln!("b");'
    )
    assert stream_text(msgs, "stderr") == "a\u20acb\n", describe(reply, msgs)
    # One that is never finished is replaced, and what follows still reads.
    msgs = ran(k, 'std::io::stderr().write_all(&"\u20ac".as_bytes()[..1]).unwrap(); eprintln!("b");')
    assert stream_text(msgs, "stderr") == "\ufffdb\n", msgs
    reply, msgs = k.execute('eprintln!("still heard"); println!("and here");')
    assert stream_text(msgs, "stderr") == "still heard\n", describe(reply, msgs)
    assert stream_text(msgs) == "and here\n", describe(reply, msgs)


def test_a_background_threads_panic_is_not_the_running_cells_error(kernel: Kernel) -> None:
    k = kernel
    ran(
        k,
        "let (go, wait) = std::sync::mpsc::channel::<()>(); "
        'std::thread::spawn(move || { let _ = wait.recv(); panic!("background trouble"); });',
    )
    # The next cell is running when the thread panics: it still succeeds, and shows the panic.
    msgs = ran(k, "go.send(()).unwrap(); std::thread::sleep(std::time::Duration::from_secs(2)); 7")
    assert result_text(msgs) == "7", msgs
    shown = stream_text(msgs, "stderr")
    assert "panicked at" in shown and "background trouble" in shown, msgs
    assert "stack backtrace" not in shown and "rust_begin_unwind" not in shown, shown
    assert_next_cell_works(k)
    # evcxr starts a new child for `:clear`: a panic after it, in the same cell, is still the cell's.
    reply, msgs = k.execute(':clear\nlet v: Vec<u8> = Vec::new(); v[3];')
    assert_error_cell(reply, msgs)
    assert "index out of bounds" in reply["content"]["evalue"], describe(reply, msgs)
    assert_next_cell_works(k)


def test_a_last_line_without_newline_is_shown_and_the_cell_ends(kernel: Kernel) -> None:
    # `print!` and a flush, as a prompt or a progress line does: evcxr must still see the cell end.
    k = kernel
    msgs = ran(k, 'use std::io::Write; print!("no newline"); std::io::stdout().flush().unwrap();', timeout=60)
    assert stream_text(msgs) == "no newline\n", msgs
    assert_next_cell_works(k)


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


# Cells as a class types them (issue 10, defect 13). Each is compiled by rustc too, inside
# `fn main`, to learn where rustc puts the error and which help it gives.
COMPILE_ERROR_CELLS = {
    "mismatch-on-line-2": (
        'let a = 1;\nlet x: i32 = "a";',
        ["2 | let x: i32 = \"a\";", "  |        ---   ^^^ expected `i32`, found `&str`\n  |        |\n  |        expected due to this"],
    ),
    "missing-semicolon": ("let a = 1;\nlet b = a+1\nlet c = 2;", ["2 | let b = a+1", "^ help: add `;` here"]),
    "unused-variable-warning": (
        "fn g() {\n    let _x = 1;\n    let unused = 3;\n}\nlet q: u8 = 300;",
        ["warning: unused variable: `unused`", "help: if this is intentional, prefix it with an underscore: `_unused`"],
    ),
    "borrow-with-help": (
        'let s = String::from("a");\nlet t = s;\nprintln!("{}", s);',
        ["value moved here", "help: consider cloning the value if the performance cost is acceptable", "2 | let t = s.clone();"],
    ),
    "after-a-magic-line": ('%lsmagic\nlet x: i32 = "a";', ["2 | let x: i32 = \"a\";"]),
}

# What every line of a rendered error looks like; a fragment of evcxr's wrapper code or a bare
# suggestion (`;`, `_x`) would be none of these.
ERROR_LINE = re.compile(
    r"(error|warning)(\[E\d{4}\])?: .*"
    r"|(help|note): .*"
    r"| *--> cell line \d+, column \d+"
    r"| *\d+ [|+-]( .*)?"
    r"| *\|( .*)?"
    r"| *= (help|note): .*"
    r"|\.\.\.|"
)


def rustc_first_error(cell: str, tmp_path: Path) -> dict:
    """rustc's own first error for the cell's Rust lines inside fn main (magic lines left blank,
    so that the line numbers stay the cell's plus one)."""
    rust = "\n".join("" if line.startswith("%") else line for line in cell.split("\n"))
    main = tmp_path / "main.rs"
    main.write_text("fn main() {\n" + rust + "\n}\n")
    proc = subprocess.run(
        ["rustc", "--edition", "2021", "--error-format=json", "-o", str(tmp_path / "main"), str(main)],
        capture_output=True, text=True, timeout=120,
    )
    for line in proc.stderr.splitlines():
        diagnostic = json.loads(line)
        if diagnostic.get("level") == "error" and diagnostic.get("spans"):
            return diagnostic
    raise AssertionError("rustc found no error in:\n" + main.read_text())


@pytest.mark.parametrize("name", list(COMPILE_ERROR_CELLS))
def test_compile_errors_point_where_rustc_does_without_stray_lines(kernel: Kernel, tmp_path: Path, name: str) -> None:
    cell, expected = COMPILE_ERROR_CELLS[name]
    reply, msgs = kernel.execute(cell)
    assert reply["content"]["ename"] == "CompileError", describe(reply, msgs)
    lines = "\n".join(strip_ansi(t) for t in reply["content"]["traceback"]).split("\n")
    shown = "\n".join(lines)

    rustc = rustc_first_error(cell, tmp_path)
    primary = next(s for s in rustc["spans"] if s["is_primary"])
    where = f"--> cell line {primary['line_start'] - 1}, column {primary['column_start']}"
    error_at = next((i for i, l in enumerate(lines) if l.startswith("error") and rustc["message"] in l), None)
    assert error_at is not None, f"rustc's error {rustc['message']!r} is not shown:\n{shown}"
    assert lines[error_at + 1].strip() == where, f"rustc says {where}:\n{shown}"
    for child in rustc["children"]:
        if child["level"] == "help":
            assert child["message"] in shown, f"rustc's help {child['message']!r} is missing:\n{shown}"
    for text in expected:
        assert text in shown, f"{text!r} is missing:\n{shown}"
    stray = [l for l in lines if not ERROR_LINE.fullmatch(l)]
    assert not stray, f"lines that are not rustc's: {stray}\n{shown}"
    assert_next_cell_works(kernel)


FRONTEND_THAT_DIES = r"""
import sys, time
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name=sys.argv[1], startup_timeout=120)
reply = kc.execute_interactive("let kept = 1; kept", timeout=120, output_hook=lambda msg: None)
child = []
kc.execute_interactive("std::process::id()", timeout=120, output_hook=lambda msg: child.append(msg["content"].get("data", {}).get("text/plain")) if msg["msg_type"] == "execute_result" else None)
print(km.provisioner.process.pid, child[0], flush=True)
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
        pids = line.split()
        assert len(pids) == 2 and all(p.isdigit() for p in pids), f"the frontend did not start a kernel: {line!r}"
        kernel = psutil.Process(int(pids[0]))
        # The evcxr child's parent serves the session: the kernel, or the spare it handed it to.
        server = psutil.Process(int(pids[1])).parent()
        family = list({kernel, server, *kernel.children(recursive=True), *server.children(recursive=True)})
        assert len(family) > 1, "the kernel has no evcxr child after running a cell"
        os.kill(frontend.pid, signal.SIGKILL)
        frontend.wait(timeout=10)
        gone, alive = psutil.wait_procs(family, timeout=10)
        assert not alive, f"still running 10 s after the frontend died: {[p.cmdline()[:2] for p in alive]}"
    finally:
        if frontend.poll() is None:
            frontend.kill()
