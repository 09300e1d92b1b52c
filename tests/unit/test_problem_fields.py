"""Validation error locations become the field names clients see."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudsvc.api.problems import field_path
from cloudsvc.errors import InvalidInput
from cloudsvc.pagination import decode_cursor, decode_time_cursor, encode_cursor


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (("body", "server", "spec", "vcpus"), "spec.vcpus"),
        (("body", "roles", 0, "role"), "roles[0].role"),
        (("body", "code"), "code"),
        (("body",), "body"),
        (("query", "limit"), "limit"),
        (("header", "idempotency-key"), "Idempotency-Key"),
        (("path", "request_id"), "request_id"),
    ],
)
def test_field_path(loc: tuple[str | int, ...], field: str) -> None:
    assert field_path(loc) == field


def test_cursors_round_trip() -> None:
    assert decode_cursor(encode_cursor("dept-a"), str) == ("dept-a",)
    assert decode_time_cursor(encode_cursor("2026-11-22T10:00:00+00:00", "id-1"))[1] == "id-1"


@given(st.text(max_size=200))
def test_any_string_is_a_valid_cursor_or_a_clean_refusal(cursor: str) -> None:
    try:
        decode_time_cursor(cursor)
    except InvalidInput as refusal:
        field = refusal.field
    else:
        field = "cursor"
    assert field == "cursor"
