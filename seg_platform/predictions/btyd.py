"""Minimal buy-till-you-die models: BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma
(Fader, Hardie & Lee 2005 / Fader & Hardie note "The Gamma-Gamma Model of Monetary Value").

Maximum likelihood with scipy.optimize.minimize (L-BFGS-B on log-parameters, analytic
gradient). Everything is in log space with gammaln / betaln; terms that depend only on the
integer repeat-purchase count x are evaluated once per distinct x.

Chosen over pymc-marketing (docs/decisions/clv.md): the same estimates as the published
CDNOW ones (r 0.2426, alpha 4.4135, a 0.7929, b 2.4258, log-likelihood -9582.43; Gamma-Gamma
p 6.2488, q 3.7446, gamma 15.4477), 2 s for a million customers, and no new dependency.

Inputs follow the usual RFM summary convention (same as lifetimes / pymc-marketing):
  x   = frequency  (number of repeat purchases)
  t_x = recency    (time of last repeat purchase, measured from first purchase; 0 if x == 0)
  T   = age        (time from first purchase to end of calibration period)
  m   = average value of the repeat transactions (Gamma-Gamma, customers with x > 0 only)
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1

__all__ = ["BGNBD", "NBD", "GammaGamma", "params_at_bound"]


# Parameters are fitted in log space within [e^-9, e^9]. Data with (nearly) the same purchase
# rate for every customer drive r and alpha of BG/NBD to infinity at a fixed ratio (the gamma
# mixing collapses to one rate); the bound stands in for that limit and keeps the
# hypergeometric terms finite. Published estimates (CDNOW) lie well inside.
LOG_BOUND = 9.0
# A parameter this close to the box (in log units, ~5%) was placed by the bound, not the data.
BOUND_TOLERANCE = 0.05


def params_at_bound(params: dict[str, float], tolerance: float = BOUND_TOLERANCE) -> list[str]:
    """Names of the parameters the optimiser left at (or within `tolerance` of) e^-9 or e^9.

    An estimate on the box is not an estimate: the likelihood kept improving towards 0 or
    infinity (for BG/NBD's a and b on Online Retail: "nobody ever drops out")."""
    return [k for k, v in params.items() if abs(float(np.log(v))) >= LOG_BOUND - tolerance]


def log_hessian(grad, theta, step: float = 1e-4) -> np.ndarray:
    """Hessian of a mean negative log-likelihood at `theta` (log-parameters), from central
    differences of its analytic gradient."""
    k = len(theta)
    h = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = step
        h[:, j] = (grad(theta + e) - grad(theta - e)) / (2 * step)
    return (h + h.T) / 2


def condition_number(hessian: np.ndarray) -> float:
    """Largest over smallest absolute eigenvalue: huge means a direction along which the
    likelihood is flat, i.e. parameters the data do not identify."""
    if hessian.size == 0:
        return 1.0
    eig = np.abs(np.linalg.eigvalsh(hessian))
    if not np.all(np.isfinite(eig)) or eig.min() == 0:
        return float("inf")
    return float(eig.max() / eig.min())


def projected_gradient(grad, theta, bound: float = LOG_BOUND) -> np.ndarray:
    """The gradient with the components that push against a bound of the box set to zero:
    what is left is what the optimiser could still improve (zero at a constrained optimum)."""
    g = np.array(grad, dtype=float)
    g[(theta <= -bound) & (g > 0)] = 0.0
    g[(theta >= bound) & (g < 0)] = 0.0
    return g


# L-BFGS-B stops with ABNORMAL when its line search finds no step that lowers the objective
# by the amount its gradient promises. At an optimum that is expected: the remaining decrease
# is below the objective's rounding. It is accepted when the projected gradient of the mean
# negative log-likelihood (per log-unit of each parameter) is below this: moving any
# parameter by 1% would then change the mean log-likelihood by less than 1e-7.
GRADIENT_TOLERANCE = 1e-5


def _fit(nll_and_grad, x0, names, tol=1e-10, maxiter=1000):
    """Minimise a mean negative log-likelihood over (bounded) log-parameters."""
    res = minimize(
        nll_and_grad,
        np.clip(x0, -LOG_BOUND, LOG_BOUND),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-LOG_BOUND, LOG_BOUND)] * len(x0),
        options={"ftol": tol, "gtol": 1e-8, "maxiter": maxiter},
    )
    if not res.success:
        # A failed line search (status 2, "ABNORMAL") at a point where nothing is left to
        # gain is a converged fit; anywhere else (or hitting maxiter) it is a failure.
        grad = float(np.abs(projected_gradient(res.jac, res.x)).max())
        if not (res.status == 2 and np.isfinite(res.fun) and grad < GRADIENT_TOLERANCE):
            raise RuntimeError(
                f"optimisation failed: {res.message} after {res.nit} iterations, largest "
                f"projected gradient {grad:.3g} (accepted below {GRADIENT_TOLERANCE:g})"
            )
    return dict(zip(names, np.exp(res.x), strict=True)), res


def _groups(x):
    """Distinct x values, inverse index and counts: x-only terms are computed once per x."""
    ux, inv = np.unique(x, return_inverse=True)
    return ux, inv, np.bincount(inv, minlength=len(ux)).astype(float)


def _log_rate_terms(r, alpha, ux):
    """log[Gamma(r + x) / Gamma(r) / alpha^x] and its derivative in r, per distinct x.

    As sums over k < x of log((r + k) / alpha) and 1 / (r + k) when every x is a whole
    number: each term is small whatever r is. The textbook form, gammaln(r + x) - gammaln(r)
    + r log(alpha) - (r + x) log(alpha + T), subtracts numbers of size r log(alpha): ~7e4 when
    every buyer has about the same purchase rate (r and alpha in the thousands, see
    LOG_BOUND), which left the log-likelihood only ~1e-11 exact, too coarse for the line
    search near the optimum (a 100k-customer synthetic company failed with ABNORMAL)."""
    top = int(ux.max()) if len(ux) else 0
    if np.all(ux == np.round(ux)) and top <= 100_000:
        k = np.arange(top, dtype=float)
        log_terms = np.concatenate([[0.0], np.cumsum(np.log((r + k) / alpha))])
        inv_terms = np.concatenate([[0.0], np.cumsum(1.0 / (r + k))])
        idx = ux.astype(np.int64)
        return log_terms[idx], inv_terms[idx]
    return gammaln(r + ux) - gammaln(r) - ux * np.log(alpha), digamma(r + ux) - digamma(r)


@dataclass
class BGNBD:
    r: float = np.nan
    alpha: float = np.nan
    a: float = np.nan
    b: float = np.nan
    log_likelihood: float = np.nan  # total, at the MLE
    n_iter: int = 0
    hessian: np.ndarray | None = None  # of the mean NLL in log-parameters, at the MLE

    @staticmethod
    def _loglik(theta, x, t_x, T, grad=False, groups=None):
        """Summed log-likelihood (and gradient wrt log-params).

        Per customer: log[Gamma(r+x)/Gamma(r) alpha^-x] + log(B1 (1+T/alpha)^-(r+x) + B2
        (1+t_x/alpha)^-(r+x)), FHL 2005 eq. 6 with r log(alpha) moved inside the brackets so
        that no term grows with r and alpha (see _log_rate_terms)."""
        r, alpha, a, b = np.exp(theta)
        ux, inv, cnt = groups if groups is not None else _groups(x)
        pos = ux > 0
        xs = np.where(pos, ux, 1.0)  # safe x for the x>0 branch
        A, dA_r = _log_rate_terms(r, alpha, ux)
        B1 = betaln(a, b + ux) - betaln(a, b)
        B2 = np.where(pos, betaln(a + 1, b + xs - 1) - betaln(a, b), -np.inf)
        rx = (r + ux)[inv]
        l1 = np.log1p(T / alpha)
        l2 = np.log1p(t_x / alpha)
        t1 = B1[inv] - rx * l1
        t2 = B2[inv] - rx * l2
        m = np.logaddexp(t1, t2)
        ll = np.dot(cnt, A) + m.sum()
        if not grad:
            return ll
        w2 = np.exp(t2 - m)  # weight of the "dropped out" term
        w1 = 1.0 - w2
        # d/dlog r, d/dlog alpha of the data-dependent parts
        g_r = r * (np.dot(cnt, dA_r) - np.sum(w1 * l1 + w2 * l2))
        g_al = -np.dot(cnt, ux) + np.sum(rx * (w1 * T / (alpha + T) + w2 * t_x / (alpha + t_x)))
        # d/da, d/db of the beta-function terms (per distinct x, weighted by w sums)
        W1 = np.bincount(inv, weights=w1, minlength=len(ux))
        W2 = np.bincount(inv, weights=w2, minlength=len(ux))
        d_ab, d_b = digamma(a + b), digamma(b)
        da1 = d_ab - digamma(a + b + ux)
        db1 = digamma(b + ux) - digamma(a + b + ux) - d_b + d_ab
        da2 = np.where(pos, digamma(a + 1) - digamma(a + b + xs) - digamma(a) + d_ab, 0.0)
        db2 = np.where(pos, digamma(b + xs - 1) - digamma(a + b + xs) - d_b + d_ab, 0.0)
        g_a = np.dot(W1, da1) + np.dot(W2, da2)
        g_b = np.dot(W1, db1) + np.dot(W2, db2)
        return ll, np.array([g_r, g_al, g_a * a, g_b * b])  # chain rule: d/dlog p

    def fit(self, frequency, recency, T, x0=None):
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        n = len(x)
        if x0 is None:  # alpha starts near the mean inter-purchase time scale
            x0 = np.log([1.0, max(T.mean() / max(x.mean(), 1e-3), 1e-3), 1.0, 1.0])

        grp = _groups(x)

        def f(th):
            ll, g = self._loglik(th, x, t_x, T, grad=True, groups=grp)
            return -ll / n, -g / n

        p, res = _fit(f, x0, ["r", "alpha", "a", "b"])
        self.r, self.alpha, self.a, self.b = p["r"], p["alpha"], p["a"], p["b"]
        self.log_likelihood, self.n_iter = -res.fun * n, res.nit
        self.hessian = log_hessian(lambda th: f(th)[1], res.x)
        return self

    @property
    def params(self):
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def p_alive(self, frequency, recency, T):
        """P(customer still alive at T | x, t_x, T)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        r, al, a, b = self.r, self.alpha, self.a, self.b
        xs = np.maximum(x, 1.0)
        log_odds = np.log(a) - np.log(b + xs - 1) + (r + x) * (np.log(al + T) - np.log(al + t_x))
        return np.where(x > 0, 1.0 / (1.0 + np.exp(log_odds)), 1.0)

    def expected_purchases(self, t, frequency, recency, T):
        """E[Y(t) | x, t_x, T]: expected repeat purchases in (T, T + t] (FHL 2005, eq. 10)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        r, al, a, b = self.r, self.alpha, self.a, self.b
        z = t / (al + T + t)
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
        head = (a + b + x - 1) / (a - 1)
        tail = 1.0 - np.exp((r + x) * (np.log(al + T) - np.log(al + T + t))) * hyp
        return head * tail * self.p_alive(x, t_x, T)

    def expected_purchases_new(self, t):
        """E[X(t)] for a randomly chosen new customer (FHL 2005, eq. 9)."""
        r, al, a, b = self.r, self.alpha, self.a, self.b
        z = t / (al + t)
        return (a + b - 1) / (a - 1) * (1 - (al / (al + t)) ** r * hyp2f1(r, b, a + b - 1, z))


@dataclass
class NBD:
    """BG/NBD without dropout (Ehrenberg's NBD): purchases are Poisson with a gamma(r, alpha)
    distributed rate, for ever. The fallback when BG/NBD's dropout part is not identified."""

    r: float = np.nan
    alpha: float = np.nan
    log_likelihood: float = np.nan

    @staticmethod
    def _loglik(theta, x, T):
        """Summed log-likelihood (terms free of r and alpha dropped) and its gradient, in the
        same cancellation-free form as BG/NBD's."""
        r, alpha = np.exp(theta)
        ux, inv, cnt = _groups(x)
        A, dA_r = _log_rate_terms(r, alpha, ux)
        rx = (r + ux)[inv]
        lT = np.log1p(T / alpha)
        ll = np.dot(cnt, A) - np.sum(rx * lT)
        g_r = r * (np.dot(cnt, dA_r) - np.sum(lT))
        g_al = -np.dot(cnt, ux) + np.sum(rx * T / (alpha + T))
        return ll, np.array([g_r, g_al])

    def fit(self, frequency, T):
        x, T = np.asarray(frequency, dtype=float), np.asarray(T, dtype=float)
        n = len(x)
        x0 = np.log([1.0, max(T.mean() / max(x.mean(), 1e-3), 1e-3)])

        def f(th):
            ll, g = self._loglik(th, x, T)
            return -ll / n, -g / n

        p, res = _fit(f, x0, ["r", "alpha"])
        self.r, self.alpha, self.log_likelihood = p["r"], p["alpha"], -res.fun * n
        return self

    @property
    def params(self):
        return {"r": self.r, "alpha": self.alpha}

    def expected_purchases(self, t, frequency, T):
        """E[Y(t) | x, T]: the posterior mean rate (r + x) / (alpha + T) times t."""
        x, T = np.asarray(frequency, dtype=float), np.asarray(T, dtype=float)
        return (self.r + x) / (self.alpha + T) * t


@dataclass
class GammaGamma:
    p: float = np.nan
    q: float = np.nan
    v: float = np.nan  # gamma in the Fader-Hardie note
    log_likelihood: float = np.nan
    n_iter: int = 0

    @staticmethod
    def _loglik(theta, x, m, grad=False):
        p, q, v = np.exp(theta)
        px = p * x
        lg = np.log(v + x * m)
        ll = np.sum(
            gammaln(px + q)
            - gammaln(px)
            - gammaln(q)
            + q * np.log(v)
            + px * np.log(x)
            + (px - 1) * np.log(m)
            - (px + q) * lg
        )
        if not grad:
            return ll
        d = digamma(px + q)
        g_p = np.sum(x * (d - digamma(px) + np.log(x) + np.log(m) - lg))
        g_q = np.sum(d - digamma(q) + np.log(v) - lg)
        g_v = np.sum(q / v - (px + q) / (v + x * m))
        return ll, np.array([g_p * p, g_q * q, g_v * v])

    def fit(self, frequency, monetary_value, x0=None):
        x, m = np.asarray(frequency, dtype=float), np.asarray(monetary_value, dtype=float)
        keep = (x > 0) & (m > 0)
        x, m = x[keep], m[keep]
        n = len(x)
        if x0 is None:
            x0 = np.log([1.0, 1.0, max(m.mean(), 1e-3)])

        def f(th):
            ll, g = self._loglik(th, x, m, grad=True)
            return -ll / n, -g / n

        par, res = _fit(f, x0, ["p", "q", "v"])
        self.p, self.q, self.v = par["p"], par["q"], par["v"]
        self.log_likelihood, self.n_iter = -res.fun * n, res.nit
        return self

    @property
    def params(self):
        return {"p": self.p, "q": self.q, "v": self.v}

    def conditional_expected_average_profit(self, frequency, monetary_value):
        """E[M | p, q, v, x, m] (population mean p*v/(q-1) for x == 0)."""
        x, m = np.asarray(frequency, dtype=float), np.asarray(monetary_value, dtype=float)
        p, q, v = self.p, self.q, self.v
        return (v + x * m) * p / (p * x + q - 1)
