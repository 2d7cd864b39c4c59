"""The downturn-recovery loading estimator against data simulated from the model itself."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from levier.analysis.calibrate import recovery_loading
from levier.cli import main

H, RHO, MEAN, SD = 0.04, 0.15, 0.35, 0.2


def _years(gamma, seed, years=25, defaulters=300):
    """Yearly default rates of a large pool and its defaulters' mean recovery, brute force."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(years)
    rates = special.ndtr((special.ndtri(H) - np.sqrt(RHO) * z) / np.sqrt(1 - RHO))
    k = MEAN * (1 - MEAN) / SD**2 - 1
    u = special.ndtr(gamma * z[:, None] + np.sqrt(1 - gamma**2) * rng.standard_normal((years, defaulters)))
    return rates, stats.beta.ppf(u, MEAN * k, (1 - MEAN) * k).mean(axis=1)


@pytest.mark.parametrize("gamma", [0.0, 0.5])
def test_the_loading_is_recovered_within_four_standard_errors(gamma):
    rates, recoveries = _years(gamma, seed=11)
    known = recovery_loading(rates, recoveries, recovery_sd=SD, recovery_mean=MEAN, pd=H, rho=RHO)
    est, se = known.parameters["recovery_loading"], known.standard_errors["recovery_loading"]
    assert abs(est - gamma) <= 4 * se + (1e-6 if gamma == 0 else 0), (est, se)
    assert se < 0.1  # the test means something
    fitted = recovery_loading(rates, recoveries, recovery_sd=SD)  # pd, rho and the mean estimated too
    est, se = fitted.parameters["recovery_loading"], fitted.standard_errors["recovery_loading"]
    assert abs(est - gamma) <= 4 * se + (1e-6 if gamma == 0 else 0), (est, se)
    assert abs(fitted.parameters["recovery_mean"] - MEAN) <= 4 * fitted.standard_errors["recovery_mean"]
    assert "recovery_loading = " in fitted.to_toml("automobile")


def test_bad_recovery_series_are_refused_clearly():
    with pytest.raises(ValueError, match="one value per year each"):
        recovery_loading([0.1, 0.2, 0.3], [0.3, 0.3], recovery_sd=0.2)
    with pytest.raises(ValueError, match="sd < "):
        recovery_loading([0.1, 0.2, 0.3, 0.1], [0.3, 0.3, 0.2, 0.4], recovery_sd=0.6)


def test_cli_calibrate_recovery_with_default_rates(capsys):
    rates, recoveries = _years(0.5, seed=3, years=12)
    argv = ["calibrate", "recovery", "--rates", *map(str, recoveries), "--default-rates", *map(str, rates)]
    assert main(argv) == 2  # --sd is needed
    assert "--sd" in capsys.readouterr().err
    assert main(argv + ["--sd", str(SD), "--pd", str(H), "--rho", str(RHO)]) == 0
    out = capsys.readouterr().out
    assert "recovery_loading = " in out and "[[sectors]]" in out
