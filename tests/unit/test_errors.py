"""Error mapping: Bitrix24 codes and broken bodies become retries or one-line errors."""

from __future__ import annotations

import json

import pytest
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_bitrix24.client.auth import WebhookAuth
from tap_bitrix24.client.batch import BatchCall
from tap_bitrix24.client.errors import Bitrix24Error, Kind, TransientError
from tap_bitrix24.client.transport import Bitrix24Client, RetryPolicy
from tap_bitrix24.errors import TapError


def _client(sleeps: list[float] | None = None, tries: int = 4) -> Bitrix24Client:
    return Bitrix24Client(
        rest_base="https://portal.example/rest/",
        auth=WebhookAuth("https://portal.example/rest/", "1", "hooksecret42"),
        session=requests.Session(),
        retry=RetryPolicy(max_tries=tries, base_seconds=0.01),
        sleep=(sleeps.append if sleeps is not None else lambda _s: None),
    )


def _response(status: int, body: object | bytes, url: str = "https://portal.example/rest/x"):
    response = requests.Response()
    response.status_code = status
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response.url = url
    response.request = requests.Request("POST", url, json={}).prepare()
    return response


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (503, "QUERY_LIMIT_EXCEEDED", Kind.RATE),
        (429, "OPERATION_TIME_LIMIT", Kind.OPERATING),
        (500, "INTERNAL_SERVER_ERROR", Kind.RETRY),
        (401, "expired_token", Kind.EXPIRED),
    ],
)
def test_transient_codes(status, code, kind):
    with pytest.raises(TransientError) as caught:
        _client().check(_response(status, {"error": code, "error_description": "x"}))
    assert caught.value.kind is kind
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("NO_AUTH_FOUND", "webhook_url"),
        ("insufficient_scope", "crm"),
        ("ACCESS_DENIED", "commercial plan"),
        ("OVERLOAD_LIMIT", "support"),
        ("invalid_grant", "re-authorise"),
        ("SOMETHING_NEW", "REST documentation"),
    ],
)
def test_fatal_codes_name_the_code_and_the_fix(code, words):
    with pytest.raises(Bitrix24Error) as caught:
        _client().check(_response(401, {"error": code, "error_description": "desc"}))
    message = str(caught.value)
    assert code in message
    assert words in message
    assert "\n" not in message


def test_empty_legacy_code_is_explained():
    with pytest.raises(Bitrix24Error) as caught:
        _client().check(_response(400, {"error": "", "error_description": "Access denied."}))
    assert "Access denied." in str(caught.value)
    assert "(empty code)" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (502, b"<html><body>Bad Gateway</body></html>"),
        (200, b'{"result": [{"ID": "1"'),
        (200, b"<html>hello from nginx</html>"),
    ],
)
def test_unreadable_bodies_are_retried(status, body):
    with pytest.raises(TransientError):
        _client().check(_response(status, body))


def test_retry_loop_backs_off_then_gives_up_with_the_code():
    sleeps: list[float] = []
    client = _client(sleeps, tries=3)
    calls = []

    def send():
        calls.append(1)
        client.check(
            _response(500, {"error": "INTERNAL_SERVER_ERROR", "error_description": "boom"})
        )

    with pytest.raises(Bitrix24Error) as caught:
        client.retrying(send, ["crm.activity.list"])
    assert len(calls) == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]
    assert "INTERNAL_SERVER_ERROR" in str(caught.value)
    assert "3 attempts" in str(caught.value)


def test_retry_loop_recovers():
    client = _client()
    answers = iter(
        [_response(503, {"error": "QUERY_LIMIT_EXCEEDED"}), _response(200, {"result": 1})]
    )

    def send():
        response = next(answers)
        client.check(response)
        return response

    assert client.json(client.retrying(send, ["profile"])) == {"result": 1}
    assert client.counters.retries == 1


def test_html_everywhere_is_not_a_bitrix_portal():
    client = _client(tries=2)

    def send():
        client.check(_response(200, b"<html>welcome</html>"))

    with pytest.raises(TapError) as caught:
        client.retrying(send, ["crm.activity.fields"])
    assert "does not answer like a Bitrix24 portal" in str(caught.value)


def test_connection_errors_end_with_the_host_not_the_secret():
    client = _client(tries=2)

    def send():
        raise requests.ConnectionError("https://portal.example/rest/1/hooksecret42/profile refused")

    with pytest.raises(TapError) as caught:
        client.retrying(send, ["profile"])
    assert "portal.example" in str(caught.value)
    assert "hooksecret42" not in str(caught.value)


def test_expired_token_on_a_webhook_is_fatal():
    client = _client()

    def send():
        client.check(_response(401, {"error": "expired_token"}))

    with pytest.raises(Bitrix24Error) as caught:
        client.retrying(send, ["profile"])
    assert "expired_token" in str(caught.value)


def _batch_response(results: dict, errors: dict) -> requests.Response:
    body = {"result": {"result": results, "result_error": errors, "result_time": []}}
    return _response(200, body, "https://portal.example/rest/batch")


def test_failed_first_command_of_a_chain_retries_the_whole_chain():
    call = BatchCall({"p0": ("crm.activity.list", {}), "p1": ("crm.activity.list", {})}, True)
    late = {"p1": {"error": "INTERNAL_SERVER_ERROR", "error_description": "x"}}
    answers = [
        _batch_response({}, {"p0": {"error": "OPERATION_TIME_LIMIT", "error_description": "x"}}),
        _batch_response({"p0": [{"ID": "1"}]}, late),
    ]
    sent: list[list[str]] = []

    def post(sub: BatchCall) -> requests.Response:
        sent.append(sub.names)
        return answers.pop(0)

    result = _client().batch(call, post)
    assert sent == [["p0", "p1"], ["p0", "p1"]]
    # A later failure ends the chain: the caller reads p0 and stops at p1.
    assert result.result == {"p0": [{"ID": "1"}]} and "p1" in result.errors


class _Steady(RetryPolicy):
    """The schedule without its jitter, to compare waits exactly."""

    @staticmethod
    def jitter(value: float) -> float:
        return value


def test_calls_outside_the_streams_wait_on_backoff_expo_capped_at_a_minute():
    sleeps: list[float] = []
    client = Bitrix24Client(
        rest_base="https://portal.example/rest/",
        auth=WebhookAuth("https://portal.example/rest/", "1", "hooksecret42"),
        session=requests.Session(),
        retry=_Steady(max_tries=10, base_seconds=1.0),
        sleep=sleeps.append,
        wait_log_interval=0,  # one sleep per wait
    )
    answer = _response(500, {"error": "INTERNAL_SERVER_ERROR", "error_description": "boom"})
    client.session.send = lambda *_a, **_k: answer  # type: ignore[method-assign]
    with pytest.raises(Bitrix24Error, match="after 10 attempts"):
        client.call("server.time")
    assert sleeps == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert client.counters.retries == 9


def test_any_retriable_api_error_is_retried_and_logged_by_status(caplog):
    client = _client()
    refused = RetriableAPIError("gateway", _response(503, b""))
    answers = iter([refused, _response(200, {"result": 1})])

    def send():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert client.json(client.retrying(send, ["profile"])) == {"result": 1}
    assert client.counters.retries == 1
    assert "Bitrix24 answered HTTP 503 (gateway); retry 1" in caplog.text
