"""BG/NBD and Gamma-Gamma: maximum likelihood recovers the parameters a customer base was
drawn from, and the predictions behave (probabilities in [0, 1], holdout purchases)."""

import numpy as np
import pytest

from seg_platform.predictions.btyd import BGNBD, GammaGamma

pytestmark = pytest.mark.unit

# The published CDNOW estimates (Fader, Hardie & Lee 2005; Fader & Hardie's Gamma-Gamma note).
TRUE = dict(r=0.243, alpha=4.414, a=0.793, b=2.426, p=6.25, q=3.74, v=15.44)


def simulate(n: int, seed: int, holdout: float = 39.0):
    """Customers drawn from the BG/NBD and Gamma-Gamma processes: calibration summary
    (x, t_x, T, mean spend) and the repeat purchases each made in the next `holdout` weeks."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(27.0, 39.0, n)
    lam = rng.gamma(TRUE["r"], 1.0 / TRUE["alpha"], n)
    p = rng.beta(TRUE["a"], TRUE["b"], n)
    repeats = rng.geometric(p)  # purchases before dropping out, the last one included
    arrivals = rng.poisson(lam * (T + holdout))  # purchases over both periods if never dying
    x = np.zeros(n, dtype=np.int64)
    t_x = np.zeros(n)
    future = np.zeros(n, dtype=np.int64)
    for i in np.flatnonzero(arrivals):
        times = np.sort(rng.uniform(0, T[i] + holdout, arrivals[i]))[: repeats[i]]
        before = times[times <= T[i]]
        x[i], future[i] = len(before), len(times) - len(before)
        t_x[i] = before[-1] if len(before) else 0.0
    nu = rng.gamma(TRUE["q"], 1.0 / TRUE["v"], n)
    m = np.zeros(n)
    k = x > 0
    m[k] = rng.gamma(TRUE["p"] * x[k], 1.0 / (nu[k] * x[k]))
    return x, t_x, T, m, future


@pytest.fixture(scope="module")
def customers():
    return simulate(100_000, seed=7)


def test_bgnbd_recovers_the_parameters_and_predicts_the_holdout(customers):
    x, t_x, T, _, future = customers
    model = BGNBD().fit(x, t_x, T)
    for name in ("r", "alpha", "a", "b"):
        assert model.params[name] == pytest.approx(TRUE[name], rel=0.12), name
    alive = model.p_alive(x, t_x, T)
    assert ((alive >= 0) & (alive <= 1)).all()
    assert (alive[x == 0] == 1).all()  # no repeat purchase yet: no evidence of dropping out
    # Aggregate repeat purchases in the 39 holdout weeks: predicted within 10% of actual.
    predicted = model.expected_purchases(39.0, x, t_x, T).sum()
    assert predicted == pytest.approx(future.sum(), rel=0.10)


def test_gamma_gamma_recovers_the_spend_parameters(customers):
    x, _, _, m, _ = customers
    model = GammaGamma().fit(x, m)
    for name in ("p", "q", "v"):
        assert model.params[name] == pytest.approx(TRUE[name], rel=0.15), name
    spend = model.conditional_expected_average_profit(x, m)
    population = TRUE["p"] * TRUE["v"] / (TRUE["q"] - 1)
    # One-time buyers get the population's mean spend; buyers lie between it and their own mean.
    assert spend[x == 0] == pytest.approx(model.p * model.v / (model.q - 1))
    assert spend[x == 0][0] == pytest.approx(population, rel=0.15)
    buyers = x > 0
    low = np.minimum(m[buyers], spend[x == 0][0]) - 1e-9
    high = np.maximum(m[buyers], spend[x == 0][0]) + 1e-9
    assert ((spend[buyers] >= low) & (spend[buyers] <= high)).all()
