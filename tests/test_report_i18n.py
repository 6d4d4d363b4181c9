"""Every word of the report comes from the message catalogue, in both languages it ships."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from reports import i18n
from reports.i18n import Words
from surge.judge.verdict import REASONS

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalogue() -> dict[str, str]:
    path = i18n.CATALOGUES / "zh_CN" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as source:
        return {str(m.id): str(m.string) for m in read_po(source) if m.id}


def test_every_message_the_report_uses_has_a_chinese_translation() -> None:
    translated = catalogue()
    used = i18n.messages()
    assert used - set(translated) == set()  # run pybabel or add it to messages.po
    assert [m for m in used if not translated[m]] == []
    assert set(translated) - used == set()  # a stale message


def test_the_verdicts_reasons_are_in_the_catalogue() -> None:
    assert set(REASONS.values()) <= set(catalogue())


@pytest.mark.parametrize("message", sorted(catalogue()))
def test_a_translation_keeps_every_placeholder_of_its_message(message: str) -> None:
    assert set(PLACEHOLDER.findall(catalogue()[message])) == set(PLACEHOLDER.findall(message))


def test_the_report_speaks_each_language_with_its_own_numbers() -> None:
    english, chinese = Words("en"), Words("zh_CN")
    assert english("Capacity report: {profile}", profile="payday") == "Capacity report: payday"
    assert chinese("Capacity report: {profile}", profile="payday") == "容量报告：payday"
    assert english.percent(0.1234) == "12.3%"
    assert chinese.ms(1234.0) == "1,234 毫秒"
    assert english.number(None) == "–"


def test_a_language_the_report_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="'fr' is not one of zh_CN, en"):
        i18n.translations("fr")


@pytest.mark.parametrize("name", ["report.html", "capacity.html"])
def test_the_template_names_no_word_outside_the_catalogue(name: str) -> None:
    """Text between tags in a report's page is either a `words(…)` call or not a word."""
    template = (Path(i18n.__file__).parent / "templates" / name).read_text()
    body = template.split("{% block content %}", 1)[1]
    bare = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", body, flags=re.S)
    words = re.findall(r">\s*([A-Za-z][A-Za-z ,.'-]{2,})\s*<", bare)
    assert words == []
