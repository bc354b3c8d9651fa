"""BG/NBD and NBD on a customer base whose buyers all purchase at about the same rate: the
rate's gamma mixture is then nearly a point (r and alpha in the thousands, at the edge of the
search box), where the textbook log-likelihood loses its last digits to cancellation.

The data are the RFM summary of the 100k-customer synthetic company at 2025-12-31 (35,184
buyers; `benchmarks/spark_month.py --customers 100000`), as whole days: before the
cancellation-free form, L-BFGS-B stopped there with ABNORMAL and the month's value step failed
on both engines."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.special import betaln, gammaln

from seg_platform.predictions.btyd import BGNBD, NBD, projected_gradient

pytestmark = pytest.mark.unit

DATA = Path(__file__).parent / "data" / "flat_rate_rfm.csv.gz"


@pytest.fixture(scope="module")
def buyers():
    rows = pl.read_csv(DATA)  # in the order the value step read them (the order matters)
    x = rows["frequency"].to_numpy().astype(float)
    return x, rows["recency"].to_numpy(), rows["T"].to_numpy()


def textbook_bgnbd(theta, x, t_x, T):
    """FHL 2005 eq. 6, summed, in its published form."""
    r, alpha, a, b = np.exp(theta)
    A = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    t1 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        t2 = np.where(
            x > 0,
            betaln(a + 1, b + np.maximum(x, 1) - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return float(np.sum(A + np.logaddexp(t1, t2)))


def test_the_rearranged_likelihood_is_the_published_one(buyers):
    x, t_x, T = buyers
    rng = np.random.default_rng(3)
    for theta in rng.uniform(-2.0, 3.0, size=(5, 4)):
        ll = BGNBD._loglik(theta, x, t_x, T)
        assert ll == pytest.approx(textbook_bgnbd(theta, x, t_x, T), rel=1e-10)
        # Its gradient is the likelihood's: central differences in each log-parameter.
        _, grad = BGNBD._loglik(theta, x, t_x, T, grad=True)
        for i in range(4):
            step = np.zeros(4)
            step[i] = 1e-5
            numeric = (
                BGNBD._loglik(theta + step, x, t_x, T) - BGNBD._loglik(theta - step, x, t_x, T)
            ) / 2e-5
            assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-3)


@pytest.mark.parametrize("order", [None, 1, 2])
def test_bgnbd_fits_buyers_with_one_purchase_rate(buyers, order):
    x, t_x, T = buyers
    if order is not None:  # sums in another order: the fit must not hang on rounding luck
        perm = np.random.default_rng(order).permutation(len(x))
        x, t_x, T = x[perm], t_x[perm], T[perm]
    model = BGNBD().fit(x, t_x, T)
    # Nearly every buyer's rate is the same: the gamma's variance r / alpha^2 is tiny and its
    # mean r / alpha is the rate the buyers show (repeat purchases per week while alive).
    assert model.r / model.alpha**2 < 1e-3
    rate = model.r / model.alpha
    assert 0.2 < rate < 0.6
    # A converged fit: nothing left to gain in any direction inside the box.
    theta = np.log([model.r, model.alpha, model.a, model.b])
    _, grad = BGNBD._loglik(theta, x, t_x, T, True)
    assert np.abs(projected_gradient(-grad / len(x), theta)).max() < 1e-5
    alive = model.p_alive(x, t_x, T)
    assert ((alive >= 0) & (alive <= 1)).all()


def test_nbd_fits_the_same_buyers(buyers):
    x, _, T = buyers
    model = NBD().fit(x, T)
    assert model.params["r"] / model.params["alpha"] == pytest.approx(x.sum() / T.sum(), rel=0.05)
