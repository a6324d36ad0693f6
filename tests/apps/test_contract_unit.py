"""The shared contract logic, without any framework."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from apps import contract


def test_get_body_has_message_timestamp_and_pid() -> None:
    data = json.loads(contract.get_body())
    assert data["message"] == "This is a GET request!"
    assert data["timestamp"].endswith("+00:00")
    assert isinstance(data["pid"], int)


def test_post_body_echoes_the_data() -> None:
    data = json.loads(contract.post_body({"key": "value"}))
    assert data["message"] == "This is a POST request!"
    assert data["received_data"] == {"key": "value"}


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_content_types_are_accepted(content_type: str) -> None:
    assert contract.parse_post(content_type, b'{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("text/plain", b'{"a": 1}', "Content-Type"),
        (None, b'{"a": 1}', "Content-Type"),
        ("application/json", b"", "empty body"),
        ("application/json", b"   ", "empty body"),
        ("application/json", b"\xff", "UTF-8"),
        ("application/json", b"{", "not valid JSON"),
        ("application/json", b"[1]", "must be an object"),
        ("application/json", b'"text"', "must be an object"),
        ("application/json", b'{"a": Infinity}', "not valid JSON"),
        ("application/json", b"[" * 200_000 + b"]" * 200_000, "not valid JSON"),
    ],
)
def test_bad_bodies_are_400(content_type: str | None, body: bytes, message: str) -> None:
    with pytest.raises(contract.ContractError) as error:
        contract.parse_post(content_type, body)
    assert error.value.status == 400
    assert message in error.value.message


@pytest.mark.parametrize(("header", "status"), [("abc", 400), ("-1", 400), ("99999999", 413)])
def test_bad_or_large_content_length(header: str, status: int) -> None:
    with pytest.raises(contract.ContractError) as error:
        contract.check_content_length(header)
    assert error.value.status == status


def test_read_limited_stops_past_the_limit() -> None:
    chunks = iter([b"x" * 65536] * (contract.MAX_BODY_BYTES // 65536 + 2))
    with pytest.raises(contract.ContractError) as error:
        contract.read_limited(lambda size: next(chunks, b""))
    assert error.value.status == 413


def test_read_limited_returns_a_small_body() -> None:
    chunks = iter([b'{"a":', b"1}"])
    assert contract.read_limited(lambda size: next(chunks, b"")) == b'{"a":1}'


async def _chunks(parts: list[bytes], taken: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        taken.append(part)
        yield part


def test_read_stream_limited_stops_as_soon_as_it_passes_the_limit() -> None:
    parts = [b"x" * 65536] * (contract.MAX_BODY_BYTES // 65536 + 4)
    taken: list[bytes] = []
    with pytest.raises(contract.ContractError) as error:
        asyncio.run(contract.read_stream_limited(_chunks(parts, taken)))
    assert error.value.status == 413
    assert error.value.message == contract.BODY_TOO_LARGE
    assert len(taken) == contract.MAX_BODY_BYTES // 65536 + 1  # not one chunk more


def test_read_stream_limited_joins_a_small_body() -> None:
    taken: list[bytes] = []
    body = asyncio.run(contract.read_stream_limited(_chunks([b'{"a":', b"", b"1}"], taken)))
    assert body == b'{"a":1}'


def test_answer_post_refuses_a_declared_length_before_reading() -> None:
    taken: list[bytes] = []
    with pytest.raises(contract.ContractError) as error:
        asyncio.run(contract.answer_post("99999999", "application/json", _chunks([b"{}"], taken)))
    assert error.value.status == 413
    assert taken == []


def test_answer_post_echoes_a_streamed_body() -> None:
    answer = asyncio.run(
        contract.answer_post(None, "application/json", _chunks([b'{"a"', b":1}"], []))
    )
    assert json.loads(answer)["received_data"] == {"a": 1}
