"""Shared fixtures of the benchmarks and the summary table printed at the end of a run."""

from __future__ import annotations

import os

import pytest

#: Paths of the north-star runs (the issue's full size is 10 000: set LEVIER_BENCH_PATHS=10000).
PATHS = int(os.environ.get("LEVIER_BENCH_PATHS", "512"))
RESULTS: dict[str, float] = {}  # name -> loan-path-years (or draws) per second
PAIRED: dict[str, tuple[float, float, float]] = {}  # levier's ratio to the reference, round by round: median, min, max
MEMORY: dict[str, float] = {}  # name -> peak resident memory, MB
QMC: dict[str, tuple[float, float, float]] = {}
DASK: dict[str, float] = {}  # seconds (and the speed-up)
LAB: dict[str, float] = {}  # the optimisation's seconds, its simulations' seconds, the overhead's share
KERNEL: dict[str, float] = {}  # the kernel's cost of a loan-path by outcome (ns), and the share defaulting
TAIL: dict[str, tuple[float, float, float]] = {}  # book -> (exact p, variance ratio shift, shift + twist)  # estimate -> (sd random, sd Sobol', variance ratio)


def machine() -> str:
    """The processor, its cores and what numpy's vector loops run on: the reference's speed
    depends on the vector width and the memory far more than levier's (a ratio measured on one
    machine is not another's)."""
    import platform

    import numpy as np

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            name = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), name)
    except OSError:
        pass
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
        simd = " ".join(k for k in __cpu_dispatch__ if __cpu_features__.get(k)) or "baseline"
    except ImportError:  # numpy's private names moved
        simd = "unknown"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cores} cores; numpy {np.__version__}, vector loops {simd}"


@pytest.fixture(scope="session")
def northstar(tmp_path_factory):
    import northstar as ns

    return ns.build(tmp_path_factory.mktemp("northstar"))


def pytest_terminal_summary(terminalreporter):
    write = terminalreporter.write_line
    if LAB:
        write("")
        write(f"  optimise on Moselle-Est ({LAB['paths']:,.0f} paths a point, {LAB['runs']:.0f} simulations): "
              f"{LAB['total']:.1f} s, of which simulations {LAB['simulations']:.1f} s -> the lab's overhead "
              f"{100 * LAB['overhead share']:.1f} %")
    if MEMORY:
        write("")
        for name, mb in MEMORY.items():
            write(f"  {name:<62} {mb:8.0f} MB")
    if TAIL:
        write("")
        write(f"  {'99.9 % tail probability':<32} {'exact p':>10} {'shift: var ÷':>13} {'+ twist: var ÷':>15}")
        for name, (p, shift, twist) in TAIL.items():
            write(f"  {name:<32} {p:10.3g} {shift:13.1f} {twist:15.1f}")
    if DASK:
        write("")
        write(f"  Moselle-Est on Dask: 400,000 paths local {DASK['local']:.1f} s, 2 workers {DASK['dask']:.1f} s "
              f"-> speed-up {DASK['speed-up']:.2f} x (cluster start-up {DASK['start-up']:.1f} s)")
        write(f"  2,000 paths: local {DASK['small local']:.2f} s, 2 workers {DASK['small dask']:.2f} s")
    if QMC:
        write("")
        write(f"  {'estimate (Moselle-Est, 2 048 paths)':<36} {'sd random':>12} {'sd Sobol':>12} {'var ratio':>10}")
        for name, (a, b, ratio) in QMC.items():
            write(f"  {name:<36} {a:12.4g} {b:12.4g} {ratio:10.2f}")
    if KERNEL:
        write("")
        write(f"  the kernel on the north star, one thread, {PATHS:,} paths (LEVIER_BENCH_PATHS); on {machine()}")
        for name, value in KERNEL.items():
            unit = "" if name.startswith("share") else " ns"
            write(f"  {name:<62} {value:8.2f}{unit}")
    if not RESULTS:
        return
    write("")
    write(f"north star: 10 000 loans x 10 years, {PATHS:,} paths (LEVIER_BENCH_PATHS)")
    write(f"  on {machine()}")
    for name, rate in RESULTS.items():
        write(f"  {name:<44} {rate / 1e6:10.1f} M per second")
    for name, (median, low, high) in PAIRED.items():
        write(f"  {name + ' / reference, round by round':<44} {median:10.2f} x   (lowest {low:.2f}, highest {high:.2f})")
    ref = RESULTS.get("reference (loan-path-years)")
    floor = RESULTS.get("its streams alone (loan-path-years)")
    for name, rate in RESULTS.items():
        if name.startswith("levier") and ref:
            write(f"  {name.split(' (')[0] + ' / reference':<44} {rate / ref:10.2f} x   (issue 13 asks for >= 10 x on 1 thread)")
        if name.startswith("levier") and floor:
            write(f"  {name.split(' (')[0] + ' as a share of the draw floor':<44} {rate / floor:10.2f}")
