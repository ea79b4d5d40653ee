"""Customer lifetime value: the two definitions the scoreboard shows (issue 5).

Pure numerics (numpy, scipy, pandas); no Django models, so the nightly job, the on-demand endpoint
and the tests all call the same functions.

* **Simple CLV** for subscription revenue: ``ARPA x gross margin / churn rate``
  (:func:`clv_simple`).
* **Probabilistic CLV** for repeat purchases: the BG/NBD model of Fader, Hardie & Lee (2005a,
  "Counting your customers the easy way", Marketing Science 24(2)) for *how many* purchases a
  customer will make, and the Gamma-Gamma model (Colombo & Jiang 1999; Fader, Hardie & Lee 2005b,
  "RFM and CLV", JMR 42(4); Fader & Hardie 2013, "The Gamma-Gamma model of monetary value") for
  *how much* each one is worth, both fitted by maximum likelihood (:func:`fit_bgnbd`,
  :func:`fit_gamma_gamma`, :func:`clv_probabilistic`).

Per-customer inputs are the RFM sufficient statistics, all in one time unit (weeks by default, as in
the papers) measured from the customer's first purchase:

* ``x``: repeat purchases in the calibration period (purchase *days* after the first; purchases on
  the same day are one transaction);
* ``t_x``: time of the last purchase (0 when ``x == 0``);
* ``T``: time from the first purchase to the end of the calibration period;
* ``zbar``: mean value of the ``x`` repeat transactions (0 when ``x == 0``; the first purchase is
  left out, as in the papers, because it is the one that made them a customer).

:func:`rfm_summary` builds them from raw transactions.

Empty or degenerate inputs never reach scipy: they raise :class:`InsufficientData` (a
``ValueError``), which callers show as "no data". Malformed inputs (negative counts, ``t_x > T``,
NaN) raise a plain ``ValueError`` naming the problem.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

__all__ = [
    "BgNbdFit",
    "GammaGammaFit",
    "InsufficientData",
    "clv_probabilistic",
    "clv_simple",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "rfm_summary",
]

# Optimizing over log-parameters keeps every parameter positive without constraints. A fitted value
# this close to the box means the likelihood kept improving towards 0 or infinity: the data cannot
# identify the model (one customer, nobody repeating, everybody identical), which is "no data".
_LOG_BOUND = 18.0
_LOG_EDGE = _LOG_BOUND - 1.0


class InsufficientData(ValueError):
    """The data cannot support this estimate; the caller reports "no data"."""


# --------------------------------------------------------------------------------------------------
# RFM summary from raw transactions


def rfm_summary(
    transactions: pd.DataFrame,
    calibration_end: Any,
    *,
    customer: str = "customer",
    date: str = "date",
    amount: str = "amount",
    period_days: float = 7.0,
) -> pd.DataFrame:
    """Per-customer ``x, t_x, T, zbar`` for the calibration period ending on ``calibration_end``.

    Definitions (those of the BG/NBD and Gamma-Gamma papers' CDNOW data):

    * only transactions dated on or before ``calibration_end`` (inclusive) count; customers whose
      first purchase is after it are not in the result;
    * all purchases by one customer on one calendar day are one transaction whose value is their
      sum;
    * the customer's first transaction day is time 0; ``x`` is the number of later transaction
      days, ``t_x`` the time of the last one, ``T = calibration_end - first day``, all in units of
      ``period_days`` days (7: weeks);
    * ``zbar`` is the mean value of the ``x`` repeat transactions, 0 when ``x == 0``.

    Returns a DataFrame indexed by customer (sorted) with columns ``x`` (int), ``t_x``, ``T``,
    ``zbar``; empty (same columns) when no transaction falls in the period.
    """
    missing = {customer, date, amount} - set(transactions.columns)
    if missing:
        raise ValueError(f"transactions lack column(s): {', '.join(sorted(missing))}")
    if not period_days > 0:
        raise ValueError("period_days must be positive")
    end = pd.Timestamp(calibration_end).normalize()

    frame = pd.DataFrame(
        {
            "customer": transactions[customer].to_numpy(),
            "day": pd.to_datetime(transactions[date]).dt.normalize().to_numpy(),
            "amount": pd.to_numeric(transactions[amount]).to_numpy(dtype=float),
        }
    )
    if frame["day"].isna().any() or frame["customer"].isna().any():
        raise ValueError("transactions have a missing customer or date")
    if not np.isfinite(frame["amount"]).all():
        raise ValueError("transactions have a missing or non-finite amount")
    frame = frame[frame["day"] <= end]
    columns = ["x", "t_x", "T", "zbar"]
    if frame.empty:
        return pd.DataFrame(
            {"x": pd.Series(dtype="int64"), **{c: pd.Series(dtype=float) for c in columns[1:]}}
        ).rename_axis(customer)

    # Same-day purchases merge into one transaction.
    daily = frame.groupby(["customer", "day"], sort=True, as_index=False)["amount"].sum()
    grouped = daily.groupby("customer", sort=True)
    first = grouped["day"].transform("min")
    daily["repeat"] = daily["day"] > first
    per = grouped.agg(first=("day", "min"), last=("day", "max"), days=("day", "size"))
    repeat_spend = daily.loc[daily["repeat"]].groupby("customer")["amount"].sum()

    x = (per["days"] - 1).astype("int64")
    unit = pd.Timedelta(days=1) * period_days
    out = pd.DataFrame(
        {
            "x": x,
            "t_x": (per["last"] - per["first"]) / unit,
            "T": (end - per["first"]) / unit,
            "zbar": (repeat_spend.reindex(per.index, fill_value=0.0) / x.where(x > 0)).fillna(0.0),
        },
        index=per.index,
    )
    return out.rename_axis(customer)


# --------------------------------------------------------------------------------------------------
# Input checks shared by the models


def _as_float_array(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be one-dimensional")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has missing or non-finite values")
    return arr


def _rfm_arrays(x: Any, t_x: Any, T: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated, broadcast (x, t_x, T) arrays; raises ValueError naming the bad input."""
    x_arr, tx_arr, T_arr = np.broadcast_arrays(
        _as_float_array("x", x), _as_float_array("t_x", t_x), _as_float_array("T", T)
    )
    if (x_arr < 0).any() or (x_arr != np.floor(x_arr)).any():
        raise ValueError("x (repeat purchases) must be whole numbers >= 0")
    if (tx_arr < 0).any() or (T_arr < 0).any():
        raise ValueError("t_x and T must be >= 0")
    # Summaries rounded to 2 decimals can put t_x a hair past T; anything more is a data error.
    if (tx_arr > T_arr + 1e-6 * np.maximum(1.0, T_arr)).any():
        raise ValueError("t_x (time of last purchase) cannot exceed T (time observed)")
    return x_arr, tx_arr, T_arr


def _scalar_or_array(values: np.ndarray, *inputs: Any) -> float | np.ndarray:
    if all(np.ndim(v) == 0 for v in inputs):
        return float(values.reshape(-1)[0]) if values.size else float("nan")
    return values


def _maximize(
    neg_ll: Callable[[np.ndarray], tuple[float, np.ndarray]],
    starts: Sequence[Sequence[float]],
    n: float,
    what: str,
) -> tuple[np.ndarray, float]:
    """Minimize ``neg_ll`` (value and analytic gradient) over log-parameters with L-BFGS-B from
    each start, keeping the best.

    The optimizer sees the mean per customer (``neg_ll / n``), so its tolerances mean the same for
    100 customers and for a million. Returns (log-parameters, maximized log-likelihood). Raises
    InsufficientData when no start gives a finite likelihood or the optimum sits on the edge of the
    box (not identifiable).
    """
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(starts[0])

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = neg_ll(np.clip(theta, -_LOG_BOUND, _LOG_BOUND))
        if not (np.isfinite(value) and np.isfinite(grad).all()):
            # Outside the usable region: a huge value makes the line search back off.
            return 1e300, np.zeros_like(theta)
        return value / n, grad / n

    best: optimize.OptimizeResult | None = None
    with np.errstate(all="ignore"):
        for start in starts:
            result = optimize.minimize(
                objective,
                np.asarray(start, dtype=float),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-11},
            )
            if best is None or result.fun < best.fun:
                best = result
    assert best is not None
    if not best.fun < 1e299:
        raise InsufficientData(f"{what}: the likelihood is not finite for this data")
    if (np.abs(best.x) >= _LOG_EDGE).any():
        raise InsufficientData(
            f"{what}: the maximum-likelihood estimate runs off to 0 or infinity; "
            "the data cannot identify the model"
        )
    return best.x, -float(best.fun) * n


def _unique_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of the stacked columns and their multiplicities: the likelihood is evaluated
    once per distinct (x, t_x, T) and weighted, which is what keeps large bases cheap."""
    stacked = np.column_stack(columns)
    uniq, counts = np.unique(stacked, axis=0, return_counts=True)
    return [uniq[:, i] for i in range(uniq.shape[1])], counts.astype(float)


# --------------------------------------------------------------------------------------------------
# BG/NBD


def _bgnbd_loglik(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer log-likelihood and its gradient in (log r, log alpha, log a, log b).

    Fader, Hardie & Lee (2005a) eq. 6, in logs, ``l = A + log(exp(B) + [x > 0] exp(C))``:

        A = log G(r+x) - log G(r) + r log alpha
        B = log B(a, b+x) - log B(a, b) - (r+x) log(alpha+T)        (still alive at T)
        C = log B(a+1, b+x-1) - log B(a, b) - (r+x) log(alpha+t_x)  (dropped out after t_x)

    Returns (values of shape (n,), gradient of shape (4, n)).
    """
    psi = special.digamma
    repeat = x > 0
    # For x = 0 the C term is absent; evaluate it at x = 1 so b + x - 1 stays positive.
    x_safe = np.where(repeat, x, 1.0)
    log_aT, log_atx = np.log(alpha + T), np.log(alpha + t_x)
    beta_ab = special.betaln(a, b)
    A = special.gammaln(r + x) - special.gammaln(r) + r * math.log(alpha)
    B = special.betaln(a, b + x) - beta_ab - (r + x) * log_aT
    C = np.where(
        repeat, special.betaln(a + 1.0, b + x_safe - 1.0) - beta_ab - (r + x) * log_atx, -np.inf
    )
    values = A + np.logaddexp(B, C)

    w_c = np.where(repeat, special.expit(C - B), 0.0)  # posterior weight of "dropped out"
    w_b = 1.0 - w_c
    d_r = psi(r + x) - psi(r) + math.log(alpha) - w_b * log_aT - w_c * log_atx
    d_alpha = r / alpha - (r + x) * (w_b / (alpha + T) + w_c / (alpha + t_x))
    psi_ab, psi_abx = psi(a + b), psi(a + b + x)
    d_a = w_b * (psi_ab - psi_abx) + w_c * (psi(a + 1.0) - psi(a) + psi_ab - psi_abx)
    d_b = psi_ab - psi_abx - psi(b) + w_b * psi(b + x) + w_c * psi(b + x_safe - 1.0)
    grad = np.stack([r * d_r, alpha * d_alpha, a * d_a, b * d_b])
    return values, grad


@dataclass(frozen=True)
class BgNbdFit:
    """Fitted BG/NBD model (Fader, Hardie & Lee 2005a). Time is in the unit of the fitted data.

    r, alpha: gamma heterogeneity of the purchase rate (shape, scale); a, b: beta heterogeneity of
    the probability of dropping out after each purchase.
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int

    def expected_purchases(self, t: Any) -> float | np.ndarray:
        """E[X(t)]: expected purchases in (0, t] for a customer just acquired (eq. 9)."""
        t_arr = _as_float_array("t", t)
        if (t_arr < 0).any():
            raise ValueError("t must be >= 0")
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t_arr / (alpha + t_arr)
        value = (
            (a + b - 1.0)
            / (a - 1.0)
            * (1.0 - (alpha / (alpha + t_arr)) ** r * special.hyp2f1(r, b, a + b - 1.0, z))
        )
        return _scalar_or_array(value, t)

    def p_alive(self, x: Any, t_x: Any, T: Any) -> float | np.ndarray:
        """P(alive | x, t_x, T) (eq. 11); 1 for customers who have not repeated (x = 0)."""
        x_arr, tx_arr, T_arr = _rfm_arrays(x, t_x, T)
        return _scalar_or_array(self._p_alive(x_arr, tx_arr, T_arr), x, t_x, T)

    def conditional_expected_purchases(
        self, t: Any, x: Any, t_x: Any, T: Any
    ) -> float | np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next t periods (eq. 10).

        (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x)
                               * 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))] * P(alive)
        ``t`` broadcasts against the customers (e.g. ``t[:, None]`` for a time grid).
        """
        x_arr, tx_arr, T_arr = _rfm_arrays(x, t_x, T)
        t_arr = np.asarray(t, dtype=float)
        if not np.isfinite(t_arr).all() or (t_arr < 0).any():
            raise ValueError("t must be finite and >= 0")
        value = self._conditional(t_arr, x_arr, tx_arr, T_arr)
        return _scalar_or_array(np.asarray(value), t, x, t_x, T)

    def _p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        # 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)), in logs so large x cannot
        # overflow the power.
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x_safe = np.where(x > 0, x, 1.0)
        log_odds_dead = (
            math.log(a)
            - np.log(b + x_safe - 1.0)
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        return np.where(x > 0, special.expit(-log_odds_dead), 1.0)

    def _conditional(
        self, t: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        horizon = alpha + T + t
        z = t / horizon
        survive = np.exp((r + x) * (np.log(alpha + T) - np.log(horizon)))
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1.0, z)
        expected_if_alive = (a + b + x - 1.0) / (a - 1.0) * (1.0 - survive * hyp)
        return expected_if_alive * self._p_alive(x, t_x, T)


def fit_bgnbd(x: Any, t_x: Any, T: Any) -> BgNbdFit:
    """Maximum-likelihood BG/NBD fit on per-customer (x, t_x, T).

    Raises InsufficientData when there are no customers, nobody made a repeat purchase (a and b
    are then not identified and r runs to 0), or the optimum is otherwise degenerate (for example
    a single customer).
    """
    x_arr, tx_arr, T_arr = _rfm_arrays(x, t_x, T)
    n = int(x_arr.size)
    if n == 0:
        raise InsufficientData("BG/NBD: no customers")
    if not (x_arr > 0).any():
        raise InsufficientData("BG/NBD: no customer made a repeat purchase")
    (ux, utx, uT), weights = _unique_rows(x_arr, tx_arr, T_arr)

    def neg_ll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(theta)
        values, grad = _bgnbd_loglik(r, alpha, a, b, ux, utx, uT)
        return -float(weights @ values), -(grad @ weights)

    # Starts: the unit point used by most implementations, plus one scaled to the data (alpha near
    # the mean observation time, so r/alpha is the observed repeat rate) in case the first stalls.
    mean_T = max(float(T_arr.mean()), 1e-6)
    rate = max(float(x_arr.sum() / max(T_arr.sum(), 1e-12)), 1e-6)
    starts = [
        [0.0, 0.0, 0.0, 0.0],
        [math.log(rate * mean_T), math.log(mean_T), 0.0, math.log(2.0)],
    ]
    theta, ll = _maximize(neg_ll, starts, n, "BG/NBD")
    r, alpha, a, b = (float(v) for v in np.exp(theta))
    return BgNbdFit(r=r, alpha=alpha, a=a, b=b, log_likelihood=ll, n_customers=n)


# --------------------------------------------------------------------------------------------------
# Gamma-Gamma


@dataclass(frozen=True)
class GammaGammaFit:
    """Fitted Gamma-Gamma spend model (Fader & Hardie 2013 notation).

    A customer's transaction values are gamma(p, nu); nu varies across customers as gamma(q, gamma).
    """

    p: float
    q: float
    gamma: float
    log_likelihood: float
    n_customers: int

    @property
    def mean_spend(self) -> float:
        """Population mean transaction value p * gamma / (q - 1); infinite when q <= 1."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else math.inf

    def conditional_expected_spend(self, x: Any, zbar: Any) -> float | np.ndarray:
        """E[M | x, zbar] = (gamma + x zbar) p / (p x + q - 1).

        A weighted average of the population mean and the customer's own mean, moving towards the
        latter as x grows; x = 0 (zbar ignored) gives the population mean. Needs q > 1.
        """
        if not self.q > 1.0:
            raise ValueError("Gamma-Gamma: q <= 1 means the mean spend is infinite")
        x_arr, z_arr = np.broadcast_arrays(_as_float_array("x", x), _as_float_array("zbar", zbar))
        if (x_arr < 0).any() or (z_arr < 0).any():
            raise ValueError("x and zbar must be >= 0")
        z_arr = np.where(x_arr > 0, z_arr, 0.0)
        value = (self.gamma + x_arr * z_arr) * self.p / (self.p * x_arr + self.q - 1.0)
        return _scalar_or_array(value, x, zbar)


def _gamma_gamma_loglik(
    p: float, q: float, gamma: float, x: np.ndarray, zbar: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer log density of zbar given x (Fader & Hardie 2013, eq. 5) and its gradient in
    (log p, log q, log gamma):

    G(px+q) / (G(px) G(q)) * gamma^q x^(px) zbar^(px-1) / (gamma + x zbar)^(px+q)
    """
    psi = special.digamma
    px = p * x
    log_x, log_z, log_spent = np.log(x), np.log(zbar), np.log(gamma + x * zbar)
    values = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * math.log(gamma)
        + px * log_x
        + (px - 1.0) * log_z
        - (px + q) * log_spent
    )
    psi_pxq = psi(px + q)
    d_p = x * (psi_pxq - psi(px) + log_x + log_z - log_spent)
    d_q = psi_pxq - psi(q) + math.log(gamma) - log_spent
    d_gamma = q / gamma - (px + q) / (gamma + x * zbar)
    return values, np.stack([p * d_p, q * d_q, gamma * d_gamma])


def fit_gamma_gamma(x: Any, zbar: Any) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma fit on the customers with x > 0 repeat purchases.

    Rows with x = 0 are left out (they have no repeat transactions to average), so a whole
    customer base can be passed. Repeat customers must have zbar > 0 (refund-only averages are a
    data problem to fix upstream). Raises InsufficientData when no customer repeated or the optimum
    is degenerate (for example one repeat customer, or all with identical spend).
    """
    x_arr, z_arr = np.broadcast_arrays(_as_float_array("x", x), _as_float_array("zbar", zbar))
    if (x_arr < 0).any() or (x_arr != np.floor(x_arr)).any():
        raise ValueError("x (repeat purchases) must be whole numbers >= 0")
    repeat = x_arr > 0
    x_arr, z_arr = x_arr[repeat], z_arr[repeat]
    if x_arr.size == 0:
        raise InsufficientData("Gamma-Gamma: no customer made a repeat purchase")
    if (z_arr <= 0).any():
        raise ValueError("Gamma-Gamma: repeat customers need a positive mean spend (zbar > 0)")
    (ux, uz), weights = _unique_rows(x_arr, z_arr)

    def neg_ll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, gamma = np.exp(theta)
        values, grad = _gamma_gamma_loglik(p, q, gamma, ux, uz)
        return -float(weights @ values), -(grad @ weights)

    # Starts: the unit point, and one matching the mean spend with moderate heterogeneity.
    mean_z = float(np.average(z_arr, weights=x_arr))
    starts = [[0.0, 0.0, 0.0], [math.log(2.0), math.log(3.0), math.log(mean_z)]]
    theta, ll = _maximize(neg_ll, starts, float(x_arr.size), "Gamma-Gamma")
    p, q, gamma = (float(v) for v in np.exp(theta))
    return GammaGammaFit(p=p, q=q, gamma=gamma, log_likelihood=ll, n_customers=int(x_arr.size))


# --------------------------------------------------------------------------------------------------
# CLV


def clv_probabilistic(
    bgnbd: BgNbdFit,
    gg: GammaGammaFit,
    customers: pd.DataFrame,
    horizon_periods: int,
    margin: float,
    discount_rate: float,
    *,
    period_length: float = 1.0,
) -> pd.Series:
    """Expected discounted margin over the next ``horizon_periods`` periods, per customer.

    Discounting: the horizon is cut into ``horizon_periods`` periods of ``period_length`` model
    time units (default 1: the unit the models were fitted in, e.g. weeks). Purchases expected in
    period k are ``E[Y(k L)] - E[Y((k-1) L)]`` (BG/NBD conditional expectation, L the period
    length), they are valued at the Gamma-Gamma conditional expected spend, and discounted as if
    they happened at the end of the period:

        CLV = margin * E[M | x, zbar] * sum_k (E[Y(kL)] - E[Y((k-1)L)]) / (1 + d)^k

    with ``d = discount_rate`` per period. ``d = 0`` gives the undiscounted
    ``margin * E[M] * E[Y(H L)]``. Spend and purchase count are taken as independent, which is the
    Gamma-Gamma model's assumption.

    ``customers`` has columns ``x, t_x, T, zbar`` (as from :func:`rfm_summary`); the result is a
    Series named ``clv`` on the same index, in the currency of ``zbar``.
    """
    if isinstance(horizon_periods, bool) or int(horizon_periods) != horizon_periods:
        raise ValueError("horizon_periods must be a whole number")
    horizon = int(horizon_periods)
    if horizon < 1:
        raise ValueError("horizon_periods must be >= 1")
    if not (math.isfinite(period_length) and period_length > 0):
        raise ValueError("period_length must be positive")
    if not (math.isfinite(margin) and 0.0 <= margin <= 1.0):
        raise ValueError("margin must be a fraction between 0 and 1")
    if not (math.isfinite(discount_rate) and discount_rate > -1.0):
        raise ValueError("discount_rate must be greater than -1")
    missing = {"x", "t_x", "T", "zbar"} - set(customers.columns)
    if missing:
        raise ValueError(f"customers lack column(s): {', '.join(sorted(missing))}")
    if customers.empty:
        return pd.Series(dtype=float, index=customers.index, name="clv")

    x, t_x, T = _rfm_arrays(customers["x"], customers["t_x"], customers["T"])
    spend = np.asarray(gg.conditional_expected_spend(x, customers["zbar"].to_numpy(dtype=float)))
    # One row per period end, one column per customer: cumulative expected purchases.
    ends = np.arange(horizon + 1, dtype=float)[:, None] * period_length
    cumulative = bgnbd._conditional(ends, x[None, :], t_x[None, :], T[None, :])
    per_period = np.diff(cumulative, axis=0)
    factors = (1.0 + discount_rate) ** -np.arange(1, horizon + 1, dtype=float)
    transactions = factors @ per_period
    return pd.Series(margin * spend * transactions, index=customers.index, name="clv")


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        value = float(value)
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    return out if math.isfinite(out) else None


def clv_simple(arpa: Any, gross_margin: Any, churn_rate: Any) -> float | None:
    """Subscription CLV = ARPA x gross margin / churn rate.

    ``arpa`` is average revenue per account per period, ``churn_rate`` the fraction of accounts
    lost per the same period, ``gross_margin`` a fraction (0.8 for 80%). Returns None ("no data")
    when any input is missing/NaN or churn is 0 (no churn observed: the formula would be infinite,
    and showing infinity or 0 would both be wrong). Negative inputs or a margin above 1 raise
    ValueError. Decimals are accepted; the result is a float in ARPA's currency.
    """
    arpa_f, margin_f, churn_f = _number(arpa), _number(gross_margin), _number(churn_rate)
    if arpa_f is None or margin_f is None or churn_f is None or churn_f == 0.0:
        return None
    if arpa_f < 0 or churn_f < 0:
        raise ValueError("ARPA and churn rate cannot be negative")
    if not 0.0 <= margin_f <= 1.0:
        raise ValueError("gross margin must be a fraction between 0 and 1")
    if churn_f > 1.0:
        raise ValueError("churn rate is a fraction of accounts per period (at most 1)")
    return arpa_f * margin_f / churn_f
