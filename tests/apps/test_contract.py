"""Every stack of the paper's matrix and of the modern preset (inventory/matrices/modern.yml),
each app under each server kind once, run under its real server against every probe of the
contract (apps/probe.py is also what the verify playbook runs on the server)."""

from __future__ import annotations

import http.client
import json

import pytest

from apps import contract, probe, workloads
from bench_client.request import DATABASE_TYPES
from tests.apps.conftest import RunningStack


@pytest.mark.parametrize("check", list(probe.CHECKS))
def test_contract(running_stack: RunningStack, check: str) -> None:
    problem = probe.CHECKS[check](probe.Target(running_stack.base_url, 1048576))
    assert problem is None, f"{running_stack.name}: {check}: {problem}"


def test_no_request_is_logged(running_stack: RunningStack) -> None:
    """Access logs are off on every stack, so none pays for writing them."""
    target = probe.Target(running_stack.base_url, 1048576)
    for _ in range(3):
        assert target.request("GET", "/get?access-log-marker").status == 200
        # In the path too: Granian's and Hypercorn's access logs leave the query out.
        assert target.request("GET", "/access-log-marker").status == 404
    assert "access-log-marker" not in running_stack.output()


def test_trailing_slash_is_not_redirected(running_stack: RunningStack) -> None:
    connection = http.client.HTTPConnection(
        "127.0.0.1", int(running_stack.base_url.rsplit(":", 1)[1])
    )
    try:
        connection.request("GET", "/get/")
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 200
    assert response.getheader("Location") is None


def test_the_contracts_answers_are_byte_for_byte_the_same(running_stack: RunningStack) -> None:
    """What apps/contract.py words, every app sends as it encodes it: the same bytes on every
    stack but for the time and process of an answer."""
    target = probe.Target(running_stack.base_url, contract.MAX_BODY_BYTES)
    json_type = {"Content-Type": contract.JSON_CONTENT_TYPE}
    answers = {
        "GET /get": target.request("GET", "/get"),
        "POST /post/": target.request("POST", "/post/", b'{"key": ["value", 1]}', json_type),
        "GET /health": target.request("GET", "/health"),
        "malformed JSON": target.request("POST", "/post", b'{"key": ', json_type),
        "declared body over the limit": target.request(
            "POST", "/post", b"{}", {**json_type, "Content-Length": "99999999"}
        ),
    }
    stamps = {name: json.loads(reply.body) for name, reply in answers.items()}
    expected = {
        "GET /get": contract.encode(
            {"message": contract.GET_MESSAGE, **_stamp(stamps["GET /get"])}
        ),
        "POST /post/": contract.encode(
            {
                "message": contract.POST_MESSAGE,
                "received_data": {"key": ["value", 1]},
                **_stamp(stamps["POST /post/"]),
            }
        ),
        "GET /health": contract.health_body(),
        "malformed JSON": contract.error_body(400, "body is not valid JSON"),
        "declared body over the limit": contract.error_body(413, contract.BODY_TOO_LARGE),
    }
    different = {
        name: answers[name].body for name in expected if answers[name].body != expected[name]
    }
    assert not different, f"{running_stack.name}: {different}"


def test_a_body_of_exactly_the_limit_is_taken(running_stack: RunningStack) -> None:
    """The limit is the largest body taken: 413 is for a body larger than it."""
    body = b'{"k":"' + b"x" * (contract.MAX_BODY_BYTES - 8) + b'"}'
    assert len(body) == contract.MAX_BODY_BYTES
    target = probe.Target(running_stack.base_url, contract.MAX_BODY_BYTES)
    reply = target.request("POST", "/post", body, {"Content-Type": contract.JSON_CONTENT_TYPE})
    assert reply.status == 200, f"{running_stack.name}: {reply.status} {reply.body[:200]!r}"


def _stamp(answer: dict[str, object]) -> dict[str, object]:
    return {"timestamp": answer.get("timestamp"), "pid": answer.get("pid")}


def test_without_a_database_only_the_types_that_need_one_answer_503(
    running_stack: RunningStack,
) -> None:
    """These stacks have no database (no libpq variables): they start and serve the contract
    (above), /json, /plaintext and /io, and answer the database types 503, saying why."""
    verified = probe.verify_test_types(running_stack.base_url)
    passed = {name for name, verdict in verified.items() if verdict.ok}
    assert passed == {"json", "plaintext", "io"}, f"{running_stack.name}: {verified}"
    target = probe.Target(running_stack.base_url, contract.MAX_BODY_BYTES)
    for name in DATABASE_TYPES:
        reply = target.request("GET", workloads.PATHS[name])
        assert (reply.status, reply.body) == (
            503,
            contract.error_body(503, workloads.NOT_CONFIGURED),
        ), f"{running_stack.name}: {name}: {reply}"
        assert reply.headers.get("content-type") == contract.JSON_CONTENT_TYPE
