"""The storage rule for untrusted text: always valid UTF-8, no NUL, bounded, never an exception."""

import json

import pytest

from dashboard.core.text import MAX_DEPTH, TOO_DEEP, safe_field, safe_json, safe_text


def storable(text: str) -> bool:
    text.encode("utf-8")  # raises on a lone surrogate
    return "\x00" not in text


class RaisingRepr:
    def __repr__(self) -> str:
        raise ValueError("no repr for you")


def nested(depth: int) -> list:
    outer = inner = []
    for _ in range(depth):
        inner.append([])
        inner = inner[0]
    return outer


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("a\ud800b", "a\ufffdb"),  # lone high surrogate
        ("a\udc00b", "a\ufffdb"),  # lone low surrogate
        ("\udc00\ud800", "\ufffd\ufffd"),  # a pair in the wrong order is no pair
        ("\ud83d\ude00", "\U0001f600"),  # a pair split over two code points is joined
        ("a\x00b", "a\ufffdb"),
    ],
)
def test_text_replaces_what_utf8_or_postgresql_cannot_hold(raw, stored):
    assert safe_text(raw) == stored
    assert storable(safe_text(raw))


@pytest.mark.parametrize(
    "ordinary",
    [
        "plain ascii",
        "café, Straße, 東京, мир",
        "\u200fright-to-left mark\u202e and override",
        "bell\x07 tab\t newline\n escape\x1b[31m delete\x7f",
        "emoji \U0001f600",
        "",
    ],
)
def test_ordinary_text_and_controls_are_kept_as_they_came(ordinary):
    assert safe_text(ordinary) == ordinary
    assert json.loads(safe_json(ordinary)) == ordinary
    assert json.loads(safe_json({"k": [ordinary]})) == {"k": [ordinary]}


def test_a_megabyte_string_is_cut_and_says_how_much():
    text = "x" * 1_000_000 + "\ud800"
    stored = safe_text(text, 1000)
    assert stored.startswith("x" * 1000)
    assert "999001 more characters not stored" in stored
    assert storable(stored) and len(stored) < 1100
    as_json = safe_json([text], 1000)
    assert as_json.startswith('["xxx') and "more characters not stored" in as_json and storable(as_json)


def test_a_sized_field_never_exceeds_its_size():
    assert safe_field("n" * 300, 255) == "n" * 254 + "…"
    assert len(safe_field("\ud800" * 300, 64)) == 64
    assert safe_field("short", 255) == "short"
    assert safe_field(None, 64) is None


def test_json_escapes_nul_and_replaces_surrogates_in_values_and_keys():
    text = safe_json({"\ud800key": "nul\x00 and \udfff", "list": ["\ud800"]})
    assert storable(text)
    assert json.loads(text) == {"\ufffdkey": "nul\x00 and \ufffd", "list": ["\ufffd"]}
    assert "\\u0000" in text


def test_nesting_ten_thousand_deep_gives_a_placeholder_not_a_recursion_error():
    text = safe_json(nested(10_000))
    value = json.loads(text)
    depth = 0
    while isinstance(value, list):
        value, depth = value[0], depth + 1
    assert value == TOO_DEEP and depth == MAX_DEPTH
    cyclic: list = []
    cyclic.append(cyclic)
    assert TOO_DEEP in safe_json(cyclic)


def test_an_object_whose_repr_raises_gives_a_placeholder():
    assert safe_text(RaisingRepr()) == "<unrepresentable RaisingRepr>"
    assert json.loads(safe_json({"x": RaisingRepr()})) == {"x": "<unrepresentable RaisingRepr>"}


def test_json_is_always_strict_and_storable_for_odd_values():
    odd = {1: float("nan"), (1, 2): float("inf"), "big": 10**5000, "obj": object(), "t": (1, None, True)}
    text = safe_json(odd)
    value = json.loads(text)  # strict: no NaN/Infinity tokens
    assert value["1"] == "nan" and value["(1, 2)"] == "inf" and value["t"] == [1, None, True]
    assert value["big"].startswith("<integer of ") and value["obj"].startswith("<object object")
    assert "NaN" not in text and storable(text)
