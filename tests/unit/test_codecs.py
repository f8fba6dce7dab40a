"""The JSON forms of applicants: the flat field copy used for speed is exactly what
``dataclasses.asdict`` gives (so it stays right only while those dataclasses hold scalars), and
every applicant survives the round trip."""

from __future__ import annotations

from dataclasses import asdict

from adapters.codecs import applicant_from_dict, applicant_to_dict
from adapters.demo.portfolio import generate_applicants


def test_applicant_to_dict_matches_asdict_and_round_trips() -> None:
    for applicant in generate_applicants(300):
        expected = asdict(applicant)
        expected["personal"]["date_of_birth"] = applicant.personal.date_of_birth.isoformat()
        for name in ("monthly_income", "existing_emi"):
            expected["credit"][name] = str(expected["credit"][name])
        for name in ("employment_type", "employer_category", "residence_type"):
            expected["credit"][name] = expected["credit"][name].value
        assert applicant_to_dict(applicant) == expected
        assert applicant_from_dict(applicant_to_dict(applicant)) == applicant
