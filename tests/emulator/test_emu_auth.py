"""Webhook and OAuth authentication: rotation, expiry, scope and HTTPS options."""

from __future__ import annotations

import time

import pytest


def refresh(api, refresh_token, client_id="local.emulator.app", secret="emulator-client-secret"):
    return api.session.get(
        f"{api.server.url}/oauth/token/",
        params={
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": secret,
            "refresh_token": refresh_token,
        },
        timeout=10,
    )


def test_webhook_wrong_secret_or_user(make_api) -> None:
    api = make_api()
    for url in (
        f"{api.server.url}/rest/1/wrong/profile",
        f"{api.server.url}/rest/2/test-secret/profile",
        f"{api.server.url}/rest/1/wrong/no.such.method",
    ):
        response = api.session.post(url, timeout=10)
        assert response.status_code == 401
        assert response.json() == {
            "error": "NO_AUTH_FOUND",
            "error_description": "Wrong authorization data",
        }


def test_oauth_token_locations(make_api) -> None:
    api = make_api()
    grant = api.control("POST", "oauth/grant")
    token = grant["access_token"]
    assert set(grant) >= {"client_id", "client_secret", "refresh_token", "access_token"}
    assert api.result("profile", token=token, params={"auth": token})["ID"] == "1"
    assert api.result("profile", {"auth": token}, token=token)["ID"] == "1"
    assert api.result("profile", {"access_token": token}, token=token)["ID"] == "1"
    headers = {"Authorization": f"Bearer {token}"}
    assert api.result("profile", token=token, headers=headers)["ID"] == "1"
    for bad in ({}, {"auth": "nope"}):
        body = api.call("profile", bad, token="", expect=401)
        assert body["error"] == "NO_AUTH_FOUND"


def test_refresh_rotates_and_old_refresh_token_dies(make_api) -> None:
    api = make_api(refresh_token="initial-refresh")
    response = refresh(api, "initial-refresh")
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) >= {
        "access_token",
        "refresh_token",
        "expires",
        "expires_in",
        "client_endpoint",
        "server_endpoint",
        "member_id",
        "scope",
        "status",
        "user_id",
        "domain",
    }
    assert answer["client_endpoint"] == f"{api.server.url}/rest/"
    assert answer["expires_in"] == 3600 and answer["expires"] > time.time() + 3500
    assert answer["refresh_token"] != "initial-refresh"
    assert api.result("profile", {"auth": answer["access_token"]}, token="")["ID"] == "1"
    reused = refresh(api, "initial-refresh")
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    again = refresh(api, answer["refresh_token"])
    assert again.status_code == 200
    bad_client = refresh(api, again.json()["refresh_token"], secret="wrong")
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    post = api.session.post(
        f"{api.server.url}/oauth/token/",
        data={
            "grant_type": "refresh_token",
            "client_id": "local.emulator.app",
            "client_secret": "emulator-client-secret",
            "refresh_token": again.json()["refresh_token"],
        },
        timeout=10,
    )
    assert post.status_code == 200


def test_access_token_expiry(make_api) -> None:
    api = make_api(access_token_ttl=0.3)
    token = api.control("POST", "oauth/grant")["access_token"]
    assert api.call("profile", {"auth": token}, token="")["result"]
    time.sleep(0.4)
    body = api.call("profile", {"auth": token}, token="", expect=401)
    assert body["error"] == "expired_token"


def test_expire_and_revoke_endpoints(make_api) -> None:
    api = make_api()
    grant = api.control("POST", "oauth/grant")
    assert api.control("POST", "oauth/expire")["expired"] >= 1
    body = api.call("profile", {"auth": grant["access_token"]}, token="", expect=401)
    assert body["error"] == "expired_token"
    assert refresh(api, grant["refresh_token"]).status_code == 200  # refresh still works
    grant = api.control("POST", "oauth/grant")
    assert api.control("POST", "oauth/revoke")["revoked"] >= 1
    assert refresh(api, grant["refresh_token"]).json()["error"] == "invalid_grant"
    assert api.call("profile", {"auth": grant["access_token"]}, token="")["result"]


def test_file_urls_carry_the_oauth_token(make_api) -> None:
    api = make_api(activities=400)
    token = api.control("POST", "oauth/grant")["access_token"]
    rows = api.result(
        "crm.activity.list",
        {"auth": token, "select": ["ID", "FILES"], "filter": {">ID": 0}, "start": 0},
        token="",
    )
    urls = [f["url"] for r in rows for f in r.get("FILES", [])]
    assert urls and all(u.endswith(f"&auth={token}") for u in urls)


def test_scope_without_crm(make_api) -> None:
    api = make_api()
    api.control("POST", "config", {"scope": ["user_brief"]})
    body = api.call("crm.activity.list", expect=403)
    assert body["error"] == "insufficient_scope"
    assert api.result("scope") == ["user_brief"]
    result = api.result("batch", {"cmd": {"a": "crm.activity.fields", "b": "profile"}})
    assert result["result_error"]["a"]["error"] == "insufficient_scope"
    api.control("POST", "config", {"error_statuses": "source"})
    assert api.call("crm.activity.list", expect=401)["error"] == "insufficient_scope"


@pytest.mark.parametrize("webhook", [True, False])
def test_require_https_option(make_api, webhook) -> None:
    api = make_api(require_https=True)
    token = None if webhook else ""
    body = api.call("profile", expect=400, token=token)
    assert body == {"error": "INVALID_REQUEST", "error_description": "Https required."}
