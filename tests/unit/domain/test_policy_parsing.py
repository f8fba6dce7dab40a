"""Policy parsing: the default file parses to the documented numbers; broken documents fail
with every error named by the path of the bad field."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from domain.applicant import EmployerCategory
from domain.behavior.sensitivity_level import PriceSensitivity
from domain.policy.parsing import PolicyValidationError, parse_policy, parse_policy_toml


@pytest.fixture(scope="module")
def document(policy_text) -> dict[str, Any]:
    return tomllib.loads(policy_text)


def broken(document: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> list[str]:
    data = copy.deepcopy(document)
    change(data)
    with pytest.raises(PolicyValidationError) as raised:
        parse_policy(data)
    assert raised.value.errors, "a validation error must list its problems"
    assert str(raised.value).startswith("invalid pricing policy")
    return raised.value.errors


def test_default_policy_parses_to_the_documented_numbers(policy):
    assert (policy.version, policy.name) == (1, "default-unsecured-pl")
    assert policy.validity_working_days == 3
    assert (policy.amounts.minimum, policy.amounts.maximum) == (Decimal("50000"),
                                                                Decimal("4000000"))
    assert policy.tenures.grid == (12, 18, 24, 36, 48, 60)
    assert policy.economics.cost_of_funds == 0.08
    assert policy.economics.loss_given_default == 0.65
    assert (policy.rates.floor, policy.rates.regulatory_cap) == (0.105, 0.36)
    assert policy.rates.rounding_step_bps == 5
    assert [b.name for b in policy.bands] == ["A", "B", "C", "D", "E"]
    assert [b.min_score for b in policy.bands] == [625, 600, 575, 555, 540]
    assert len(policy.scorecard.attributes) == 10
    assert policy.price_response.slope[PriceSensitivity.HIGH] == 60.0
    assert [r.name for r in policy.adjustments] == [
        "RETURNING_CUSTOMER", "PREFERRED_EMPLOYER", "LARGE_LOAN", "LONG_TENURE_PREMIUM"]
    assert policy.adjustments[1].when.employer_categories == (EmployerCategory.CAT_A,)
    assert policy.foir_cap_for(Decimal("25000")) == 0.45
    assert policy.foir_cap_for(Decimal("25000.01")) == 0.50
    assert policy.foir_cap_for(Decimal("1000000")) == 0.65


def test_band_lookup(policy):
    assert policy.band_for(700).name == "A"
    assert policy.band_for(625).name == "A"
    assert policy.band_for(624.9).name == "B"
    assert policy.band_for(540).name == "E"
    assert policy.band_for(539.9) is None


def test_parsing_is_deterministic(policy_text, policy):
    assert parse_policy_toml(policy_text) == policy


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value
    return change


def _unsort_bands(data: dict[str, Any]) -> None:
    data["bands"][0], data["bands"][1] = data["bands"][1], data["bands"][0]


def _unknown_attribute(data: dict[str, Any]) -> None:
    data["scorecard"]["attributes"][2]["name"] = "shoe_size"


def _unknown_condition(data: dict[str, Any]) -> None:
    data["adjustments"][1]["when"] = {"min_loans_repaid": 1, "star_sign": "LEO"}


@pytest.mark.parametrize(("change", "path", "words"), [
    (_set("economics.cost_of_funds", -0.01), "economics.cost_of_funds", ">= 0"),
    (_set("rates.floor", 0.40), "rates", "floor"),
    (_unsort_bands, "bands", "decreasing"),
    (_unknown_attribute, "scorecard.attributes[2].name", "shoe_size"),
    (_unknown_condition, "adjustments[1].when", "star_sign"),
    (_set("economics.loss_given_default", 1.5), "economics.loss_given_default", "<= 1"),
    (_set("rates.rounding_step_bps", 2.5), "rates.rounding_step_bps", "whole number"),
    (_set("tenures.grid", [12, 24, 72]), "tenures.grid", "within"),
    (_set("validity_working_days", 2), "policy.validity_working_days", ">= 3"),
    (_set("price_response.slope.HIGH", "steep"), "price_response.slope.HIGH", "number"),
    (_set("sensitivity.medium_from", 0.7), "sensitivity", "medium_from"),
    (_set("bands.0.max_roi", 0.40), "bands[0].max_roi", "regulatory_cap"),
])
def test_a_broken_document_names_the_bad_field(document, change, path, words):
    errors = broken(document, change)
    matching = [e for e in errors if e.startswith(f"{path}:")]
    assert matching, errors
    assert any(words in e for e in matching), errors


def test_missing_section_is_named(document):
    errors = broken(document, lambda data: data.pop("economics"))
    assert any(e.startswith("economics:") and "missing" in e for e in errors), errors


def test_bad_toml_is_a_validation_error(policy_text):
    with pytest.raises(PolicyValidationError) as raised:
        parse_policy_toml(policy_text.replace("[economics]", "[economics", 1))
    assert len(raised.value.errors) == 1
    assert raised.value.errors[0].startswith("TOML syntax")


def test_several_errors_are_reported_at_once(document):
    def many(data: dict[str, Any]) -> None:
        data["economics"]["cost_of_funds"] = -0.01
        data["rates"]["floor"] = 0.40
        _unsort_bands(data)
        _unknown_attribute(data)
        _unknown_condition(data)

    errors = broken(document, many)
    for path in ("economics.cost_of_funds:", "rates:", "bands:",
                 "scorecard.attributes[2].name:", "adjustments[1].when:"):
        assert any(e.startswith(path) for e in errors), (path, errors)
    assert len(errors) >= 5


def test_cross_checks_only_run_on_an_otherwise_valid_document(document):
    # decline.min_score above the best band declines everyone
    errors = broken(document, _set("decline.min_score", 700))
    assert any(e.startswith("decline.min_score:") for e in errors), errors


def test_unknown_band_in_an_adjustment_rule(document):
    errors = broken(document, _set("adjustments.0.when", {"risk_bands": ["A", "Z"]}))
    assert any(e.startswith("adjustments[0].when.risk_bands:") for e in errors), errors


def test_unknown_sensitivity_level_in_the_price_response(document):
    errors = broken(document, _set("price_response.slope.EXTREME", 90.0))
    assert any(e.startswith("price_response.slope:") and "EXTREME" in e for e in errors), errors


# --------------------------------------------------------------------------- validation gaps


def _accepted_or_errors(document: dict[str, Any], change: Callable[[dict[str, Any]], None]
                        ) -> tuple[Any, list[str]]:
    data = copy.deepcopy(document)
    change(data)
    try:
        return parse_policy(data), []
    except PolicyValidationError as exc:
        return None, exc.errors


def test_bureau_score_without_missing_points_is_rejected_or_handled(
        document, now, new_ids, applicant_builder):
    from domain.applicant import LoanRequest
    from domain.offer_engine import generate_offer_set

    policy, errors = _accepted_or_errors(
        document, lambda data: data["scorecard"]["attributes"][0].pop("missing_points"))
    if policy is None:
        assert any(e.startswith("scorecard.attributes[0]") for e in errors), errors
        return
    thin = applicant_builder(bureau_score=None, credit_history_months=2)
    generate_offer_set(policy, thin, LoanRequest(), now, new_ids())  # must not raise


def test_gst_rate_above_100_percent_is_rejected(document):
    errors = broken(document, _set("fees.gst_rate_percent", 500))
    assert any(e.startswith("fees.gst_rate_percent:") for e in errors), errors


def test_unknown_categorical_bin_value_is_rejected(document):
    errors = broken(document, _set("scorecard.attributes.5.bins.0.value", "SALARIED:CAT_Z"))
    assert any(e.startswith("scorecard.attributes[5].bins[0]") for e in errors), errors


def test_risk_bands_must_be_a_list(document):
    errors = broken(document, _set("adjustments.0.when", {"risk_bands": "AB"}))
    assert any(e.startswith("adjustments[0].when.risk_bands:") for e in errors), errors


@pytest.mark.parametrize("change", [
    _set("adjustments", ["oops"]),          # TOML: adjustments = ["oops"]
    _set("fees.waivers", ["oops"]),         # TOML: waivers = ["oops"] under [fees]
    _set("amounts.grid", [True, 100000]),   # TOML: grid = [true, 100000]
], ids=["adjustment-not-a-table", "waiver-not-a-table", "boolean-amount"])
def test_malformed_entries_are_validation_errors_not_crashes(document, change):
    data = copy.deepcopy(document)
    change(data)
    with pytest.raises(PolicyValidationError):
        parse_policy(data)


@pytest.mark.parametrize(("change", "path"), [
    (_set("decline.min_age", 70), "decline:"),
    (_set("bands.0.fee_percent", 12), "bands[0].fee_percent:"),
    (_set("scorecard.attributes.0.bins.0.value", "HIGH"), "scorecard.attributes[0].bins[0].value:"),
    (_set("adjustments", {"name": "x"}), "adjustments:"),
], ids=["min-age-above-max-age", "fee-above-10-percent", "value-on-numeric-attribute",
        "adjustments-not-an-array"])
def test_inconsistent_values_are_named_by_path(document, change, path):
    errors = broken(document, change)
    assert any(e.startswith(path) for e in errors), errors


def test_a_nul_character_in_any_text_is_named_by_its_path(policy_text):
    """Found by the schema fuzzer on PostgreSQL (which refuses U+0000 in text columns): a
    ``\\u0000`` escape in a draft's name made savePolicyDraft fail unexpectedly."""
    text = (policy_text.replace('name = "default-unsecured-pl"', 'name = "pl\\u0000"')
            .replace('reason = "Returning', 'reason = "\\u0000Returning'))
    with pytest.raises(PolicyValidationError) as raised:
        parse_policy_toml(text)
    assert raised.value.errors == ["policy.name: contains a NUL character (U+0000)",
                                   "adjustments[0].reason: contains a NUL character (U+0000)"]


def test_a_version_beyond_graphql_int_is_refused(policy_text):
    """Found by the schema fuzzer: version = 2**63 passed validation, then overflowed the
    database's integer column in savePolicyDraft."""
    for version in (2**31, 2**63):
        with pytest.raises(PolicyValidationError) as raised:
            parse_policy_toml(policy_text.replace("version = 1", f"version = {version}"))
        assert raised.value.errors == [f"policy.version: must be <= 2147483647, got {version}"]
    assert parse_policy_toml(policy_text.replace("version = 1", f"version = {2**31 - 1}")).version
