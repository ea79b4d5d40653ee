"""CLV through the app's own path: CDNOW purchases imported as revenue, then fitted on demand."""

from datetime import date

import pytest

from metrics import selectors, services
from metrics.cdnow import import_cdnow
from revops.tenancy.context import organization_scope
from tests.base import TwoOrganizationsTestCase
from tests.metrics.test_cdnow import SAMPLE

CALIBRATION_END = date(1997, 9, 30)  # the papers' 39 weeks


class ClvEstimateTests(TwoOrganizationsTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        with organization_scope(cls.org_a):
            import_cdnow(path=SAMPLE, sample=True)

    def setUp(self):
        self.enterContext(organization_scope(self.org_a))

    def test_no_gross_margin_means_no_data(self):
        assert selectors.clv_estimate(CALIBRATION_END) is None

    def test_the_imported_sample_reproduces_the_published_fits(self):
        services.gross_margin_set(percent="30")
        estimate = selectors.clv_estimate(CALIBRATION_END)
        assert estimate.customers == 2357
        fit = estimate.bgnbd
        for value, published in ((fit.r, 0.243), (fit.alpha, 4.414), (fit.a, 0.793),
                                 (fit.b, 2.426)):  # fmt: skip
            assert value == pytest.approx(published, rel=2e-3)
        spend = estimate.gamma_gamma
        assert spend.n_customers == 946
        for value, published in ((spend.p, 6.25), (spend.q, 3.74), (spend.gamma, 15.44)):
            assert value == pytest.approx(published, rel=2e-3)
        assert fit.conditional_expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(
            1.226, abs=5e-4
        )
        # A year of expected margin: positive for every customer.
        assert (estimate.per_customer > 0).all()
        assert 0 < estimate.average < 100

    def test_another_organization_without_purchases_has_no_data(self):
        with organization_scope(self.org_b):
            services.gross_margin_set(percent="30")
            assert selectors.clv_estimate(CALIBRATION_END) is None
