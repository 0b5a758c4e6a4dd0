"""Every message in the code and templates has a complete Simplified Chinese translation."""

from __future__ import annotations

import re

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir

from .conftest import ROOT

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
}
METHODS = [("dashboard/**.py", "python"), ("templates/**.html", "jinja2")]


def extracted() -> Catalog:
    """The messages as `make messages` extracts them, in memory."""
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), METHODS, keywords={**KEYWORDS, "_": None}
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def _ids(message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def _strings(message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def test_extraction_finds_the_templates_and_the_code():
    sources = {
        location[0].split("/")[0] for message in extracted() if message.id for location in message.locations
    }
    assert {"dashboard", "templates"} <= sources


def test_every_message_has_a_chinese_translation(zh_catalogue):
    problems = []
    for message in extracted():
        if not message.id:
            continue
        translated = zh_catalogue.get(message.id, context=message.context)
        if translated is None:
            problems.append(f"missing: {message.id!r}")
        elif translated.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        elif not all(s.strip() for s in _strings(translated)):
            problems.append(f"empty: {message.id!r}")
    assert not problems, "\n".join(problems) + "\n(run `make messages` and translate the new entries)"


def test_translations_keep_the_placeholders(zh_catalogue):
    problems = []
    for message in zh_catalogue:
        if not message.id:
            continue
        # Chinese has one plural form; every form must carry the plural's placeholders.
        wanted = _placeholders(_ids(message)[-1])
        for string in _strings(message):
            if string and _placeholders(string) != wanted:
                problems.append(f"{message.id!r}: {string!r}")
    assert not problems, "\n".join(problems)


def test_the_catalogue_has_no_obsolete_or_fuzzy_entries(zh_catalogue):
    assert not [m.id for m in zh_catalogue if m.id and m.fuzzy]
    assert not zh_catalogue.obsolete
