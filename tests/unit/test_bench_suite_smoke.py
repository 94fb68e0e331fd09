"""`python -m bench --smoke` runs end to end in seconds, so the suite never rots (CI does not run
the full benchmarks)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.processes import ROOT


def test_the_benchmark_suite_runs_in_smoke_mode() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("benchmark")
    names = [line.split("  ")[0] for line in lines[1:]]
    assert any(n.startswith("B1 sustained (stepped open loop)") for n in names)
    assert any(n.startswith("B1 open-loop steps") for n in names)
    assert any(n.startswith("B1 exactly once over the steps") for n in names)
    assert any(n.startswith("B1 hub webhook throughput, closed loop") for n in names)
    assert any(n.startswith("B1 end to end") for n in names)
    assert any(n.startswith("B1 cycle cost, one message at a time") for n in names)
    assert any(n.startswith("B3 decide()") for n in names)
    assert "lost 0, duplicate offers 0" in done.stdout
    assert any(n.startswith("B5 outbox drain") for n in names)
    assert any(n.startswith("B2 hub chat fan-out") for n in names)
    assert "20 of 20 (raw 20 of 20)" in done.stdout and "duplicates 0, refused 0" in done.stdout
    assert any(n.startswith("B2 server CPU in the timed phase") for n in names)
    assert "% of a core; " in done.stdout  # ... and the hub's GC pauses in it
    assert "hub 40 of 40, " in done.stdout and "raw 40 of 40, " in done.stdout  # the boards
    assert any(n.startswith("B4 two hub processes") for n in names)
    assert "0 pending twice" in done.stdout and "messages offered twice: 0" in done.stdout
    assert "busy (" in done.stdout  # B4 says how busy the machine was
    assert "left 0, twice: 0 emails, 0 SMS" in done.stdout


async def test_the_console_payloads_micro_benchmark_runs() -> None:
    """`python -m bench.console_payloads` is not part of `python -m bench`: it had rotted (the
    broadcaster gained an offer fence its stand-in hub did not have) without anyone noticing."""
    from bench.console_payloads import run

    figures = await run("sqlite", 2, floor=(3, 10), offers=3)
    assert set(figures) == {
        "customer_card",
        "offer_payload",
        "3 offers one by one",
        "3 offers together",
        "message_payload",
        "offer.made",
        "50 message.created",
        "board, 10 x 3",
    }
    assert all(ms > 0 for ms in figures.values())


async def test_the_receive_cost_micro_benchmark_runs() -> None:
    """`python -m bench.receive_cost`, like console_payloads, is outside `python -m bench`."""
    from bench.receive_cost import run

    figures = await run("sqlite", 5)
    assert set(figures) == {"chat line, known visitor", "SMS, new number"}
    assert all(us > sql_us > 0 for us, sql_us in figures.values())
