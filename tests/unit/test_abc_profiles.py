"""`abc_routes._profiles` validates and reads ABC profiles in one pass: for every well-formed
body it must give what the SDK's `attributes_from_profiles` gives."""

from __future__ import annotations

import orjson
import pytest

from avsb.server.evaluation_api.abc_routes import _profiles
from avsb_sdk.evaluation import attributes_from_profiles

WELL_FORMED = [
    b"{}",
    b'{"country": {"user_attrs": ["US"]}, "age": {"user_attrs": ["18", "19"]}}',
    b'{"country": {}, "age": {"user_attrs": null}, "x": {"user_attrs": []}}',
    b'{"pa\\u00efs": {"user_attrs": ["\\u00e9t\\u00e9", ""]}, "n": {"other": 1}}',
]


@pytest.mark.parametrize("raw", WELL_FORMED)
def test_well_formed__same_attributes_as_the_sdk(raw: bytes) -> None:
    profiles = orjson.loads(raw)
    assert _profiles(profiles) == attributes_from_profiles(profiles)


def test_absent__no_attributes() -> None:
    assert _profiles(None) == {}
