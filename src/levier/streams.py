"""Random streams keyed by purpose and by block of paths, never by draw order.

The layers are numpy's: entropy (:class:`numpy.random.SeedSequence`) → stream
(:class:`numpy.random.PCG64`) → distributions (:class:`numpy.random.Generator`). The paths are cut
into fixed blocks of :data:`BLOCK_PATHS`; the numbers of block ``b`` for purpose ``k`` come from
the SeedSequence child ``root.spawn(...)[PATHS][b][k]`` (built directly from its spawn key, which
is what ``spawn`` does). So the numbers a path sees depend only on the seed, its block, the
purpose and the project's position — not on the chunk size, the number of processes or workers,
and not on the policy: two policies run with the same seed see common random numbers.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

__all__ = [
    "BLOCK_PATHS",
    "LabPurpose",
    "Purpose",
    "block_generator",
    "coerce_seed",
    "entropy_of",
    "lab_generator",
    "lab_root",
    "SAMPLERS",
    "SobolFactors",
    "pilot_root",
    "pipeline_generator",
    "rating_generator",
    "seed_of",
    "uniform_bits",
    "whole_blocks",
]

#: Paths per random-number block. Part of what defines the results: changing it changes every
#: number, so it is recorded in each result's ``meta``.
BLOCK_PATHS = 128



def whole_blocks(paths: int) -> int:
    """``paths`` rounded up to whole blocks: a range of paths cut there draws each block once."""
    return BLOCK_PATHS * max(1, -(-int(paths) // BLOCK_PATHS))


# First element of the spawn key: which family of streams.
_PATHS = 0
_PIPELINE = 1
_PILOT = 2
_SOBOL = 3
_LAB = 4
_RATING = 5  # family 4 belongs to the policy lab's streams

#: Samplers of the systematic factors: pseudo-random normals, or a scrambled Sobol' sequence.
SAMPLERS = ("random", "sobol")


class LabPurpose(enum.IntEnum):
    """What a stream of the policy lab is for (family ``_LAB``: outside every run's paths)."""

    DESIGN = 0  #: the points of a Latin hypercube or Sobol' design (``sweep``)
    OPTIMISER = 1  #: differential evolution's own draws (``optimise``)
    CHECK = 2  #: the fresh paths on which an optimum is checked (``optimise``)
    SENSITIVITY = 3  #: the Saltelli design and bootstrap of Sobol' indices (``sensitivity``)


class Purpose(enum.IntEnum):
    """What a stream is for; each purpose has its own independent stream in every block."""

    FACTORS = 0  #: systematic factors (macro, sector, territory), per path and year
    BANK = 1  #: the bank's acceptance draw, per path and project (shared with the counterfactual)
    DEFAULT = 2  #: the firm's default uniform, per path and project
    RECOVERY = 3  #: retired: the recovery uniform is the default uniform's residual (engine)
    JOBS = 4  #: the job realisation ratio, per path and project
    MIXING = 5  #: the t copula's mixing variable W_t = nu / chi2_nu, per path and year (drawn only then)
    WATCH = 6  #: vigilance: whether a coming default is detected and cured, per path and project
    REDEFAULT = 7  #: vigilance: a cured firm's fresh default uniform, per path and project
    ALARM = 8  #: vigilance: the number of false alarms, per path and year


def coerce_seed(seed: Any) -> np.random.SeedSequence:
    """Turn anything :func:`numpy.random.default_rng` accepts into the root SeedSequence.

    Parameters
    ----------
    seed : None, int, sequence of int, SeedSequence, BitGenerator or Generator
        ``None`` draws fresh entropy from the OS (it is recorded in the result, so the run can be
        repeated). A Generator or BitGenerator is *used*: 128 bits are drawn from it.

    Returns
    -------
    numpy.random.SeedSequence
    """
    if isinstance(seed, np.random.SeedSequence):
        # a copy: levier only ever builds children by spawn key, but the caller's object is
        # theirs, and a copy cannot be spawned from (mutated) by anything levier calls
        return np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(seed.integers(0, 2**63, size=2, dtype=np.uint64).tolist())
    if isinstance(seed, np.random.BitGenerator):
        return coerce_seed(np.random.Generator(seed))
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError("seed must be an integer, not a bool")
    if seed is not None and isinstance(seed, (int, np.integer)) and seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.SeedSequence(seed)


def _child(root: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    # Identical to descending through root.spawn(...) children, without creating the siblings.
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, *key))


def block_generator(root: np.random.SeedSequence, block: int, purpose: Purpose) -> np.random.Generator:
    """The Generator for one block of paths and one purpose.

    Parameters
    ----------
    root : SeedSequence
        From :func:`coerce_seed`.
    block : int
        Block index: paths ``block * BLOCK_PATHS`` to ``(block + 1) * BLOCK_PATHS - 1``.
    purpose : Purpose

    Returns
    -------
    numpy.random.Generator
    """
    return np.random.Generator(np.random.PCG64(_child(root, _PATHS, int(block), int(purpose))))


def pipeline_generator(root: np.random.SeedSequence) -> np.random.Generator:
    """The Generator that draws the candidate projects (once per scenario seed)."""
    return np.random.Generator(np.random.PCG64(_child(root, _PIPELINE)))


def rating_generator(root: np.random.SeedSequence) -> np.random.Generator:
    """The Generator of the fund's rating errors, one per pipeline project (keyed like the pipeline)."""
    return np.random.Generator(np.random.PCG64(_child(root, _RATING)))


def pilot_root(root: np.random.SeedSequence, iteration: int) -> np.random.SeedSequence:
    """A root for the pilot runs of importance sampling, independent of the main run's streams."""
    return _child(root, _PILOT, int(iteration))


def lab_root(root: np.random.SeedSequence, purpose: LabPurpose) -> np.random.SeedSequence:
    """A root for one use of the policy lab, independent of every run's streams."""
    return _child(root, _LAB, int(purpose))


def lab_generator(root: np.random.SeedSequence, purpose: LabPurpose) -> np.random.Generator:
    """The Generator for one use of the policy lab (a design, the optimiser)."""
    return np.random.Generator(np.random.PCG64(lab_root(root, purpose)))


def entropy_of(root: np.random.SeedSequence) -> str:
    """The root's entropy as a string (JSON cannot hold 128-bit integers exactly): an integer, or
    a list of them (``seed=[1, 2]``, a Generator's 128 bits); :func:`seed_of` reads it back."""
    return str(root.entropy)


def seed_of(meta: dict) -> np.random.SeedSequence:
    """The root SeedSequence a result's ``meta`` records (its ``seed_entropy`` and ``seed_spawn_key``)."""
    text = str(meta["seed_entropy"]).strip()
    entropy = [int(k) for k in text.strip("[]").split(",")] if text.startswith("[") else int(text)
    return np.random.SeedSequence(entropy, spawn_key=tuple(meta.get("seed_spawn_key", [])))


def uniform_bits(gen: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Uniform 32-bit integers: ``bits * 2**-32`` is a uniform on [0, 1) with resolution 2**-32.

    Half the cost of float64 uniforms (one 64-bit output gives two); comparing ``bits`` with
    ``p * 2**32`` decides an event of probability ``p`` exactly up to 2**-32.
    """
    size = int(np.prod(shape))
    return gen.bit_generator.random_raw((size + 1) // 2).view(np.uint32)[:size].reshape(shape)


class SobolFactors:
    """Factor shocks from one scrambled Sobol' sequence per run (quasi-Monte Carlo).

    Path ``i`` takes point ``i`` of the sequence (dimension T × F, mapped to normals by the
    inverse CDF): a block's points depend only on the seed and the block, as with the random
    streams, and the scrambling (Owen, seeded from the root) keeps each point uniform, so the
    estimates stay unbiased. Blocks asked in order cost one step of the sequence each.
    """

    def __init__(self, root: np.random.SeedSequence, horizon: int, n_factors: int):
        from scipy.stats import qmc

        self.shape = (horizon, n_factors)
        seed = np.random.Generator(np.random.PCG64(_child(root, _SOBOL)))
        self._engine = qmc.Sobol(horizon * n_factors, scramble=True, seed=seed)

    def block(self, block: int, n: int) -> np.ndarray:
        """Standard normal shocks (n, T, F) of the first ``n`` paths of ``block``."""
        import warnings

        from scipy import special

        start = block * BLOCK_PATHS
        if self._engine.num_generated > start:
            self._engine.reset()
        if start > self._engine.num_generated:
            self._engine.fast_forward(start - self._engine.num_generated)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # balance holds for the run's 2**k paths
            points = self._engine.random(n)
        points = np.clip(points, 2.0**-60, 1.0 - 2.0**-53)
        return special.ndtri(points).reshape(n, *self.shape)
