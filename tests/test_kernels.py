"""The engine's fast kernels against exact or brute-force truths."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

import numba

import math
import platform
from decimal import Decimal, localcontext

from levier.engine.kernel import CDF_STEP, CDF_XMAX, _fma, _search, exp_into, normal_cdf, normal_cdf_into
from levier.model.terms import RECOVERY_GRID, beta_quantile_table
from levier.engine.kernels import recovery_rate
from levier.engine.kernel import job_normals
from levier.streams import uniform_bits



@pytest.mark.parametrize("mean, a, b", [(0.4, 0.5, 0.75), (0.3, 2.0, 4.67), (0.9, 27.0, 3.0)])
def test_tabulated_beta_is_within_one_interval_of_the_exact_beta(mean, a, b):
    table = beta_quantile_table(mean, a, b)
    x = np.linspace(0.0, 1.0, 200_001)
    cdf_table = np.interp(x, table, np.linspace(0.0, 1.0, RECOVERY_GRID + 1))
    assert np.max(np.abs(special.betainc(a, b, x) - cdf_table)) <= 1.0 / RECOVERY_GRID
    # at the nodes the draws are the exact quantiles
    nodes = np.arange(0, RECOVERY_GRID, 97) / RECOVERY_GRID
    rates = recovery_rate(nodes, np.zeros(nodes.size, dtype=np.intp), table[None, :])
    np.testing.assert_allclose(rates, special.betaincinv(a, b, nodes), rtol=1e-12, atol=1e-14)


def test_fixed_recovery_is_its_mean():
    table = beta_quantile_table(0.35, 0.0, 0.0)
    u = np.random.default_rng(0).random(1000)
    assert np.all(recovery_rate(u, np.zeros(1000, dtype=np.intp), table[None, :]) == 0.35)


def _default_years(u, cdf):
    """The kernel's year search, row by row: (offset, residual uniform) of each defaulter."""
    found = np.array([_search(cdf[None], 0, k, cdf.shape[1] - 1, x) for k, x in enumerate(u)])
    upper = cdf[np.arange(u.size), found]
    lower = np.where(found > 0, cdf[np.arange(u.size), np.maximum(found - 1, 0)], 0.0)
    return found, (u - lower) / (upper - lower)


def test_default_years_and_residuals_against_brute_force():
    rng = np.random.default_rng(7)
    n, years = 300, 9
    cdf = np.sort(rng.random((n, years)), axis=1)
    cdf[:20, 3:6] = cdf[:20, 3:4]  # years without hazard: equal values
    u = rng.random(n) * cdf[:, -1]  # every draw defaults within the horizon
    found, residual = _default_years(u, cdf)
    for k in range(n):
        j = int(np.sum(cdf[k] <= u[k]))
        lower = cdf[k, j - 1] if j else 0.0
        assert found[k] == j
        assert residual[k] == pytest.approx((u[k] - lower) / (cdf[k, j] - lower), rel=1e-12)


def test_recovery_residual_is_uniform_whatever_the_default_year():
    # conditional on the factors, u given a default in year j is uniform on its slice of F
    rng = np.random.default_rng(3)
    n, years, beta = 4000, 10, 0.4
    factors = rng.standard_normal((n, years))
    pd = special.ndtr((special.ndtri(0.03) - beta * factors) / np.sqrt(1 - beta**2))
    cdf = 1.0 - np.cumprod(1.0 - pd, axis=1)
    u = rng.random(n)
    hit = np.flatnonzero(u < cdf[:, -1])
    found, residual = _default_years(u[hit], cdf[hit])
    assert hit.size > 300
    assert stats.kstest(residual, "uniform").pvalue > 1e-4
    early, late = residual[found < 2], residual[found >= 2]
    assert early.size > 50 and late.size > 50
    assert stats.ks_2samp(early, late).pvalue > 1e-4


def test_tabulated_normal_cdf_is_within_its_error_bound():
    # the remainder of quintic Hermite interpolation: max|phi^(5)| h^6 / (6! 2^6)
    x = np.linspace(-CDF_XMAX, CDF_XMAX, 400_001)
    phi5 = np.abs(x**5 - 10 * x**3 + 15 * x) * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
    bound = phi5.max() * CDF_STEP**6 / (720 * 64)
    assert bound < 1e-16
    # against scipy between and at the nodes, plus the rounding of the evaluation (a few ulp of 1)
    x = np.concatenate([np.linspace(-8.0, 8.0, 300_007), np.arange(-CDF_XMAX, CDF_XMAX, CDF_STEP),
                        [-np.inf, np.inf, -CDF_XMAX, CDF_XMAX, np.nextafter(CDF_XMAX, 0.0)]])
    ours = np.array([normal_cdf(v) for v in x])
    exact = special.ndtr(x)
    assert np.max(np.abs(ours - exact)) <= bound + 4 * np.finfo(float).eps
    # relative accuracy where a small default probability needs it
    assert np.max(np.abs(ours - exact)[exact > 0] / exact[exact > 0]) < 1e-11
    assert np.all(np.diff(ours[:300_007]) >= 0)  # monotone, as a CDF
    assert np.isnan(normal_cdf(np.nan))


@numba.njit
def _cdf_into(x):
    out = np.empty_like(x)
    normal_cdf_into(x, out)
    return out


def test_vector_normal_cdf_gives_the_scalar_numbers():
    # the kernel's per-class pass (two loops the compiler vectorises) against the scalar one, bit
    # for bit: inside the table, at and beyond its edges, and at infinities and NaN
    edge = CDF_XMAX
    x = np.concatenate([np.random.default_rng(2).standard_normal(50_000) * 3.0, np.arange(-edge, edge, CDF_STEP),
                        [-np.inf, np.inf, np.nan, -edge, edge, np.nextafter(edge, 0.0), np.nextafter(-edge, 0.0),
                         np.nextafter(-edge, -np.inf), np.nextafter(edge, np.inf), -50.0, 50.0, 0.0, -0.0]])
    ours = _cdf_into(x)
    scalar = np.array([normal_cdf(v) for v in x])
    assert np.array_equal(ours.view(np.int64), scalar.view(np.int64))


@numba.njit
def _vector_exp(x):
    out = np.empty_like(x)
    exp_into(x, out)
    return out


@numba.njit
def _libm_exp(x):
    out = np.empty_like(x)
    for k in range(x.size):
        out[k] = math.exp(x[k])
    return out


@numba.njit
def _fused(a, b, c):
    return _fma(a, b, c)


def _exp_arguments(size):
    rng = np.random.default_rng(5)
    return np.concatenate([
        rng.standard_normal(size) * 0.3,  # the job realisations' arguments
        rng.uniform(-1.0, 1.0, size), rng.uniform(-745.5, 710.0, size // 10),
        [0.0, -0.0, 5e-324, -5e-324, 1e-300, 2.0**-54, -(2.0**-54), np.nextafter(2.0**-54, 0.0), 2.0**-55, 0.5, -0.5,
         np.nextafter(512.0, 0.0), 512.0, -512.0, 709.78, 709.79, 710.0, -708.39, -708.4, -745.13, -745.14, -746.0,
         np.inf, -np.inf, np.nan]])


def test_fma_rounds_once():
    e = 2.0**-30
    assert _fused(1.0 + e, 1.0 + e, -(1.0 + 2 * e)) == e * e  # a product then a sum would give 0


def test_vector_exp_is_within_its_error_bound():
    # against exp in 40-digit decimal arithmetic: glibc's bound, below 0.5 + 1.11/128 ulp plus the
    # polynomial's 1.555 2^-66, is under 0.51 ulp of the result
    x = _exp_arguments(4_000)
    ours = _vector_exp(x)
    finite = np.isfinite(x) & (np.abs(x) < 700)
    with localcontext() as ctx:
        ctx.prec = 40
        for v, o in zip(x[finite], ours[finite]):
            exact = Decimal(float(v)).exp()
            ulp = Decimal(math.ulp(float(exact)))
            assert abs(Decimal(float(o)) - exact) / ulp < Decimal("0.51"), v
    assert np.isnan(_vector_exp(np.array([np.nan]))[0])
    assert _vector_exp(np.array([np.inf, -np.inf, 710.0, -746.0])).tolist() == [np.inf, 0.0, np.inf, 0.0]


def _glibc_with_fma() -> bool:
    try:
        flags = open("/proc/cpuinfo", encoding="ascii", errors="replace").read()
    except OSError:
        return False
    version = platform.libc_ver()[1]
    return (platform.machine() == "x86_64" and platform.libc_ver()[0] == "glibc" and " fma " in flags
            and " avx2 " in flags and tuple(int(v) for v in version.split(".")[:2]) >= (2, 28))


@pytest.mark.skipif(not _glibc_with_fma(), reason="libm is not glibc's exp built with FMA (glibc >= 2.28, x86-64)")
def test_vector_exp_gives_libm_bits():
    # where the golden tables were recorded, the job realisations must not move by one bit: the
    # vector loop gives libm's exp to the last bit, on the jobs' arguments, across the range and
    # at every edge of the main path (tiny, 512, overflow, underflow to subnormals and 0, inf, NaN)
    x = _exp_arguments(1_000_000)
    ours, libm = _vector_exp(x), _libm_exp(x)
    number = ~np.isnan(x)
    assert np.array_equal(ours[number].view(np.int64), libm[number].view(np.int64))
    assert np.isnan(ours[~number]).all()


def test_job_normals_are_box_muller_correctly_rounded_to_float32():
    """The job normals against Box-Muller in float64 by numpy (``sqrt(-2 log u1) cos(2 pi u2)``
    and its sine, on the same 24-bit uniforms), then rounded to float32: the same float32 but
    where the two float64 values straddle a float32 rounding boundary, and never more than half
    a float32 ulp (and a float64 rounding) away from numpy's."""
    gen = np.random.default_rng(21)
    n = 1_000_000
    z = job_normals(gen, (n // 1000, 1000)).ravel()
    bits = uniform_bits(np.random.default_rng(21), (n, 1)).reshape(-1)  # the same stream, the same bits
    u1 = ((bits[: n // 2] >> 8) + 0.5) * 2.0**-24
    u2 = ((bits[n // 2:] >> 8) + 0.5) * 2.0**-24
    radius, angle = np.sqrt(-2.0 * np.log(u1)), 2.0 * np.pi * u2
    exact = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])
    assert (z != exact.astype(np.float32)).mean() < 1e-5
    error = np.abs(z.astype(float) - exact) / np.spacing(np.abs(exact).astype(np.float32)).astype(float)
    assert error.max() <= 0.5 + 1e-6
    assert np.abs(z).max() <= np.sqrt(-2.0 * np.log(2.0**-25))  # the 24-bit uniforms' limit


def test_job_normals_of_an_odd_count_and_into_a_given_array():
    """An odd count takes the first of an even number of normals; ``out`` receives the same."""
    odd = job_normals(np.random.default_rng(5), (3, 7))
    even = job_normals(np.random.default_rng(5), (22,))
    assert odd.shape == (3, 7) and odd.dtype == np.float32
    out = np.full((2, 11), np.nan, dtype=np.float32)
    given = job_normals(np.random.default_rng(5), (2, 11), out=out)
    assert np.shares_memory(given, out)
    assert np.array_equal(given.ravel(), even)
    assert np.array_equal(odd.ravel(), even[:21])  # the same 11 pairs of uniforms


def test_float32_normals_and_uniform_bits():
    gen = np.random.default_rng(11)
    z = job_normals(gen, (400, 500)).astype(float).ravel()
    n = z.size
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1.0) < 4 * np.sqrt(2.0 / n)
    assert stats.kstest(z[:20_000], "norm").pvalue > 1e-4
    bits = uniform_bits(gen, (300, 301))
    assert bits.dtype == np.uint32 and bits.shape == (300, 301)
    u = bits.astype(float).ravel() / 2**32
    assert stats.kstest(u[:20_000], "uniform").pvalue > 1e-4


def test_box_muller_at_the_edges_of_its_cuts():
    """Where the algorithm cuts — the smallest and largest uniforms, a quarter turn's first and
    last angles and the fold at an eighth of a turn — against numpy's float64 Box-Muller."""
    from levier.engine.kernel import box_muller_into

    top = 2**24 - 1
    radius_bits = [0, 1, 2, 3, 2**23 - 1, 2**23, 2**23 + 1, top - 1, top]
    angle_bits = sorted({q * 2**22 + r for q in range(4) for r in (0, 1, 2**21 - 1, 2**21, 2**21 + 1, 2**22 - 1)})
    b1, b2 = np.meshgrid(np.array(radius_bits, dtype=np.uint32), np.array(angle_bits, dtype=np.uint32))
    bits1, bits2 = (b1.ravel() << 8) | 0xAB, (b2.ravel() << 8) | 0x5C  # the low 8 bits are not read
    cos, sin = np.empty(bits1.size, np.float32), np.empty(bits1.size, np.float32)
    box_muller_into(bits1, bits2, cos, sin)
    u1, u2 = ((bits1 >> 8) + 0.5) * 2.0**-24, ((bits2 >> 8) + 0.5) * 2.0**-24
    radius, angle = np.sqrt(-2.0 * np.log(u1)), 2.0 * np.pi * u2
    for ours, exact in ((cos, radius * np.cos(angle)), (sin, radius * np.sin(angle))):
        ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(float)
        assert (np.abs(ours - exact) <= 0.5 * ulp + 1e-12 * np.abs(exact)).all()
