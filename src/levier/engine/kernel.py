"""The compiled per-path kernel: one pass per path over the loans, all outputs at once.

:func:`plan_work` turns a scenario's :class:`~levier.model.terms.Terms` into the static tables of
the run (once per run); :func:`run_paths` then does every path's work in one compiled loop:

1. the factors (AR(1)) and, per default class, the conditional PD of each year and the
   cumulative default probability ``F`` from each cohort's first year (tabulated normal CDF,
   :func:`normal_cdf_into`, one vectorised pass over the path's classes and years);
2. year by year, the fund's decisions on the year's pipeline (first come, first served under
   the capital and the sector / territory limits), the loan book's entries;
3. per financed loan: realised jobs (the path's lognormal factors in one vectorised pass,
   :func:`exp_into`'s ``exp``, the bits of glibc's), additionality, the default test ``u < F_T`` against its
   class's cumulative PD, for defaulters the year (first ``F_t > u``), the recovery from the
   residual uniform ``(u - F_{tau-1}) / (F_tau - F_{tau-1})``, the waterfall, lost jobs, and the
   clawback at the check year;
4. the loans' yearly flows as the unit schedules of their *bucket* (loans sharing first year and
   schedules, read from the bucket's table) weighted by the sums of its loans still alive, these
   sums kept by default year; the year's flows are complete at its end, so the fund can recycle
   what came back. Per-group sums are kept by *cell* (a bucket's loans of one sector and territory).

Every sum of a path is taken in a fixed order that does not depend on the other paths: results
are the same to the last bit for any chunk size and any number of threads.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal, localcontext

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from scipy import special

from levier import elementwise
from levier.streams import uniform_bits
from levier.engine.compiled import compile_notice, jit
from levier.engine.plan import (  # noqa: F401  (accumulator indices, constants to numba)
    A_ADD, A_ALIVE, A_ALIVE_ADD, A_ALIVE_NET, A_BANK, A_BLOSS, A_CHECK_ALIVE, A_CHECK_KEPT, A_FIN, A_FLOSS, A_INV, A_KEPT, A_KEPT_ADD, A_KEPT_NET, A_LOAN, A_NDEF, A_PLANNED, A_SUB, GROUP_ACC, N_ACC, Y_BEND, Y_BINT, Y_BREC, Y_CLAW, Y_DEF, Y_DISB, Y_FEND, Y_FILES, Y_FREC, Y_INT, Y_JOBS, Y_NEW, Y_PRIN,
    A_GFEE, A_GLOSS, A_VAR, N_YEAR, Y_GFEE, Y_GLOSS, Y_VAR, Y_VIG)

__all__ = ["CDF_STEP", "CDF_XMAX", "box_muller_into", "compile_notice", "exp_into", "horizon_pd", "irr_rows",
           "job_normals", "normal_cdf", "normal_cdf_into", "run_paths", "run_paths_for", "twist_thetas"]

#: The tabulated normal CDF: quintic Hermite interpolation of Phi on a grid of step CDF_STEP over
#: [-CDF_XMAX, CDF_XMAX], with the exact first and second derivatives (phi, -x phi) at the nodes.
#: The remainder of Hermite interpolation bounds its error by
#: ``max|Phi^(6)| h^6 / (6! 2^6) = max|phi^(5)| h^6 / 46080``, about 1.8e-17 for h = 1/128 (below
#: the rounding of the evaluation, ~1e-16); outside the grid (|x| >= 6, Phi < 1e-9) ``erfc``.
CDF_STEP = 1.0 / 128.0
CDF_XMAX = 6.0
_CDF_NODES = np.linspace(-CDF_XMAX, CDF_XMAX, int(round(2 * CDF_XMAX / CDF_STEP)) + 1)
_PHI = elementwise.exp(-0.5 * _CDF_NODES**2) / math.sqrt(2 * math.pi)
_CDF_TABLE = np.ascontiguousarray(
    np.column_stack([special.ndtr(_CDF_NODES), CDF_STEP * _PHI, -(CDF_STEP**2) * _CDF_NODES * _PHI])
)
_SQRT1_2 = 1.0 / math.sqrt(2.0)


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (LLVM's ``fma``: one instruction, or a vector of them)."""
    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        return builder.call(cgutils.get_or_insert_function(builder.module, ir.FunctionType(d, [d, d, d]),
                                                           "llvm.fma.f64"), args)
    return types.float64(types.float64, types.float64, types.float64), codegen


@intrinsic
def _bits(typingctx, x):
    """The bits of a float64, as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, i):
    """The float64 of these bits."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _ix(typingctx, k):
    """``k`` (an int64 known to be >= 0) as an unsigned index: numba then reads with it without its
    test for a negative index. The bits are unchanged; for the hot reads of the loan loop."""
    def codegen(context, builder, signature, args):
        return args[0]
    return types.uint64(types.int64), codegen


def _exp_table() -> np.ndarray:
    """``2^(k/128) = H_k (1 + T_k)``, ``H_k`` the double nearest to it, ``T_k`` the double nearest
    to the rest, stored as the bits of ``T_k`` and the bits of ``H_k`` less ``k << 45`` (so that
    adding ``n << 52`` makes ``2^n H_k``): glibc's ``__exp_data.tab``, computed in decimal."""
    with localcontext() as ctx:
        ctx.prec = 60
        ln2 = Decimal(2).ln()
        table = np.empty(256, dtype=np.int64)
        for k in range(128):
            exact = (ln2 * k / 128).exp()
            head = float(exact)  # correctly rounded
            table[2 * k] = struct.unpack("<q", struct.pack("<d", float(exact / Decimal(head) - 1)))[0]
            table[2 * k + 1] = struct.unpack("<q", struct.pack("<d", head))[0] - (k << 45)
    return table


#: glibc's ``exp`` (from Arm's optimized-routines, glibc >= 2.28), its constants to the bit:
#: ``x = k ln2/128 + r``, ``exp(x) = 2^(k/128) exp(r)``, ``exp(r) - 1`` by a quintic on
#: ``|r| <= ln2/256`` (error below 0.51 ulp).
_EXP_TAB = _exp_table()
_EXP_INVLN2N = float.fromhex("0x1.71547652b82fep+7")  # 128 / ln 2
_EXP_NEGLN2HIN = float.fromhex("-0x1.62e42fefa0000p-8")  # -ln2 / 128, high and low parts
_EXP_NEGLN2LON = float.fromhex("-0x1.cf79abc9e3b3ap-47")
_EXP_SHIFT = float.fromhex("0x1.8p52")
_EXP_C2, _EXP_C3 = float.fromhex("0x1.ffffffffffdbdp-2"), float.fromhex("0x1.555555555543cp-3")
_EXP_C4, _EXP_C5 = float.fromhex("0x1.55555cf172b91p-5"), float.fromhex("0x1.1111167a4d017p-7")
_EXP_LOW, _EXP_HIGH = 969, 1032  # the exponent field of 2^-54 and of 2^9: the main path's range


@jit(inline=True)
def _exp_main(x):
    """``exp(x)`` for ``2^-54 <= |x| < 512``: glibc's operations in its order, with the fused
    multiply-adds of its FMA build (what ``math.exp`` runs on an x86-64 with FMA), so the same
    bits; written without a call or a branch, a loop of it is compiled to vector instructions."""
    kd = _fma(x, _EXP_INVLN2N, _EXP_SHIFT)
    ki = _bits(kd)
    kd = kd - _EXP_SHIFT
    r = _fma(kd, _EXP_NEGLN2LON, _fma(kd, _EXP_NEGLN2HIN, x))
    idx = 2 * (ki & 127)
    tail = _from_bits(_EXP_TAB[idx])
    scale = _from_bits(_EXP_TAB[idx + 1] + (ki << 45))
    r2 = r * r
    tmp = _fma(_fma(r, _EXP_C3, _EXP_C2), r2, r + tail)
    tmp = _fma(r2 * r2, _fma(r, _EXP_C5, _EXP_C4), tmp)
    return _fma(scale, tmp, scale)


@jit(inline=True)
def _exp_special(x):
    """Whether ``x`` is outside :func:`_exp_main`'s range (tiny, large, inf or NaN)."""
    e = (_bits(x) >> 52) & 0x7FF
    return (e < _EXP_LOW) | (e >= _EXP_HIGH)


@jit(inline=True)
def _exp_outside(x):
    """``exp(x)`` where :func:`_exp_special`: ``1 + x`` when tiny (as glibc), else libm's."""
    return 1.0 + x if (_bits(x) >> 52) & 0x7FF < _EXP_LOW else math.exp(x)


@jit
def exp_into(x, out):
    """``out[k] = exp(x[k])`` for 1-d arrays, the bits of glibc's ``exp`` (FMA build), in a loop the
    compiler vectorises; the rare arguments outside ``2^-54 <= |x| < 512`` in a second pass."""
    special = 0
    for k in range(x.shape[0]):
        out[k] = _exp_main(x[k])
        special += _exp_special(x[k])
    if special:
        for k in range(x.shape[0]):
            if _exp_special(x[k]):
                out[k] = _exp_outside(x[k])


#: Box-Muller's constants, as doubles written out (the same on every machine).
_LN2 = float.fromhex("0x1.62e42fefa39efp-1")
_HALF_PI = float.fromhex("0x1.921fb54442d18p+0")
_SQRT2 = float.fromhex("0x1.6a09e667f3bcdp+0")
_ATANH = tuple(2.0 / (2 * j + 1) for j in range(1, 9))  # log m = 2 atanh s = 2 s + (2/3) s^3 + ... + (2/17) s^17
_SIN = tuple((-1.0) ** j / math.factorial(2 * j + 1) for j in range(1, 7))  # to x^13: 2e-14 at pi/4
_COS = tuple((-1.0) ** j / math.factorial(2 * j) for j in range(1, 8))  # to x^14: 1e-15 at pi/4


@jit(vector=True)  # no test of the division by 2 + f (>= 1.41)
def box_muller_into(bits1, bits2, out1, out2):
    """Standard normals by Box-Muller from 32-bit uniform integers into float32 arrays (all four
    1-d, of one length): ``out1[i]``, ``out2[i]`` are ``R cos A``, ``R sin A`` with
    ``R = sqrt(-2 log u1)``, ``A = 2 pi u2``, ``u1``, ``u2`` the 24-bit uniforms
    ``((bits >> 8) + 1/2) 2^-24`` of ``bits1[i]``, ``bits2[i]``.

    Computed in float64 with additions, multiplications, one division and one square root, each
    rounded as IEEE 754 says, then rounded once to float32 — so the same bits on every processor
    (numpy's float32 ``log``, ``cos`` and ``sin``, used before, are vector code chosen by the
    processor and differ by an ulp on a fifth of the values between machines). The logarithm is
    ``(e - 25) log 2 + 2 atanh((m - 1) / (m + 1))`` for ``2 u1 2^24 + 1 = m 2^e``, ``m`` within
    ``[sqrt(1/2), sqrt(2)]``; the angle is cut into quarter turns exactly (the top two bits of
    u2), folded onto ``[0, pi/4]``, and its sine and cosine are Taylor polynomials. Relative error
    below 1e-13 before the float32 rounding, so the float32 normal is the correctly rounded one
    but for about one in a million (tested). Branch-free: the compiler makes it vector code.
    """
    a1, a2, a3, a4, a5, a6, a7, a8 = _ATANH
    s1, s2, s3, s4, s5, s6 = _SIN
    c1, c2, c3, c4, c5, c6, c7 = _COS
    for i in range(out1.shape[0]):
        k = 2.0 * np.float64(bits1[i] >> np.uint32(8)) + 1.0  # u1 = k 2^-25, exactly; k odd in [1, 2^25)
        kb = _bits(k)
        e = (kb >> 52) - 1048  # k = m 2^(e + 25), m in [1, 2): log u1 = e log 2 + log m
        m = _from_bits((kb & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000)
        big = m > _SQRT2
        m = m * 0.5 if big else m
        e += big
        f = m - 1.0
        t = f / (2.0 + f)  # |t| <= 0.1716
        t2 = t * t
        series = a1 + t2 * (a2 + t2 * (a3 + t2 * (a4 + t2 * (a5 + t2 * (a6 + t2 * (a7 + t2 * a8))))))
        log_u = np.float64(e) * _LN2 + (2.0 * t + t * t2 * series)
        radius = math.sqrt(-2.0 * log_u)
        b2 = np.int64(bits2[i] >> np.uint32(8))
        quarter = b2 >> 22  # A = (quarter + r) pi / 2
        r = (np.float64(b2 & 0x3FFFFF) + 0.5) * 2.0**-22  # in (0, 1), exactly
        fold = r > 0.5
        x = ((1.0 - r) if fold else r) * _HALF_PI  # in (0, pi / 4]
        x2 = x * x
        sin_x = x + x * x2 * (s1 + x2 * (s2 + x2 * (s3 + x2 * (s4 + x2 * (s5 + x2 * s6)))))
        cos_x = 1.0 + x2 * (c1 + x2 * (c2 + x2 * (c3 + x2 * (c4 + x2 * (c5 + x2 * (c6 + x2 * c7))))))
        # cos A, sin A: (c, s) = cos, sin of (r pi / 2), turned by quarter turns; the fold and an
        # odd quarter each swap the two, the signs are those of the quarter
        swap = fold != ((quarter & 1) == 1)
        first = sin_x if swap else cos_x
        second = cos_x if swap else sin_x
        sign_cos = 1.0 - 2.0 * np.float64((quarter ^ (quarter >> 1)) & 1)
        sign_sin = 1.0 - 2.0 * np.float64(quarter >> 1)
        out1[i] = np.float32(radius * (sign_cos * first))
        out2[i] = np.float32(radius * (sign_sin * second))


def job_normals(gen: np.random.Generator, shape: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """Standard normals in float32 by Box-Muller (:func:`box_muller_into`) from 24-bit uniforms of
    ``gen``'s stream (one 64-bit output of its bit generator gives two).

    Exact in distribution up to float32 rounding (|z| <= 5.9, the 24-bit uniforms' limit), the
    same bits on every machine, and cheaper than numpy's float64 normals; used where a normal
    enters only through a smooth function (the job realisation). ``out`` (float32, C-contiguous,
    of ``shape``, an even number of values), if given, receives them: the same numbers, without a
    fresh array's pages to fault in.
    """
    size = int(np.prod(shape))
    half = (size + 1) // 2
    bits = uniform_bits(gen, (2 * half, 1)).reshape(-1)
    if out is not None and out.dtype == np.float32 and out.shape == tuple(shape) and out.flags.c_contiguous \
            and size % 2 == 0:
        out = out.reshape(-1)
    else:
        out = np.empty(2 * half, dtype=np.float32)
    box_muller_into(bits[:half], bits[half:], out[:half], out[half:])
    return out[:size].reshape(shape)


@jit  # not inlined: compiled on its own, its loop is vectorised
def _job_growth(p, z_jobs, sigma, x, out):
    """Each loan's lognormal job realisation factor on path ``p``, ``exp(sigma z - sigma^2 / 2)``,
    by :func:`exp_into` (``x`` is scratch): in the loan loop, ``math.exp`` (a call to libm) was a
    quarter of it."""
    for i in range(sigma.shape[0]):
        s = sigma[i]
        x[i] = s * z_jobs[p, i] - 0.5 * s * s
    exp_into(x, out)


@jit(inline=True)
def _tabulated(k, t):
    """The quintic Hermite interpolant of Phi in cell ``k`` of the table, at ``t`` in [0, 1]."""
    t2 = t * t
    t3 = t2 * t
    t4 = t3 * t
    t5 = t4 * t
    h3 = 10.0 * t3 - 15.0 * t4 + 6.0 * t5  # the basis of the value at the right node (1 - that of the left)
    v0 = _CDF_TABLE[k, 0]
    return (v0 + h3 * (_CDF_TABLE[k + 1, 0] - v0)
            + (t - 6.0 * t3 + 8.0 * t4 - 3.0 * t5) * _CDF_TABLE[k, 1]
            + 0.5 * (t2 - 3.0 * t3 + 3.0 * t4 - t5) * _CDF_TABLE[k, 2]
            + (-4.0 * t3 + 7.0 * t4 - 3.0 * t5) * _CDF_TABLE[k + 1, 1]
            + 0.5 * (t3 - 2.0 * t4 + t5) * _CDF_TABLE[k + 1, 2])


@jit(inline=True)
def normal_cdf(x):
    """``Phi(x)``: tabulated on [-CDF_XMAX, CDF_XMAX] (error below 1e-16), by ``erfc`` outside."""
    if -CDF_XMAX <= x < CDF_XMAX:
        s = (x + CDF_XMAX) * (1.0 / CDF_STEP)
        k = int(s)
        return _tabulated(k, s - k)
    return 0.5 * math.erfc(-x * _SQRT1_2)


#: The largest double below CDF_XMAX: an argument clamped to it has its cell in the table.
_CDF_BELOW_XMAX = math.nextafter(CDF_XMAX, 0.0)


@jit  # not inlined: compiled on its own, its loops are vectorised (in the caller they were not)
def normal_cdf_into(x, out):
    """``out[k] = normal_cdf(x[k])`` for 1-d arrays, the same numbers: the table everywhere (the
    argument clamped into it), then ``erfc`` where ``|x| >= CDF_XMAX``, if anywhere; per class
    and year of a path. The cells and their fractions first, in a loop of vector instructions
    (the conversion to a cell's number among them), then the interpolation, reading each cell's
    number as it was stored: in one loop, converting and extracting the numbers lane by lane
    took half of its time."""
    n = x.shape[0]
    cell = np.empty(n, dtype=np.uint32)
    fraction = np.empty(n)
    outside = 0
    for k in range(n):
        v = x[k] if x[k] > -CDF_XMAX else -CDF_XMAX  # NaN too: a cell in the table, then erfc's NaN
        v = v if v < _CDF_BELOW_XMAX else _CDF_BELOW_XMAX
        s = (v + CDF_XMAX) * (1.0 / CDF_STEP)  # in [0, 1536): its integer part is the cell
        c = np.int32(s)
        cell[k] = np.uint32(c)
        fraction[k] = s - np.float64(c)
        outside += not (-CDF_XMAX <= x[k] < CDF_XMAX)
    for k in range(n):
        out[k] = _tabulated(cell[k], fraction[k])
    if outside:  # counted in the vector loop: a second pass only when needed (it cost a quarter)
        for k in range(n):
            if not (-CDF_XMAX <= x[k] < CDF_XMAX):
                out[k] = 0.5 * math.erfc(-x[k] * _SQRT1_2)


@jit
def normal_ppf(u):
    """``Phi^-1(u)`` for u in (0, 1): Acklam's rational approximation (relative error 1.2e-9)
    refined by one Halley step on :func:`normal_cdf` (then about 1e-15), computed on the lower
    half (``1 - u`` is exact above 1/2, so the upper tail keeps its precision); u is clamped to
    (2^-60, 1 - 2^-53)."""
    u = min(max(u, 2.0**-60), 1.0 - 2.0**-53)
    if u > 0.5:
        return -_normal_ppf_lower(1.0 - u)
    return _normal_ppf_lower(u)


@jit
def _normal_ppf_lower(u):
    if u < 0.02425:
        q = math.sqrt(-2.0 * math.log(u))
        x = ((((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838) * q
                - 2.549732539343734) * q + 4.374664141464968) * q + 2.938163982698783)
             / ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996) * q
                 + 3.754408661907416) * q + 1.0))
    else:
        q = u - 0.5
        r = q * q
        x = (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r - 2.759285104469687e+02) * r
               + 1.383577518672690e+02) * r - 3.066479806614716e+01) * r + 2.506628277459239) * q / (
            ((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r - 1.556989798598866e+02) * r
              + 6.680131188771972e+01) * r - 1.328068155288572e+01) * r + 1.0)
    e = normal_cdf(x) - u
    d = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
    return x - d / (1.0 + 0.5 * x * d)


@jit(inline=True)
def _search(cdf, y, c, j_max, u):
    """The number of offsets ``j <= j_max`` with ``cdf[y, c, j] <= u`` (non-decreasing in ``j``;
    ``cdf[y, c, j_max] > u`` for a defaulter): its default year is ``y + j``. Counted without a
    branch (a horizon is a few dozen years at most): a binary search's branches are a coin toss
    for the processor, and it paid for every wrong guess."""
    count = 0
    for j in range(j_max + 1):
        count += cdf[y, c, j] <= u
    return count


@jit(inline=True)
def _within_limit(a0, a1, ok, group, cost, used, running, limit):
    """A sector's (or territory's) limit, first come first served over the year's files
    ``a0 .. a1 - 1``: a file stays ``ok`` while its group's commitments, with it, fit."""
    running.fill(0.0)
    for i in range(a0, a1):
        if ok[i - a0]:
            running[group[i]] += cost[i]
            ok[i - a0] = used[group[i]] + running[group[i]] <= limit


@jit(inline=True)
def _class_survival(p, shocks, inv_sqrt_w, ar_a, ar_scale, autoregressive, correlated, class_coef, class_factor,
                    class_surv, z, surv, minus_x):
    """Path ``p``'s factors ``z`` (T, F), AR(1) over years, and each class's probability of
    surviving each year given them, ``surv`` (C, T): ``1 - Phi((c_k / sqrt(W_t) - beta . Z_t) / s)``
    with the class's coefficients (the t copula's ``W_t`` is 1 under the Gaussian one);
    ``minus_x`` (C T) is scratch."""
    T, F = z.shape
    for f in range(F):
        z[0, f] = shocks[p, 0, f]
    for t in range(1, T):
        for f in range(F):
            if autoregressive:
                z[t, f] = ar_a[f] * z[t - 1, f] + ar_scale[f] * shocks[p, t, f]
            else:
                z[t, f] = shocks[p, t, f]
    if not correlated:
        for c in range(surv.shape[0]):
            for t in range(T):
                surv[c, t] = class_surv[c]
        return
    for c in range(surv.shape[0]):
        for t in range(T):
            x = z[t, class_factor[c, 0]] * class_coef[c, 1]
            x += z[t, class_factor[c, 1]] * class_coef[c, 2]
            x += z[t, 0] * class_coef[c, 0]
            x += class_coef[c, 3] * inv_sqrt_w[p, t]  # t copula: the threshold over sqrt(W_t)
            minus_x[c * T + t] = -x
    normal_cdf_into(minus_x, surv.reshape(surv.size))  # 1 - Phi(x), accurate when small


@jit
def _rescheduled(fund_out, b, t, cure_year, left, instalments):
    """Share of a loan of bucket ``b`` owed at the start of year ``t`` once restructured at the end of
    ``cure_year``: ``left`` repaid in ``instalments`` equal parts from ``cure_year + 1``."""
    if t <= cure_year:
        return fund_out[b, t]
    if instalments <= 0:
        return 0.0
    return left * min(max(1.0 - (t - (cure_year + 1)) / instalments, 0.0), 1.0)


@jit
def _binomial_quantile(u, n, q):
    """The smallest ``k`` with ``P(Binomial(n, q) <= k) >= u`` (``n`` a whole number, as a float)."""
    if n <= 0.0 or q <= 0.0:
        return 0.0
    if q >= 1.0:
        return n
    pmf = (1.0 - q) ** n
    cdf = pmf
    k = 0.0
    odds = q / (1.0 - q)
    while u > cdf and k < n:
        pmf *= (n - k) / (k + 1.0) * odds
        k += 1.0
        cdf += pmf
    return k


def _build_run_paths(OPTIONAL):  # noqa: N803 (a constant to numba)
    """:func:`run_paths` compiled with or without the optional mechanisms (a twist, vigilance, a
    guarantee and its envelope, variable interest, downturn recoveries): with ``OPTIONAL`` False
    their code is removed before numba types the kernel (a branch on a constant), so a run that
    can use none of them compiles less and runs a little faster; with True each keeps its
    run-time test. Both give the same numbers where they apply; each is cached on its own."""

    def run_paths(lo, hi, shocks, inv_sqrt_w, u_bank, u_default, z_jobs, u_watch, u_redefault, u_alarm, twist_theta,
                  twist_loss, twisting,
                  out_paths, out_years, out_sec, out_ter, out_logw,
                  scalars, discount, ar_a, ar_scale,
                  first, dclass, cell_of, sector, territory, check_year, eligible, acc_with, acc_without,
                  acc_unguaranteed, acc_without_unguaranteed, guaranteed,
                  loan, bank_loan, investment, jobs, subsidy, cost, net_share, real_mean, real_sigma, rec_mean, rec_spread,
                  fund_out, bank_out, rec_table,
                  pipe_range, book_range, cell_range, bucket_range,
                  cell_bucket, cell_sector, cell_ter, report_b, unit, ramp_b, book_acc,
                  enter_cost, enter_sec, enter_ter, book_disbursed, book_new,
                  detection, on_watch, maturity_end, fund_rate,
                  class_coef, class_factor, class_surv, class_load, rec_gamma):
        """Paths ``lo .. hi - 1`` of the draws: writes row ``p`` of each ``out_*`` array.

        ``inv_sqrt_w`` (n, T) is ``1 / sqrt(W_t)`` of the t copula (ones under the Gaussian one);
        ``class_load`` (C, 3) and ``rec_gamma`` (m,) tie a defaulter's recovery to its factor.
        ``u_watch``, ``u_redefault`` (n, m) and ``u_alarm`` (n, T) are the vigilance's uniforms, read
        only when the fund watches (``scalars[20]``; empty arrays otherwise).

        ``twist_theta`` (n,) holds each path's twist (used where ``twisting``), ``twist_loss`` (m,)
        the loans' losses of the :class:`~levier.engine.paths.Twist`.
        """
        T = shocks.shape[1]
        F = shocks.shape[2]
        S = out_sec.shape[2]
        K = out_ter.shape[2]
        C = class_coef.shape[0]
        n_cells = cell_bucket.shape[0]
        n_buckets = report_b.shape[0]
        capital, eps, operating_cost, takeover = scalars[0], scalars[1], scalars[2], scalars[3]
        sector_limit, territory_limit, pre_value = scalars[4], scalars[5], scalars[6]
        recycle, clawback_full, correlated, autoregressive = scalars[7] > 0, scalars[8] > 0, scalars[9] > 0, scalars[10] > 0
        grid = rec_table.shape[1] - 1
        g_share, g_cap, g_fee, envelope = scalars[11], scalars[12], scalars[13], scalars[14]
        envelope_binds, guarantee = scalars[15] > 0, scalars[11] > 0
        tolerance, collected, variable_rate, variable_cap = scalars[16], scalars[17], scalars[18], scalars[19]
        n_groups = GROUP_ACC.shape[0]
        # paths and loans are counted unsigned: numba then indexes with them without its test for a
        # negative index (which also kept every array's length live), about a fifth of the kernel's time
        lo = max(lo, 0)
        watching, lead, false_alarm, cure_rate = scalars[20] > 0, int(scalars[21]), scalars[22], scalars[23]
        case_cost, extension = scalars[24], int(scalars[25])

        z = np.empty((T, F))
        cdf = np.empty((T + 1, C, T))  # [first year, class, offset]: cumulative PD by year first + offset
        surv = np.empty((C, T))
        minus_x = np.empty(C * T)
        acc = np.empty((n_cells, N_ACC))
        year = np.empty((N_YEAR, T))
        by_tau = np.empty((n_buckets, T + 1, 4))  # [bucket, default year - 1 (T: none), loan/bank/file/jobs]
        kept_from = np.empty(T)  # jobs kept by takeovers, from their default year on
        sec_used = np.empty(S)
        ter_used = np.empty(K)
        run_s = np.empty(S)
        run_k = np.empty(K)
        max_pipe = 0
        for t in range(1, T + 1):
            max_pipe = max(max_pipe, pipe_range[t, 1] - pipe_range[t, 0])
        ok = np.zeros(max_pipe, dtype=np.bool_)
        covered = np.zeros(max_pipe, dtype=np.bool_)  # the guarantor's envelope covers the file
        has_year = np.zeros(T + 1, dtype=np.bool_)
        growth = np.empty(real_sigma.shape[0])  # the path's job realisation factors
        growth_arg = np.empty(real_sigma.shape[0])
        for t in range(1, T + 1):
            has_year[t] = pipe_range[t, 1] > pipe_range[t, 0] or book_range[t, 1] > book_range[t, 0]

        for p in range(np.uint64(lo), np.uint64(hi)):
            # -- factors and the classes' cumulative default probabilities -------------------------
            _class_survival(p, shocks, inv_sqrt_w, ar_a, ar_scale, autoregressive, correlated, class_coef, class_factor,
                            class_surv, z, surv, minus_x)
            for y in range(1, T + 1):
                if has_year[y]:
                    for c in range(C):
                        q = surv[c, y - 1]
                        cdf[y, c, 0] = 1.0 - q
                        for j in range(1, T - y + 1):
                            q *= surv[c, y - 1 + j]
                            cdf[y, c, j] = 1.0 - q
            _job_growth(p, z_jobs, real_sigma, growth_arg, growth)
            theta = twist_theta[p] if OPTIONAL and twisting else 0.0
            log_w = 0.0
            n_watched = n_cured = jobs_saved = 0.0

            # -- year by year: decisions, loans, the year's flows, recycling ------------------------
            for c in range(n_cells):  # the loan book's fixed sums, zeros elsewhere
                for k in range(N_ACC):
                    acc[c, k] = book_acc[c, k]
            year.fill(0.0)
            by_tau.fill(0.0)
            kept_from.fill(0.0)
            sec_used.fill(0.0)
            ter_used.fill(0.0)
            available = capital
            committed = 0.0  # guaranteed principal the envelope has committed
            for t in range(1, T + 1):
                for part in range(2):  # the year's pipeline first, then the loan book's loans
                    if part == 0:
                        a0, a1 = np.uint64(pipe_range[t, 0]), np.uint64(pipe_range[t, 1])
                        if a1 == a0:
                            continue
                        asked = committed
                        for i in range(a0, a1):
                            ok[i - a0] = eligible[i] and u_bank[p, i] < acc_with[i]
                            covered[i - a0] = guarantee
                            if OPTIONAL and envelope_binds:
                                # first come first served: a file the bank accepts with the guarantee asks
                                # for it; once the asks exceed the envelope, the bank decides without it
                                if ok[i - a0]:
                                    asked += guaranteed[i]
                                covered[i - a0] = ok[i - a0] and asked <= envelope + eps
                                ok[i - a0] = eligible[i] and u_bank[p, i] < (acc_with[i] if covered[i - a0]
                                                                             else acc_unguaranteed[i])
                        if math.isfinite(sector_limit):
                            _within_limit(a0, a1, ok, sector, cost, sec_used, run_s, sector_limit + eps)
                        if math.isfinite(territory_limit):
                            _within_limit(a0, a1, ok, territory, cost, ter_used, run_k, territory_limit + eps)
                        running = 0.0
                        for i in range(a0, a1):
                            if ok[i - a0]:
                                running += cost[i]
                                ok[i - a0] = running <= available + eps
                        spent = 0.0
                        count = 0.0
                        run_s.fill(0.0)
                        run_k.fill(0.0)
                        for i in range(a0, a1):
                            if ok[i - a0]:
                                spent += cost[i]
                                count += 1.0
                                if OPTIONAL and envelope_binds and covered[i - a0]:
                                    committed += guaranteed[i]
                                run_s[sector[i]] += cost[i]
                                run_k[territory[i]] += cost[i]
                        available -= spent
                        for s in range(S):
                            sec_used[s] += run_s[s]
                        for k in range(K):
                            ter_used[k] += run_k[k]
                        year[Y_DISB, t - 1] += spent
                        year[Y_NEW, t - 1] += count
                    else:
                        a0, a1 = np.uint64(book_range[t, 0]), np.uint64(book_range[t, 1])
                        if enter_cost[t] != 0.0 or a1 > a0:
                            available -= enter_cost[t]
                            for s in range(S):
                                sec_used[s] += enter_sec[t, s]
                            for k in range(K):
                                ter_used[k] += enter_ter[t, k]
                    for i in range(a0, a1):
                        pipeline = part == 0
                        if pipeline and not ok[i - a0]:
                            continue
                        c = cell_of[i]
                        if pipeline:
                            acc[c, A_FIN] += 1.0
                            acc[c, A_LOAN] += loan[i]
                            acc[c, A_BANK] += bank_loan[i]
                            acc[c, A_INV] += investment[i]
                            acc[c, A_PLANNED] += jobs[i]
                            acc[c, A_SUB] += subsidy[i]
                        r = real_mean[i] * growth[i]
                        realised = jobs[i] * r
                        cover = pipeline and covered[i - a0]  # loan-book loans carry no guarantee
                        # without the fund, the firm has the guarantee if the envelope covered it
                        a_without = acc_without[i] if cover or not envelope_binds else acc_without_unguaranteed[i]
                        additional = not (a_without >= 0.0 and u_bank[p, i] < a_without)
                        if additional:
                            acc[c, A_ADD] += 1.0
                        # the default test against the class's cumulative PD from the loan's first year
                        y = first[i]
                        cl = dclass[i]
                        j_max = T - y
                        p_default = cdf[y, cl, _ix(j_max)]
                        u = u_default[p, i]
                        if OPTIONAL and twisting:
                            g = math.exp(theta * twist_loss[i])
                            qd = p_default * g / (1.0 + p_default * (g - 1.0))
                            if u < qd:
                                u_new = min(u * (p_default / (qd if qd > 0 else 1.0)), math.nextafter(p_default, 0.0))
                                ratio = math.log(p_default) - math.log(qd)
                            else:
                                u_new = p_default + (u - qd) * ((1.0 - p_default) / (1.0 - qd if qd < 1 else 1.0))
                                ratio = math.log1p(-p_default) - math.log1p(-qd)
                            if qd != p_default:
                                log_w += ratio
                            u = u_new
                        tau = T + 1
                        b = cell_bucket[c]
                        rep = report_b[b]
                        cured = False
                        cure_year, left, instalments = 0, 0.0, 0
                        share = 0.0
                        if u < p_default:
                            j = _search(cdf, y, cl, j_max, u)
                            tau = y + j
                            upper = cdf[y, cl, _ix(j)]
                            lower = cdf[y, cl, _ix(j - 1)] if j > 0 else 0.0
                            share = fund_out[b, _ix(tau)]
                            if OPTIONAL and watching:
                                # detected lead years ahead if the loan was then in the book (a file on
                                # watch whatever the lead); one uniform decides detection and cure
                                seen = tau - lead
                                if on_watch[i]:
                                    seen = max(seen, 1)
                                w = u_watch[p, i]
                                if (seen >= y or on_watch[i]) and w < detection[i]:
                                    n_watched += 1.0
                                    year[Y_VIG, seen - 1] += case_cost
                                    cured = w < detection[i] * cure_rate
                            if OPTIONAL and cured:
                                # the firm survives tau; what is left after it is repaid in equal parts
                                # over the years left to maturity plus the extension; from tau + 1 its
                                # ordinary hazard again, with a fresh uniform: F_tau + (1 - F_tau) u2
                                n_cured += 1.0
                                cure_year = tau
                                left = fund_out[b, tau + 1]
                                instalments = max(maturity_end[i] - (tau + 1), 0) + extension
                                u = upper + (1.0 - upper) * u_redefault[p, i]
                                first_cure = tau
                                tau = T + 1
                                if u < p_default:
                                    j = _search(cdf, y, cl, j_max, u)
                                    tau = y + j
                                    upper = cdf[y, cl, j]
                                    lower = cdf[y, cl, j - 1]
                                    share = _rescheduled(fund_out, b, tau, cure_year, left, instalments)
                                lost = realised * (ramp_b[b, T] - takeover * ramp_b[b, first_cure])
                                if tau <= T:
                                    lost = realised * takeover * (ramp_b[b, tau] - ramp_b[b, first_cure])
                                jobs_saved += lost
                                for tt in range(first_cure + 1, min(tau, T) + 1):
                                    new_t = _rescheduled(fund_out, b, tt, cure_year, left, instalments)
                                    old_t = fund_out[b, tt]
                                    if tt < tau:
                                        new_n = _rescheduled(fund_out, b, tt + 1, cure_year, left, instalments)
                                        old_n = fund_out[b, tt + 1]
                                        year[Y_INT, tt - 1] += fund_rate[i] * loan[i] * (new_t - old_t)
                                        year[Y_PRIN, tt - 1] += loan[i] * ((new_t - new_n) - (old_t - old_n))
                                        year[Y_FEND, tt - 1] += loan[i] * (new_n - old_n)
                                    year[Y_FILES, tt - 1] += (1.0 if new_t > 0 else 0.0) - (1.0 if old_t > 0 else 0.0)
                        if tau <= T:
                            fs = loan[i] * share
                            bs = bank_loan[i] * bank_out[b, _ix(tau)]
                            rate = rec_mean[i]
                            if rec_spread[i]:
                                ur = (u - lower) / (upper - lower)
                                g = rec_gamma[i]
                                if OPTIONAL and g > 0.0:  # downturn: Phi(gamma S + sqrt(1 - gamma^2) Phi^-1(u)), S the factor at tau
                                    s = (class_load[cl, 0] * z[tau - 1, 0] + class_load[cl, 1] * z[tau - 1, class_factor[cl, 0]]
                                         + class_load[cl, 2] * z[tau - 1, class_factor[cl, 1]])
                                    ur = normal_cdf(g * s + math.sqrt(1.0 - g * g) * normal_ppf(ur))
                                xr = ur * grid
                                cell_r = min(int(xr), grid - 1)
                                r_lo = rec_table[sector[i], _ix(cell_r)]
                                rate = r_lo + (xr - cell_r) * (rec_table[sector[i], _ix(cell_r + 1)] - r_lo)
                            pool = rate * (fs + bs)
                            brec = min(pool, bs)
                            frec = min(pool - brec, fs)
                            acc[c, A_FLOSS] += fs - frec
                            bank_loss = bs - brec
                            if OPTIONAL and cover:  # the guarantor's share of the bank's loss, up to its cap
                                g_loss = min(g_share * bank_loss, g_cap)
                                bank_loss -= g_loss
                                acc[c, A_GLOSS] += g_loss
                                year[Y_GLOSS, tau - 1] += g_loss
                            acc[c, A_BLOSS] += bank_loss
                            acc[c, A_NDEF] += 1.0
                            kept = realised * (takeover * ramp_b[b, _ix(tau)])
                            acc[c, A_KEPT] += kept
                            if additional:
                                acc[c, A_KEPT_ADD] += kept
                                acc[c, A_KEPT_NET] += kept * net_share[i]
                            if tau <= rep:
                                acc[c, A_CHECK_KEPT] += kept
                            else:
                                acc[c, A_CHECK_ALIVE] += realised
                            kept_from[_ix(tau - 1)] += kept
                            year[Y_DEF, _ix(tau - 1)] += 1.0
                            year[Y_FREC, _ix(tau - 1)] += frec
                            year[Y_BREC, _ix(tau - 1)] += brec
                        else:
                            acc[c, A_ALIVE] += realised
                            acc[c, A_CHECK_ALIVE] += realised
                            if additional:
                                acc[c, A_ALIVE_ADD] += realised
                                acc[c, A_ALIVE_NET] += realised * net_share[i]
                        d = _ix(tau - 1)  # tau >= 1
                        by_tau[b, d, 0] += loan[i]
                        by_tau[b, d, 1] += bank_loan[i]
                        by_tau[b, d, 2] += 1.0
                        by_tau[b, d, 3] += realised
                        # the guarantee fee on g times the bank's outstanding, and the variable interest
                        # on the fund's, at the start of each year the firm lives (as interest)
                        if OPTIONAL and cover and g_fee > 0.0:
                            for tt in range(y, min(tau, T + 1)):
                                fee = g_fee * g_share * bank_loan[i] * bank_out[b, tt]
                                acc[c, A_GFEE] += fee
                                year[Y_GFEE, tt - 1] += fee
                        if OPTIONAL and variable_rate > 0.0:
                            performance = min(max(r - 1.0, 0.0) / (variable_cap - 1.0), 1.0)
                            for tt in range(y, min(tau, T + 1)):
                                owed = _rescheduled(fund_out, b, tt, cure_year, left, instalments) if cured else fund_out[b, tt]
                                extra = variable_rate * performance * loan[i] * owed
                                acc[c, A_VAR] += extra
                                year[Y_VAR, tt - 1] += extra
                        # conditional subsidies clawed back at the check year from surviving firms
                        check = check_year[i]
                        if subsidy[i] > 0 and 1 <= check <= T and tau > check:
                            achieved = r * ramp_b[b, check]
                            if clawback_full:
                                short = 1.0 if achieved < 1.0 else 0.0
                            else:
                                short = min(max(1.0 - achieved, 0.0), 1.0)
                            if achieved >= tolerance:  # within the tolerance of its target: nothing due
                                short = 0.0
                            claw = short * subsidy[i]
                            if collected < 1.0:
                                claw *= collected
                            year[Y_CLAW, check - 1] += claw
                # the flows of the buckets whose loans start this year, now complete: in year t, the
                # unit schedules weighted by the loans still alive (default year > t; files: >= t)
                for b in range(bucket_range[t, 0], bucket_range[t, 1]):
                    w_loan = w_bank = w_files = w_jobs = 0.0
                    for tt in range(T - 1, -1, -1):
                        w_loan += by_tau[b, tt + 1, 0]
                        w_bank += by_tau[b, tt + 1, 1]
                        w_files += by_tau[b, tt + 1, 2]
                        w_jobs += by_tau[b, tt + 1, 3]
                        year[Y_INT, tt] += w_loan * unit[0, b, tt]
                        year[Y_PRIN, tt] += w_loan * unit[1, b, tt]
                        year[Y_FEND, tt] += w_loan * unit[2, b, tt]
                        year[Y_BEND, tt] += w_bank * unit[3, b, tt]
                        year[Y_BINT, tt] += w_bank * unit[4, b, tt]
                        year[Y_FILES, tt] += (w_files + by_tau[b, tt, 2]) * unit[5, b, tt]
                        year[Y_JOBS, tt] += w_jobs * ramp_b[b, tt + 1]
                if recycle:
                    available += year[Y_PRIN, t - 1] + year[Y_FREC, t - 1] + year[Y_CLAW, t - 1]

            # -- the path's outputs ------------------------------------------------------------------
            totals = out_paths[p]
            totals.fill(0.0)
            out_sec[p].fill(0.0)
            out_ter[p].fill(0.0)
            for c in range(n_cells):
                b = cell_bucket[c]
                s = cell_sector[c]
                k = cell_ter[c]
                final = ramp_b[b, T]
                created = acc[c, A_ALIVE] * final + acc[c, A_KEPT]
                created_add = acc[c, A_ALIVE_ADD] * final + acc[c, A_KEPT_ADD]
                for g in range(n_groups):  # SECTOR_COLUMNS
                    if g == 8:
                        value = created
                    elif g == 9:
                        value = created_add
                    else:
                        value = acc[c, GROUP_ACC[g]]
                    out_sec[p, g, s] += value
                    out_ter[p, g, k] += value
                totals[0] += acc[c, A_LOAN]
                totals[1] += acc[c, A_BANK]
                totals[2] += acc[c, A_INV]
                totals[3] += acc[c, A_FIN]
                totals[4] += acc[c, A_PLANNED]
                totals[5] += acc[c, A_SUB]
                totals[6] += acc[c, A_ADD]
                totals[7] += created
                totals[8] += created_add
                totals[9] += acc[c, A_ALIVE_NET] * final + acc[c, A_KEPT_NET]
                totals[10] += acc[c, A_CHECK_ALIVE] * ramp_b[b, report_b[b]] + acc[c, A_CHECK_KEPT]
                totals[11] += acc[c, A_FLOSS]
                totals[12] += acc[c, A_BLOSS]
                totals[13] += acc[c, A_NDEF]
                totals[24] += acc[c, A_GLOSS]
                totals[25] += acc[c, A_GFEE]
                totals[26] += acc[c, A_VAR]
            if OPTIONAL and watching and false_alarm > 0.0:
                # false alarms: each year, each live file not defaulting within the lead is flagged
                # with probability false_alarm_rate; their number is the Binomial quantile of a uniform
                for t in range(T):
                    distress = 0.0
                    for lag in range(min(lead, T - 1 - t) + 1):
                        distress += year[Y_DEF, t + lag]
                    healthy = max(round(year[Y_FILES, t] - distress), 0.0)
                    alarms = _binomial_quantile(u_alarm[p, t], healthy, false_alarm)
                    n_watched += alarms
                    year[Y_VIG, t] += case_cost * alarms
            pv = pre_value
            kept_jobs = 0.0
            vigilance_costs = 0.0
            for t in range(T):
                kept_jobs += kept_from[t]
                year[Y_JOBS, t] += kept_jobs
                year[Y_DISB, t] += book_disbursed[t]
                year[Y_NEW, t] += book_new[t]
                operating = operating_cost * year[Y_FILES, t]
                inflow = year[Y_INT, t] + year[Y_PRIN, t] + year[Y_FREC, t] + year[Y_CLAW, t]
                if OPTIONAL and variable_rate > 0.0:
                    inflow += year[Y_VAR, t]
                if OPTIONAL and watching:  # the watch is an operating cost of the fund (apart in operating_costs)
                    operating_all = operating + year[Y_VIG, t]
                    vigilance_costs += year[Y_VIG, t]
                else:
                    operating_all = operating
                pv += year[Y_DISB, t] * discount[t] - (inflow - operating_all) * discount[t + 1]
                totals[15] += year[Y_JOBS, t]
                totals[17] += year[Y_INT, t]
                totals[18] += year[Y_PRIN, t]
                totals[19] += year[Y_FREC, t]
                totals[20] += year[Y_BREC, t]
                totals[21] += operating
                totals[22] += year[Y_CLAW, t]
                totals[23] += year[Y_BINT, t]
                out_years[p, 0, t] = year[Y_FEND, t]
                out_years[p, 1, t] = year[Y_BEND, t]
                out_years[p, 2, t] = year[Y_DEF, t]
                out_years[p, 3, t] = year[Y_JOBS, t]
                out_years[p, 4, t] = inflow - operating_all - year[Y_DISB, t]
                out_years[p, 5, t] = year[Y_NEW, t]
                out_years[p, 6, t] = year[Y_FILES, t]
                out_years[p, 7, t] = year[Y_BINT, t]
                out_years[p, 8, t] = year[Y_GLOSS, t]
                out_years[p, 9, t] = year[Y_GFEE, t]
                out_years[p, 10, t] = year[Y_VAR, t]
                out_years[p, 11, t] = year[Y_DISB, t]
            totals[16] = year[Y_FEND, T - 1]
            totals[27] = n_watched
            totals[28] = n_cured
            totals[29] = vigilance_costs
            totals[30] = jobs_saved
            totals[31] = available  # what the lending rule leaves to lend after the horizon's last year
            totals[14] = pv - year[Y_FEND, T - 1] * discount[T]
            out_logw[p] = log_w

    # Each variant under its own name, so in its own cache files. numba keeps all the compiled
    # versions of one function in one index, numbered from 1; two processes saving two versions at
    # once (a first run of each kind, side by side) could both take number 1, and one variant's
    # entry would then name the other's code: a run with a guarantee silently run without it.
    run_paths.__qualname__ = "run_paths" if OPTIONAL else "run_paths_plain"
    return jit(run_paths)


#: The kernel with every mechanism (each tested at run time), as it is documented below.
run_paths = _build_run_paths(True)
_plain = _build_run_paths(False)


def run_paths_for(twist: bool, *mechanisms: bool):
    """The compiled kernel for a run: without the optional mechanisms when it uses none of them
    (a ``twist``, nor any of :attr:`~levier.engine.plan.Plan.mechanisms`: the shipped scenarios),
    else :func:`run_paths`, with all of them. Two variants, not one per combination: each costs
    a compilation the first time it is used."""
    return run_paths if twist or any(mechanisms) else _plain



@jit(inline=True)
def _sign(x):
    """numpy's ``sign``: -1, 0 or 1, NaN for NaN."""
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else (0.0 if x == 0.0 else math.nan))


@jit(inline=True)
def _npv_row(flows, p, log_growth):
    """``sum_t flows[p, t] (1 + r)^-t`` for ``log_growth = log(1 + r)``, by Horner's rule in
    ``v = (1 + r)^-1``."""
    v = math.exp(-log_growth)
    total = 0.0
    for t in range(flows.shape[1] - 1, -1, -1):
        total = total * v + flows[p, t]
    return total


@jit
def irr_rows(flows, grid, discount, bisections, out):
    """Each row's internal rate of return (:func:`levier.engine.finances.internal_rate_of_return`):
    the NPV on ``grid`` (in ``log(1 + r)``), the sign change nearest to 0, then ``bisections``
    halvings of its cell; NaN where the NPV does not change sign on the grid. ``discount`` holds
    ``exp(-grid)`` (as :func:`_npv_row` computes it): the grid's NPVs are then one loop over the
    grid per year, which the compiler vectorises (the same operations for each point)."""
    values = np.empty(grid.shape[0])
    for p in range(flows.shape[0]):
        values[:] = 0.0
        for t in range(flows.shape[1] - 1, -1, -1):
            f = flows[p, t]
            for k in range(grid.shape[0]):
                values[k] = values[k] * discount[k] + f
        cell, nearest = -1, math.inf
        for k in range(grid.shape[0] - 1):
            change = _sign(values[k]) * _sign(values[k + 1]) <= 0.0 and not (values[k] == 0.0 and values[k + 1] == 0.0)
            if change and abs(0.5 * (grid[k] + grid[k + 1])) < nearest:
                cell, nearest = k, abs(0.5 * (grid[k] + grid[k + 1]))
        if cell < 0:
            out[p] = math.nan
            continue
        a, b, fa = grid[cell], grid[cell + 1], values[cell]
        for _ in range(bisections):
            mid = 0.5 * (a + b)
            fm = _npv_row(flows, p, mid)
            if _sign(fm) == _sign(fa):
                a, fa = mid, fm
            else:
                b = mid
        out[p] = math.expm1(0.5 * (a + b))

@jit
def twist_thetas(lo, hi, p_all, ell, weight, target, thetas):
    """Each path's twist ``theta >= 0`` (losses in units of the largest): ``sum_i w_i l_i
    p_i(theta) = target`` by safeguarded Newton, path by path (``p_all`` (n, m))."""
    m = ell.shape[0]
    for p in range(lo, hi):
        base = 0.0
        for i in range(m):
            base += weight[i] * ell[i] * p_all[p, i]
        if base >= target:
            thetas[p] = 0.0
            continue
        theta, low, high = 0.0, 0.0, 60.0
        for _ in range(60):
            total = 0.0
            slope = 0.0
            for i in range(m):
                if weight[i] == 0.0 or ell[i] == 0.0:
                    continue
                g = math.exp(theta * ell[i])
                q = p_all[p, i] * g / (1.0 + p_all[p, i] * (g - 1.0))
                total += weight[i] * ell[i] * q
                slope += weight[i] * ell[i] * ell[i] * q * (1.0 - q)
            gap = total - target
            if gap < 0:
                low = theta
            else:
                high = theta
            step = theta - gap / slope if slope > 0 else high
            new = step if low < step < high else 0.5 * (low + high)
            done = abs(new - theta) <= 1e-10 * (1.0 + theta)
            theta = new
            if done:
                break
        thetas[p] = theta


@jit
def horizon_pd(lo, hi, shocks, inv_sqrt_w, scalars, ar_a, ar_scale, first, dclass, class_coef, class_factor, class_surv,
               out):
    """Each loan's cumulative default probability over its years to the horizon, given the
    path's factors: ``out[p, i] = F_T`` of its class from its first year (as :func:`run_paths`)."""
    T = shocks.shape[1]
    F = shocks.shape[2]
    C = class_coef.shape[0]
    correlated, autoregressive = scalars[9] > 0, scalars[10] > 0
    z = np.empty((T, F))
    surv = np.empty((C, T))
    minus_x = np.empty(C * T)
    cum = np.empty((T + 1, C))
    for p in range(lo, hi):
        _class_survival(p, shocks, inv_sqrt_w, ar_a, ar_scale, autoregressive, correlated, class_coef, class_factor,
                        class_surv, z, surv, minus_x)
        for c in range(C):
            q = 1.0
            for y in range(T, 0, -1):  # survival from year y to the horizon, for every y
                q *= surv[c, y - 1]
                cum[y, c] = q
        for i in range(first.shape[0]):
            y = first[i]
            out[p, i] = 1.0 - cum[y, dclass[i]] if y <= T else 0.0
