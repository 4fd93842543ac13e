"""The one table from reason code to HTTP status."""

from __future__ import annotations

from services.api.problems import HTTP_STATUS, ApiCode, Problem
from shared.domain.errors import ReasonCode


def test_every_reason_code_has_an_http_status() -> None:
    assert set(ReasonCode) | set(ApiCode) <= set(HTTP_STATUS)


def test_another_enterprises_payment_is_told_as_not_found_never_forbidden() -> None:
    problem = Problem(ReasonCode.WRONG_ENTERPRISE, "the user does not belong to the payer")
    assert (problem.status, problem.reason_code) == (404, "payment_not_found")
    assert "belong" not in problem.detail
