"""CLV models on the CDNOW data of Fader, Hardie & Lee (2005), and their edge cases.

Pure numerics: no database. The data are Bruce Hardie's CDNOW 1/10 sample as shipped in the
Lifetimes wheel (see ../shared/data/cdnow/PROVENANCE.txt). The published figures are the papers';
the per-customer statistics are derived here from the raw transactions with plain pandas and
checked against both the distributed summary files and the product's own `rfm_summary`.
"""

import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from metrics import clv

CDNOW = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cdnow"
CALIBRATION_END = pd.Timestamp("1997-09-30")  # 39 weeks after the cohort's 1997-01-01 start

# Fader, Hardie & Lee (2005), Marketing Science 24(2), section 5: BG/NBD on the CDNOW sample.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_BGNBD_LL = -9582.4
# Same paper: expected purchases in weeks 40-78 for customer x = 2, t_x = 30.43, T = 38.86.
PUBLISHED_CONDITIONAL = 1.226
# Fader, Hardie & Lee (2005), JMR 42(4) / Fader & Hardie (2013) note: Gamma-Gamma on CDNOW.
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
PUBLISHED_REPEAT_CUSTOMERS = 946


def assert_sig3(fitted: float, published: float) -> None:
    """fitted agrees with published to 3 significant digits (within half a unit of the third)."""
    half_unit = 0.5 * 10 ** (math.floor(math.log10(abs(published))) - 2)
    assert abs(fitted - published) <= half_unit, (fitted, published)


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return pd.read_csv(CDNOW / "cdnow_customers_summary.csv")


@pytest.fixture(scope="module")
def summary_spend() -> pd.DataFrame:
    return pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv")


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    """CDNOW_sample.txt: master id, sample id (1..2357), YYYYMMDD, number of CDs, dollar value."""
    frame = pd.read_csv(
        CDNOW / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "sample_id", "date", "cds", "dollars"],
        dtype={"date": str},
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


@pytest.fixture(scope="module")
def independent(raw: pd.DataFrame) -> pd.DataFrame:
    """x, t_x, T, zbar derived straight from the transactions, per PROVENANCE.txt's definitions."""
    cal = raw[raw["date"] <= CALIBRATION_END]
    days = cal.groupby(["sample_id", "date"])["dollars"].sum().reset_index()  # same day = one
    days = days.sort_values(["sample_id", "date"])
    days["n"] = days.groupby("sample_id").cumcount()  # 0 = first purchase, 1.. = repeats
    first = days[days["n"] == 0].set_index("sample_id")["date"]
    repeats = days[days["n"] > 0]
    last_repeat = repeats.groupby("sample_id")["date"].max()
    out = pd.DataFrame(index=first.index)
    out["x"] = repeats.groupby("sample_id").size().reindex(out.index, fill_value=0)
    out["t_x"] = ((last_repeat - first).dt.days / 7).fillna(0.0)  # no repeat: t_x = 0
    out["T"] = (CALIBRATION_END - first).dt.days / 7
    out["zbar"] = repeats.groupby("sample_id")["dollars"].mean().reindex(out.index, fill_value=0.0)
    return out


@pytest.fixture(scope="module")
def bgnbd(summary: pd.DataFrame) -> clv.BgNbdFit:
    return clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])


@pytest.fixture(scope="module")
def gamma_gamma(summary_spend: pd.DataFrame) -> clv.GammaGammaFit:
    repeat = summary_spend[summary_spend["x"] > 0]
    return clv.fit_gamma_gamma(repeat["x"], repeat["zbar"])


# ---- published estimates -------------------------------------------------------------------------


def test_bgnbd_reproduces_published_estimates(bgnbd: clv.BgNbdFit) -> None:
    assert bgnbd.n_customers == 2357
    for name, published in PUBLISHED_BGNBD.items():
        assert_sig3(getattr(bgnbd, name), published)
    assert bgnbd.log_likelihood == pytest.approx(PUBLISHED_BGNBD_LL, abs=0.05)


def test_bgnbd_conditional_expectation_of_published_customer(bgnbd: clv.BgNbdFit) -> None:
    expected = bgnbd.conditional_expected_purchases(39, 2, 30.43, 38.86)
    assert isinstance(expected, float)
    assert expected == pytest.approx(PUBLISHED_CONDITIONAL, abs=5e-4)
    # Longer horizons can only add purchases.
    assert bgnbd.conditional_expected_purchases(78, 2, 30.43, 38.86) > expected


def test_bgnbd_new_customer_expectation_is_conditional_with_no_history(
    bgnbd: clv.BgNbdFit,
) -> None:
    # Eq. 10 with x = t_x = T = 0 collapses to eq. 9: two code paths, one number.
    t = np.array([1.0, 13.0, 39.0, 78.0])
    unconditional = bgnbd.expected_purchases(t)
    conditional = bgnbd.conditional_expected_purchases(t, np.zeros(4), np.zeros(4), np.zeros(4))
    np.testing.assert_allclose(conditional, unconditional, rtol=1e-10)
    assert np.all(np.diff(unconditional) > 0)
    assert bgnbd.expected_purchases(0) == 0.0


def test_bgnbd_p_alive(bgnbd: clv.BgNbdFit, summary: pd.DataFrame) -> None:
    alive = bgnbd.p_alive(summary["frequency"], summary["recency"], summary["T"])
    assert alive.shape == (2357,)
    assert np.all((alive > 0) & (alive <= 1))
    assert np.all(alive[summary["frequency"].to_numpy() == 0] == 1.0)
    # Same frequency, more recent last purchase: more likely alive.
    assert bgnbd.p_alive(3, 35.0, 38.86) > bgnbd.p_alive(3, 5.0, 38.86)
    # A very frequent customer long silent: the power term would overflow without logs.
    assert 0.0 <= bgnbd.p_alive(5000, 1.0, 38.86) < 1e-12


def test_gamma_gamma_reproduces_published_estimates(
    gamma_gamma: clv.GammaGammaFit, summary_spend: pd.DataFrame
) -> None:
    assert (summary_spend["x"] > 0).sum() == PUBLISHED_REPEAT_CUSTOMERS
    assert gamma_gamma.n_customers == PUBLISHED_REPEAT_CUSTOMERS
    for name, published in PUBLISHED_GG.items():
        assert_sig3(getattr(gamma_gamma, name), published)


def test_gamma_gamma_conditional_spend(gamma_gamma: clv.GammaGammaFit) -> None:
    g = gamma_gamma
    # No repeat history: the population mean p * gamma / (q - 1).
    assert g.conditional_expected_spend(0, 0.0) == pytest.approx(g.p * g.gamma / (g.q - 1))
    assert g.conditional_expected_spend(0, 0.0) == pytest.approx(g.mean_spend)
    # Otherwise a weighted average of that mean and the customer's own, which wins as x grows.
    few, many = g.conditional_expected_spend([1, 1000], [100.0, 100.0])
    assert g.mean_spend < few < many < 100.0
    assert many == pytest.approx(100.0, rel=1e-3)


# ---- the formulas against simulation -------------------------------------------------------------


def simulate_bgnbd(rng, n, r, alpha, a, b, horizon):
    """BG/NBD customers as the model describes them (FHL 2005a, section 3), observed for T weeks
    after their first purchase and then for `horizon` more. Vectorized over customers; the loop
    runs over purchase rounds. Returns x, t_x, T, holdout purchases, alive at T."""
    lam = rng.gamma(r, 1 / alpha, n)  # purchase rate
    p = rng.beta(a, b, n)  # chance of dropping out right after each repeat purchase
    T = rng.uniform(4.0, 52.0, n)
    t, x, t_x, holdout = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    alive, alive_at_T = np.ones(n, dtype=bool), np.ones(n, dtype=bool)
    while alive.any():
        t = np.where(alive, t + rng.standard_exponential(n) / np.maximum(lam, 1e-300), t)
        in_calibration = alive & (t <= T)
        x += in_calibration
        t_x = np.where(in_calibration, t, t_x)
        holdout += alive & (t > T) & (t <= T + horizon)
        alive &= t <= T + horizon
        drop = alive & (rng.random(n) < p)
        alive_at_T &= ~(drop & in_calibration)
        alive &= ~drop
    return x, t_x, T, holdout, alive_at_T


def assert_unbiased(actual: np.ndarray, predicted: np.ndarray) -> None:
    """Mean of actual - predicted is within 4 standard errors of 0."""
    diff = actual - predicted
    if diff.std() == 0:
        assert diff.mean() == 0
        return
    assert abs(diff.mean()) < 4 * diff.std() / math.sqrt(diff.size), (diff.mean(), diff.std())


@pytest.mark.parametrize("params", [(0.5, 5.0, 2.0, 4.0), (1.2, 8.0, 0.6, 3.0)], ids=["a>1", "a<1"])
def test_bgnbd_predictions_and_fit_on_simulated_customers(params) -> None:
    rng = np.random.default_rng(2005)
    x, t_x, T, holdout, alive_at_T = simulate_bgnbd(rng, 10_000, *params, horizon=39.0)
    # With the true parameters, eq. 10 and eq. 11 are conditional means: on average over any group
    # of customers they equal what the customers then did.
    true = clv.BgNbdFit(*params, log_likelihood=math.nan, n_customers=0)
    expected = true.conditional_expected_purchases(39.0, x, t_x, T)
    alive = true.p_alive(x, t_x, T)
    for group in (x == 0, x == 1, (x >= 2) & (x <= 4), x >= 5):
        assert group.sum() > 300
        assert_unbiased(holdout[group], expected[group])
        assert_unbiased(alive_at_T[group].astype(float), alive[group])
    # Maximum likelihood recovers the parameters (standard errors at n = 10,000 are a few percent
    # for r and alpha, up to ~10% for a and b).
    fit = clv.fit_bgnbd(x, t_x, T)
    r, alpha, a, b = params
    assert fit.r == pytest.approx(r, rel=0.10)
    assert fit.alpha == pytest.approx(alpha, rel=0.10)
    assert fit.a == pytest.approx(a, rel=0.25)
    assert fit.b == pytest.approx(b, rel=0.25)


def test_gamma_gamma_predictions_and_fit_on_simulated_customers() -> None:
    rng = np.random.default_rng(1999)
    n, p, q, gamma = 20_000, 4.0, 5.0, 20.0
    x = rng.integers(1, 10, n).astype(float)
    nu = rng.gamma(q, 1 / gamma, n)  # each customer's rate; their true mean spend is p / nu
    zbar = rng.gamma(p * x, 1 / (x * nu))  # mean of x gamma(p, nu) transactions
    true = clv.GammaGammaFit(p=p, q=q, gamma=gamma, log_likelihood=math.nan, n_customers=0)
    predicted = true.conditional_expected_spend(x, zbar)
    for group in (x == 1, (x >= 2) & (x <= 4), x >= 5):
        assert_unbiased(p / nu[group], predicted[group])
    fit = clv.fit_gamma_gamma(x, zbar)
    assert fit.p == pytest.approx(p, rel=0.10)
    assert fit.q == pytest.approx(q, rel=0.10)
    assert fit.gamma == pytest.approx(gamma, rel=0.10)


def test_likelihood_gradients_match_finite_differences(
    summary: pd.DataFrame, summary_spend: pd.DataFrame
) -> None:
    # The optimizer trusts these analytic gradients; check them away from the optimum.
    x, t_x, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    theta = np.log([0.5, 3.0, 1.5, 0.8])
    _, grad = clv._bgnbd_loglik(*np.exp(theta), x, t_x, T)
    numeric = optimize.approx_fprime(
        theta, lambda th: clv._bgnbd_loglik(*np.exp(th), x, t_x, T)[0].sum(), 1e-7
    )
    np.testing.assert_allclose(grad.sum(axis=1), numeric, rtol=1e-4)

    repeat = summary_spend[summary_spend["x"] > 0]
    xs, zs = repeat["x"].to_numpy(dtype=float), repeat["zbar"].to_numpy(dtype=float)
    theta = np.log([2.0, 6.0, 40.0])
    _, grad = clv._gamma_gamma_loglik(*np.exp(theta), xs, zs)
    numeric = optimize.approx_fprime(
        theta, lambda th: clv._gamma_gamma_loglik(*np.exp(th), xs, zs)[0].sum(), 1e-7
    )
    np.testing.assert_allclose(grad.sum(axis=1), numeric, rtol=1e-4)


# ---- the data themselves, derived independently ------------------------------------------------


def test_raw_transactions_reproduce_the_summary_files(
    independent: pd.DataFrame, summary: pd.DataFrame, summary_spend: pd.DataFrame
) -> None:
    assert len(independent) == 2357
    by_id = summary.set_index("ID").loc[independent.index]
    spend = summary_spend.set_index("ID").loc[independent.index]
    assert (independent["x"].to_numpy() == by_id["frequency"].to_numpy()).all()
    assert (independent["x"].to_numpy() == spend["x"].to_numpy()).all()
    # The files carry 2 decimals.
    tol = 0.005 + 1e-9
    np.testing.assert_allclose(independent["t_x"], by_id["recency"], atol=tol, rtol=0)
    np.testing.assert_allclose(independent["T"], by_id["T"], atol=tol, rtol=0)
    np.testing.assert_allclose(independent["zbar"], spend["zbar"], atol=tol, rtol=0)
    assert (independent["x"] > 0).sum() == PUBLISHED_REPEAT_CUSTOMERS


def test_rfm_summary_matches_independent_derivation(
    raw: pd.DataFrame, independent: pd.DataFrame
) -> None:
    transactions = raw.rename(columns={"sample_id": "customer", "dollars": "amount"})
    product = clv.rfm_summary(transactions, CALIBRATION_END)
    assert list(product.columns) == ["x", "t_x", "T", "zbar"]
    assert product.index.name == "customer"
    assert product.index.equals(independent.index)
    assert product["x"].dtype == np.int64
    pd.testing.assert_frame_equal(
        product, independent.rename_axis("customer"), check_dtype=False, rtol=1e-12
    )


def test_models_fitted_on_product_summary_reproduce_published(raw: pd.DataFrame) -> None:
    transactions = raw.rename(columns={"sample_id": "customer", "dollars": "amount"})
    rfm = clv.rfm_summary(transactions, "1997-09-30")
    bgnbd = clv.fit_bgnbd(rfm["x"], rfm["t_x"], rfm["T"])
    for name, published in PUBLISHED_BGNBD.items():
        assert_sig3(getattr(bgnbd, name), published)
    gg = clv.fit_gamma_gamma(rfm["x"], rfm["zbar"])  # x = 0 rows are left out by the fitter
    assert gg.n_customers == PUBLISHED_REPEAT_CUSTOMERS
    for name, published in PUBLISHED_GG.items():
        assert_sig3(getattr(gg, name), published)


def test_rfm_summary_definitions_on_a_small_ledger() -> None:
    ledger = pd.DataFrame(
        {
            "customer": ["a", "a", "a", "a", "b", "c", "d"],
            "date": [
                "2024-01-01",
                "2024-01-01",  # same day as the first: merged into it, not a repeat
                "2024-01-15",
                "2024-03-01",  # after the calibration end: ignored
                "2024-01-08",
                "2024-02-20",  # c's first purchase is after the end: c is not a customer yet
                "2024-01-29",
            ],
            "amount": [10.0, 5.0, 30.0, 99.0, 7.0, 1.0, 2.0],
        }
    )
    rfm = clv.rfm_summary(ledger, pd.Timestamp("2024-01-29"))
    assert list(rfm.index) == ["a", "b", "d"]
    assert rfm.loc["a"].tolist() == [1, 2.0, 4.0, 30.0]
    assert rfm.loc["b"].tolist() == [0, 0.0, 3.0, 0.0]
    assert rfm.loc["d"].tolist() == [0, 0.0, 0.0, 0.0]  # acquired on the last day
    daily = clv.rfm_summary(ledger, "2024-01-29", period_days=1)
    assert daily.loc["a", "T"] == 28.0

    empty = clv.rfm_summary(ledger, "2023-12-31")
    assert empty.empty and list(empty.columns) == ["x", "t_x", "T", "zbar"]
    with pytest.raises(ValueError, match="lack column"):
        clv.rfm_summary(ledger.drop(columns="amount"), "2024-01-29")


# ---- CLV -----------------------------------------------------------------------------------------


def test_clv_probabilistic_discounting(
    bgnbd: clv.BgNbdFit, gamma_gamma: clv.GammaGammaFit, summary_spend: pd.DataFrame
) -> None:
    customers = summary_spend.set_index("ID")[["x", "t_x", "T", "zbar"]]
    undiscounted = clv.clv_probabilistic(bgnbd, gamma_gamma, customers, 52, 0.3, 0.0)
    assert undiscounted.index.equals(customers.index)
    assert undiscounted.name == "clv"
    # Without discounting the per-period sum telescopes to the whole-horizon expectation.
    whole = bgnbd.conditional_expected_purchases(
        52.0, customers["x"], customers["t_x"], customers["T"]
    )
    spend = gamma_gamma.conditional_expected_spend(customers["x"], customers["zbar"])
    np.testing.assert_allclose(undiscounted, 0.3 * spend * whole, rtol=1e-9)

    discounted = clv.clv_probabilistic(bgnbd, gamma_gamma, customers, 52, 0.3, 0.002)
    assert np.all(discounted.to_numpy() < undiscounted.to_numpy())
    assert np.all(discounted.to_numpy() > 0)

    # One customer, period by period with the scalar API: the vectorized sum agrees.
    row = customers.loc[1]
    by_hand = 0.0
    for k in range(1, 53):
        ek = bgnbd.conditional_expected_purchases(k, row["x"], row["t_x"], row["T"])
        ek1 = bgnbd.conditional_expected_purchases(k - 1, row["x"], row["t_x"], row["T"])
        by_hand += (ek - ek1) / 1.002**k
    row_spend = gamma_gamma.conditional_expected_spend(row["x"], row["zbar"])
    assert discounted.loc[1] == pytest.approx(0.3 * row_spend * by_hand, rel=1e-10)

    # Monthly discounting on a weekly model: 12 periods of 52/12 weeks span the same year.
    monthly = clv.clv_probabilistic(
        bgnbd, gamma_gamma, customers, 12, 0.3, 0.0, period_length=52 / 12
    )
    np.testing.assert_allclose(monthly, undiscounted, rtol=1e-9)


def test_clv_probabilistic_rejects_bad_arguments(
    bgnbd: clv.BgNbdFit, gamma_gamma: clv.GammaGammaFit
) -> None:
    one = pd.DataFrame({"x": [2], "t_x": [30.43], "T": [38.86], "zbar": [22.35]})
    with pytest.raises(ValueError, match="horizon"):
        clv.clv_probabilistic(bgnbd, gamma_gamma, one, 0, 0.3, 0.01)
    with pytest.raises(ValueError, match="margin"):
        clv.clv_probabilistic(bgnbd, gamma_gamma, one, 12, 30, 0.01)
    with pytest.raises(ValueError, match="lack column"):
        clv.clv_probabilistic(bgnbd, gamma_gamma, one.drop(columns="zbar"), 12, 0.3, 0.01)
    empty = clv.clv_probabilistic(bgnbd, gamma_gamma, one.iloc[:0], 12, 0.3, 0.01)
    assert empty.empty


def test_clv_simple() -> None:
    assert clv.clv_simple(100, 0.8, 0.02) == pytest.approx(4000.0)
    assert clv.clv_simple(Decimal("49.90"), Decimal("0.75"), Decimal("0.05")) == pytest.approx(
        748.5
    )
    # No data: churn 0 or missing, or any input missing.
    assert clv.clv_simple(100, 0.8, 0) is None
    assert clv.clv_simple(100, 0.8, None) is None
    assert clv.clv_simple(None, 0.8, 0.02) is None
    assert clv.clv_simple(100, None, 0.02) is None
    assert clv.clv_simple(100, 0.8, float("nan")) is None
    with pytest.raises(ValueError):
        clv.clv_simple(100, 0.8, -0.1)
    with pytest.raises(ValueError):
        clv.clv_simple(100, 80, 0.02)  # margin is a fraction, not a percentage


# ---- degenerate data -----------------------------------------------------------------------------


def test_no_customers_is_no_data() -> None:
    with pytest.raises(clv.InsufficientData):
        clv.fit_bgnbd([], [], [])
    with pytest.raises(clv.InsufficientData):
        clv.fit_gamma_gamma([], [])


def test_all_zero_frequency_is_no_data() -> None:
    T = np.linspace(1.0, 39.0, 200)
    zeros = np.zeros_like(T)
    with pytest.raises(clv.InsufficientData, match="repeat"):
        clv.fit_bgnbd(zeros, zeros, T)
    with pytest.raises(clv.InsufficientData, match="repeat"):
        clv.fit_gamma_gamma(zeros, zeros)


def test_single_customer(bgnbd: clv.BgNbdFit) -> None:
    # One customer cannot identify four (or three) heterogeneity parameters: the MLE degenerates.
    with pytest.raises(clv.InsufficientData):
        clv.fit_bgnbd([2], [30.43], [38.86])
    with pytest.raises(clv.InsufficientData):
        clv.fit_gamma_gamma([2], [22.35])
    # A fitted model scores a single customer, as plain floats.
    assert isinstance(bgnbd.p_alive(2, 30.43, 38.86), float)
    assert isinstance(bgnbd.conditional_expected_purchases(39, 0, 0.0, 38.86), float)
    assert bgnbd.p_alive(0, 0.0, 38.86) == 1.0


def test_gamma_gamma_excludes_non_repeaters(
    summary_spend: pd.DataFrame, gamma_gamma: clv.GammaGammaFit
) -> None:
    everyone = clv.fit_gamma_gamma(summary_spend["x"], summary_spend["zbar"])
    assert everyone.n_customers == PUBLISHED_REPEAT_CUSTOMERS
    assert everyone.p == pytest.approx(gamma_gamma.p, rel=1e-9)
    assert everyone.q == pytest.approx(gamma_gamma.q, rel=1e-9)
    assert everyone.gamma == pytest.approx(gamma_gamma.gamma, rel=1e-9)
    # A repeat customer must have spent something.
    with pytest.raises(ValueError, match="zbar > 0"):
        clv.fit_gamma_gamma([0, 2, 3], [0.0, 0.0, 10.0])


def test_malformed_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="cannot exceed T"):
        clv.fit_bgnbd([1, 2], [10.0, 40.0], [38.0, 38.0])
    with pytest.raises(ValueError, match="whole numbers"):
        clv.fit_bgnbd([1.5], [1.0], [2.0])
    with pytest.raises(ValueError, match="non-finite"):
        clv.fit_bgnbd([1, np.nan], [1.0, 1.0], [2.0, 2.0])
