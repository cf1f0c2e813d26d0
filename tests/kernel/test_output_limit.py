"""The cap on one cell's output (issue 10, defect 7): past it, output is left out, a note says
how much and how to raise the cap, and `%output_limit` or KUBERNEL_OUTPUT_LIMIT raise it."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from kernel_harness import (
    RUST,
    Kernel,
    KernelTimeout,
    describe,
    of_type,
    result_text,
    stream_text,
)
from test_protocol import stdin_round_trip

# 300,000 lines of 100 bytes: 30 MB, three times the default cap of 10 MB.
THIRTY_MB = 'for i in 0..300_000 { println!("{:0>99}", i); }'
NOTE = re.compile(
    r"kubernel: output of this cell stopped at (?P<cap>[\d.]+ \w+); "
    r"(?P<left>[\d.]+ \w+) more were left out\. Raise the cap with %output_limit (?P<raise>\w+)"
)


def final_note(msgs: list[dict]) -> re.Match:
    err = stream_text(msgs, "stderr")
    found = NOTE.search(err)
    assert found, "no note on what was left out; stderr was:\n" + err[-2000:]
    return found


def lines_in_order(text: str) -> list[str]:
    lines = text.splitlines()
    expected = [f"{i:0>99}" for i in range(len(lines))]
    assert lines == expected, "stdout is not the cell's first lines in order"
    return lines


def start_kernel(tmp_path: Path, **env: str) -> Kernel:
    full = dict(os.environ)
    full["KUBERNEL_HISTORY"] = str(tmp_path / "history")
    full.update(env)
    return Kernel.start(env=full)


@pytest.mark.timeout(900)
def test_thirty_megabytes_stop_at_the_cap_until_it_is_raised(kernel: Kernel) -> None:
    k = kernel
    reply, msgs = k.execute(THIRTY_MB, timeout=max(RUST, 400))
    assert reply["content"]["status"] == "ok", describe(reply, msgs[:5])
    out = stream_text(msgs)
    assert 9_900_000 <= len(out) <= 10_000_000, f"{len(out)} bytes of stdout arrived; the cap is 10 MB"
    lines_in_order(out)
    note = final_note(msgs)
    assert (note["cap"], note["left"], note["raise"]) == ("10 MB", "20 MB", "50MB"), note[0]
    assert "%output_limit 0 removes it" in stream_text(msgs, "stderr")
    streams = of_type(msgs, "stream")
    assert len(streams) < 400, f"{len(streams)} stream messages for 10 MB"
    # The note comes after the output it is about, before the cell is over.
    assert streams[-1]["content"]["name"] == "stderr"

    reply, msgs = k.execute("%output_limit")
    assert stream_text(msgs) == "The output cap is 10 MB per cell.\n", describe(reply, msgs)

    reply, msgs = k.execute("%output_limit 50MB")
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    assert "50 MB" in stream_text(msgs), describe(reply, msgs)
    reply, msgs = k.execute(THIRTY_MB, timeout=max(RUST, 400))
    assert reply["content"]["status"] == "ok", describe(reply, msgs[:5])
    out = stream_text(msgs)
    assert len(out) == 30_000_000, f"{len(out)} bytes of stdout arrived under a cap of 50 MB"
    assert len(lines_in_order(out)) == 300_000
    assert stream_text(msgs, "stderr") == ""

    reply, msgs = k.execute("1 + 1")
    assert result_text(msgs) == "2", describe(reply, msgs)


def test_the_cap_from_the_environment_counts_displays_and_each_cell(tmp_path: Path) -> None:
    k = start_kernel(tmp_path, KUBERNEL_OUTPUT_LIMIT="2kB")
    try:
        reply, msgs = k.execute("%output_limit")
        assert stream_text(msgs) == "The output cap is 2 kB per cell.\n", describe(reply, msgs)
        # 5 kB of text: 2 kB arrive, 3 kB are left out.
        reply, msgs = k.execute('for i in 0..50 { println!("{:0>99}", i); }')
        assert reply["content"]["status"] == "ok", describe(reply, msgs)
        assert len(lines_in_order(stream_text(msgs))) == 20
        note = final_note(msgs)
        assert (note["cap"], note["left"]) == ("2 kB", "3 kB"), note[0]

        # A display is counted too (all its forms: the HTML and the text kubernel adds for
        # terminal clients, 3 kB each), and one that does not fit is left out whole.
        html = "<b>" + "x" * 3000 + "</b>"
        reply, msgs = k.execute(
            f'println!("KUBERNEL_BEGIN_CONTENT text/html\\n{html}\\nKUBERNEL_END_CONTENT");'
        )
        assert reply["content"]["status"] == "ok", describe(reply, msgs)
        assert of_type(msgs, "display_data") == [], "a display past the cap was sent"
        assert final_note(msgs)["left"] == "6 kB"

        # A new cell starts from nothing; a small display fits.
        reply, msgs = k.execute(
            'println!("KUBERNEL_BEGIN_CONTENT text/html\\n<b>small</b>\\nKUBERNEL_END_CONTENT");'
        )
        assert [m["content"]["data"]["text/html"] for m in of_type(msgs, "display_data")] == ["<b>small</b>"]
        assert [m["content"]["data"]["text/plain"] for m in of_type(msgs, "display_data")] == ["small"]
        assert stream_text(msgs, "stderr") == "", describe(reply, msgs)
    finally:
        k.close()


def test_a_bad_cap_in_the_environment_keeps_the_default(tmp_path: Path) -> None:
    k = start_kernel(tmp_path, KUBERNEL_OUTPUT_LIMIT="lots")
    try:
        reply, msgs = k.execute("%output_limit")
        assert stream_text(msgs) == "The output cap is 10 MB per cell.\n", describe(reply, msgs)
    finally:
        k.close()


def test_output_limit_is_a_builtin_with_help_completion_and_checks(kernel: Kernel) -> None:
    k = kernel
    reply, msgs = k.execute("%lsmagic")
    assert "%output_limit" in result_text(msgs), describe(reply, msgs)
    reply, _ = k.execute("%output_limit?")
    pages = [p for p in reply["content"]["payload"] if p.get("source") == "page"]
    assert pages and "KUBERNEL_OUTPUT_LIMIT" in pages[0]["data"]["text/plain"], reply["content"]
    reply, _ = k.request(k.kc.complete("%output_l"))
    assert reply["content"]["matches"] == ["%output_limit"]
    reply, _ = k.request(k.kc.complete("%output_limit 5"))
    assert reply["content"]["matches"] == ["50MB"]

    reply, msgs = k.execute("%output_limit ten")
    assert reply["content"]["status"] == "error", describe(reply, msgs)
    assert reply["content"]["ename"] == "UsageError", describe(reply, msgs)
    reply, msgs = k.execute("%output_limit 0")
    assert "no longer capped" in stream_text(msgs), describe(reply, msgs)
    reply, msgs = k.execute("%output_limit")
    assert stream_text(msgs).startswith("Output is not capped"), describe(reply, msgs)


def test_an_endless_printer_stops_at_the_cap_and_can_be_interrupted(tmp_path: Path) -> None:
    k = start_kernel(tmp_path, KUBERNEL_OUTPUT_LIMIT="1MB")
    try:
        msg_id = k.kc.execute('let mut i: u64 = 0; loop { println!("{:0>99}", i); i += 1; }')
        stopped = k.wait_iopub(
            msg_id,
            lambda m: m["msg_type"] == "stream" and "reached the cap of 1 MB" in m["content"]["text"],
            timeout=RUST,
        )
        assert stopped["content"]["name"] == "stderr"
        time.sleep(1)  # printing on, past the cap
        t0 = time.monotonic()
        k.send_control("interrupt_request")
        try:
            reply = k.reply(msg_id, timeout=10)
        except KernelTimeout:
            pytest.fail("the endless printer was not interrupted within 10 s")
        assert time.monotonic() - t0 < 5
        msgs = k.wait_idle(msg_id)
        assert reply["content"]["ename"] == "Interrupted", describe(reply, msgs)
        assert len(stream_text(msgs)) <= 1_000_000
        final_note(msgs)

        # The kernel serves on, stdin included.
        reply, msgs = k.execute("1 + 1")
        assert result_text(msgs) == "2", describe(reply, msgs)
        cell = 'let mut s = String::new(); std::io::stdin().read_line(&mut s).unwrap(); println!("read {}", s.trim());'
        reply, msgs, _ = stdin_round_trip(k, "four", cell)
        assert stream_text(msgs) == "read four\n", describe(reply, msgs)
    finally:
        k.close()
