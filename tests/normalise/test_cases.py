"""Every labelled case in cases.jsonl must pass, except the known misses, which must still fail (strict xfail)."""

import pytest

from tests.normalise.labelled import Case, actual_fields, load_cases

CASES = load_cases()


def test_case_file_covers_every_rule_with_enough_cases():
    rules = {case.rule for case in CASES}
    assert len(CASES) >= 300
    assert {"html_text", "repair", "percent", "engagement", "deadline", "start", "place", "occupation"} <= rules
    assert {"language", "salary", "privacy", "posting"} <= rules


def _param(case: Case):
    marks = pytest.mark.xfail(strict=True, reason=case.known_miss) if case.known_miss else ()
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_labelled_case(case: Case):
    assert actual_fields(case) == case.expected, case.note
