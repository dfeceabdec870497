"""JSON for stored documents and for answers, written and read by orjson.

Decoding a stored order and encoding the answer were two thirds of an order read's own work
with the json module; orjson does both several times faster. Where orjson's rules differ
from Python's (it reads an integer beyond 64 bits as a float and refuses to write one), the
json module does the job, so no value changes on its way through the simulator.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

# A stored document holding an integer orjson cannot carry starts with this (JSON allows
# leading whitespace, so any reader still reads it) and is read back by the json module
BIG_INT_MARK = " "
_MARKS = (BIG_INT_MARK, BIG_INT_MARK.encode())
_ANSWER = orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
_DOC = _ANSWER | orjson.OPT_SORT_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dump_doc(doc: Any) -> str:
    """A document as stored: compact, keys sorted."""
    try:
        return orjson.dumps(doc, default=_default, option=_DOC).decode()
    except TypeError:
        if not _has_big_int(doc):
            raise
        return BIG_INT_MARK + json.dumps(doc, separators=(",", ":"), sort_keys=True,
                                         ensure_ascii=False, default=_default)


def load_doc(text: str | bytes) -> Any:
    """A stored document (ValueError when the text is not JSON)."""
    if text[:1] in _MARKS:
        return json.loads(text)
    return orjson.loads(text)


def dumps(value: Any) -> bytes:
    """An answer's body: compact UTF-8 JSON, keys in the order the handler built them."""
    try:
        return orjson.dumps(value, default=_default, option=_ANSWER)
    except TypeError:
        if not _has_big_int(value):
            raise
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                          default=_default).encode()


def _has_big_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not -(2 ** 63) <= value < 2 ** 64
    if isinstance(value, dict):
        return any(_has_big_int(v) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_big_int(v) for v in value)
    return False
