"""The JSON the sandbox writes through orjson is the JSON Python's json would write."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import uuid

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from sandbox.json_provider import FastJSONProvider, dumps_compact


@dataclasses.dataclass
class Point:
    x: int


VALUES = [
    {"text": '\x00\x1f\x7f"\\/\n\t', "n": [0.1, -0.0, 123456789.125, 2**63 - 1, -(2**63)]},
    {"empty": {}, "none": [], "null": None, "yes": True, "nested": [[[]]]},
    {"z": 1, "a": {"y": [1, {"b": 2}]}},
    {"beyond 64 bits": 2**64},  # orjson refuses: Python writes it
    {1: "a key that is a number"},  # orjson refuses: Python writes "1"
    {"café": "naïve ✓"},  # non-ASCII: escaped, as Python does unless told not to
    datetime.datetime(2026, 1, 2, 3, 4, 5),  # Flask's way: an HTTP date
    decimal.Decimal("1.50"),
    uuid.UUID(int=5),
    Point(3),
    "plain",
    7,
]
SHAPES = [
    {"indent": 2},
    {"indent": 2, "sort_keys": True},
    {"separators": (",", ":")},
    {},  # Python's default spacing: written by Python
    {"indent": 2, "ensure_ascii": False},
    {"indent": 4},
]


@pytest.mark.parametrize("shape", SHAPES, ids=repr)
def test_every_shape_is_written_exactly_as_flasks_own_provider_writes_it(shape):
    app = Flask(__name__)
    fast, python = FastJSONProvider(app), DefaultJSONProvider(app)
    for value in VALUES:
        assert fast.dumps(value, **shape) == python.dumps(value, **shape), value


def test_the_sandboxs_answers_are_written_by_orjson(app):
    import orjson

    calls = []
    original = orjson.dumps

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    assert isinstance(app.json, FastJSONProvider)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sandbox.json_provider.orjson.dumps", counting)
        body = app.test_client().get("/server/get").get_json()
    assert body["url"].endswith("/server/get")
    assert any(isinstance(c, dict) and "headers" in c for c in calls)


def test_records_shared_between_workers_read_back_as_written():
    record = {"id": "ab", "n": 2**70, "t": datetime.date(2026, 1, 2), "s": "é", 3: "key"}
    assert json.loads(dumps_compact(record)) == {
        "id": "ab",
        "n": 2**70,
        "t": "2026-01-02",
        "s": "é",
        "3": "key",
    }
