"""The report's two languages: every word comes from a message catalogue (gettext, with Babel).

English is the source language (the message ids); Simplified Chinese ships as
`reports/locale/zh_CN/LC_MESSAGES/messages.po`, compiled when first used (no binary catalogue is
kept in the repository). Numbers, shares and times are formatted for the language by Babel.
tests/test_report_i18n.py holds every message the report uses to a translation.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

from surge.day.profile import Profile

LANGUAGES = ("zh_CN", "en")
CATALOGUES = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark `message` for the catalogue where it is made; it is translated where it is shown."""
    return message


KEYWORDS = {"words": None, "self": None, "N_": None}
"""How the report's code and template name a message for the catalogue: `words("…")` (a
`Words`; `self("…")` inside it), `N_("…")`."""


def messages() -> set[str]:
    """Every message the report's code and template use, the verdict's reasons and the shipped
    profiles' descriptions (a profile of one's own is described in its own words)."""
    from babel.messages.extract import extract_from_dir

    from surge.day.profile import list_profiles, load_profile
    from surge.judge.durability import DESCRIPTIONS
    from surge.judge.verdict import REASONS

    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"trim_blocks": "true", "lstrip_blocks": "true"}}
    found = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            Path(__file__).resolve().parent,
            method_map,
            options_map=options,
            keywords=KEYWORDS,
        )
    }
    described = {load_profile(name).description for name in list_profiles()}
    return found | set(REASONS.values()) | set(DESCRIPTIONS.values()) | described


def language_for(profile: Profile) -> str:
    """The report's language when none is asked for: the profile's customers' locale's, if the
    report has it (a zh_CN bank's drill team reads Chinese), else English."""
    return "zh_CN" if profile.customers.locale.startswith("zh") else "en"


@cache
def _locale(language: str) -> Locale:
    """Parsed once a language: `Locale.parse` looks for its data files on every call, about
    half a second of a report's thousands of numbers."""
    return Locale.parse(language)


@cache
def translations(language: str) -> NullTranslations:
    if language not in LANGUAGES:
        raise ValueError(f"{language!r} is not one of {', '.join(LANGUAGES)}")
    if language == "en":
        return NullTranslations()
    path = CATALOGUES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@dataclass(frozen=True)
class Words:
    """Translation and formatting in one language, as the templates and the charts use them."""

    language: str

    @property
    def locale(self) -> Locale:
        return _locale(self.language)

    def __call__(self, message: str, **values: object) -> str:
        """`message` translated, with `{name}` placeholders filled from `values`."""
        text = translations(self.language).gettext(message)
        return text.format(**values) if values else text

    def number(self, value: float | None, digits: int = 0) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def percent(self, value: float | None, digits: int = 1) -> str:
        if value is None or not math.isfinite(value):
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
        return format_percent(value, format=pattern, locale=self.locale)

    def ms(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "–"
        return self("{value} ms", value=self.number(value, 0 if value >= 10 else 1))

    def seconds(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "–"
        digits = 0 if value >= 100 else 1 if value >= 1 else 2
        return self("{value} s", value=self.number(value, digits))

    def minutes(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "–"
        return self("{value} min", value=self.number(value, 1))


_HEADER = """# Simplified Chinese for branch-surge's capacity report (reports/i18n.py).
# Every message the report uses is here; tests/test_report_i18n.py fails on one missing:
# `python -m reports.i18n` adds new ones untranslated and removes stale ones."""


def update_catalogue(language: str = "zh_CN") -> tuple[set[str], set[str]]:
    """Bring `language`'s catalogue in line with the messages in use: new ones are added
    untranslated (the test then names them), stale ones removed. (added, removed)."""
    path = CATALOGUES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    used, known = messages(), {str(m.id) for m in catalog if m.id}
    for stale in known - used:
        del catalog[stale]
    for new in used - known:
        catalog.add(new, "")
    catalog.header_comment = _HEADER
    catalog.project, catalog.version = "branch-surge", ""
    catalog.msgid_bugs_address = catalog.last_translator = catalog.language_team = ""
    with path.open("wb") as out:
        write_po(out, catalog, width=100, sort_output=True)
    return used - known, known - used


if __name__ == "__main__":  # python -m reports.i18n: after adding or changing a message
    added, removed = update_catalogue()
    print(f"{len(added)} messages to translate, {len(removed)} stale removed")
