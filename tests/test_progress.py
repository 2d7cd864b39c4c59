"""Progress bars: tqdm on a terminal (a real pseudo-terminal for the commands), nothing in a
pipe or with --quiet, and ``progress=`` in Python (None, False, True or a callable)."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

import pytest

import levier
from levier.present.progress import ProgressBar

from conftest import SHIPPED


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_bar_follows_done_and_a_growing_total():
    screen = _Terminal()
    bar = ProgressBar(screen)
    bar(100, 400)
    bar(150, 600)  # the total grew: the bar follows it
    assert bar._bar is not None and bar._bar.total == 600 and bar._bar.n == 150
    bar(600, 600)
    bar.close()
    assert bar._bar is None
    text = screen.getvalue()
    assert "600/600" in text and "100%" in text and text.endswith("\n")
    bar.close()  # harmless once closed


@pytest.mark.parametrize("stream, quiet", [(io.StringIO(), False), (_Terminal(), True)])
def test_no_bar_in_a_pipe_or_when_quiet(stream, quiet):
    bar = ProgressBar(stream, quiet=quiet)
    bar(5, 10)
    bar(10, 10)
    assert stream.getvalue() == "" and bar._bar is None


def _on_a_terminal(argv: list[str]) -> tuple[int, str, str]:
    """Run ``argv`` with stderr on a pseudo-terminal; returns the exit code, stdout and what the
    terminal showed."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 × 0
    env = dict(os.environ)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    shown = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        shown.append(data)
    out = proc.stdout.read()
    proc.wait(timeout=300)
    os.close(master)
    return proc.returncode, out.decode(), b"".join(shown).decode(errors="replace")


def _piped(argv: list[str]) -> tuple[int, str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stderr


RUN = [sys.executable, "-m", "levier", "run", str(SHIPPED), "--paths", "3000", "--chunk-size", "256"]


def test_run_shows_progress_on_a_terminal_and_not_in_a_pipe():
    code, out, shown = _on_a_terminal(RUN)
    assert code == 0 and "Jobs additional" in out
    assert "3.00k/3.00k" in shown and "100%" in shown and "path/s" in shown
    code, out, shown = _on_a_terminal([*RUN, "--quiet"])
    assert code == 0 and "%" not in shown
    code, err = _piped(RUN)
    assert code == 0 and err == ""


def test_simulate_takes_progress_true_false_or_a_callable(capsys):
    scenario = levier.load_scenario(SHIPPED)
    seen = []
    plain = levier.simulate(scenario, paths=300, seed=1, chunk_size=128, progress=False)
    assert "/300" not in capsys.readouterr().err
    called = levier.simulate(scenario, paths=300, seed=1, chunk_size=128, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(128, 300), (256, 300), (300, 300)]
    barred = levier.simulate(scenario, paths=300, seed=1, chunk_size=128, progress=True)
    assert "/300" in capsys.readouterr().err  # tqdm.auto outside a notebook: text on stderr
    assert plain.paths.equals(called.paths) and plain.paths.equals(barred.paths)  # progress changes nothing
    with pytest.raises(TypeError, match="progress must be"):
        levier.simulate(scenario, paths=10, progress="yes")


LAB = {
    "compare": ["--variant", "generous:policy.loan_per_job=15000"],
    "sweep": ["--grid", "policy.loan_per_job=8000:12000:2"],
    "optimise": ["--over", "policy.loan_per_job=8000:12000", "--maximise", "jobs_additional", "--maxiter", "1",
                 "--check-paths", "128"],
    "explain": ["--range", "policy.loan_per_job=8000:12000"],
    "tail": ["--method", "plain", "--batches", "4"],
}


@pytest.mark.parametrize("command", sorted(LAB))
def test_every_long_command_draws_the_bar_on_a_terminal(command, monkeypatch, capsys):
    from types import SimpleNamespace

    from levier.cli import main

    screen = _Terminal()
    monkeypatch.setattr("levier.present.progress.sys", SimpleNamespace(stderr=screen))
    assert main([command, str(SHIPPED), "--paths", "256", *LAB[command]]) == 0
    assert "path/s" in screen.getvalue() and "100%" in screen.getvalue(), screen.getvalue()
    assert "path/s" not in capsys.readouterr().err  # the bar went to the terminal only
    quiet = _Terminal()
    monkeypatch.setattr("levier.present.progress.sys", SimpleNamespace(stderr=quiet))
    assert main([command, str(SHIPPED), "--paths", "256", *LAB[command], "--quiet"]) == 0
    assert quiet.getvalue() == ""


def test_compare_shows_progress_on_a_real_terminal_and_not_in_a_pipe():
    argv = [sys.executable, "-m", "levier", "compare", str(SHIPPED), "--paths", "2000", *LAB["compare"]]
    code, out, shown = _on_a_terminal(argv)
    assert code == 0 and "generous" in out
    assert "4.00k/4.00k" in shown and "100%" in shown and "path/s" in shown  # both policies' paths
    code, err = _piped(argv)
    assert code == 0 and err == ""
