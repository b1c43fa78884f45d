"""Fixtures for the emulator suite: servers on port 0 and a small HTTP helper around requests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tap_bitrix24.emulator import EmulatorServer

ANCHOR = 1_767_225_600  # 2026-01-01T00:00:00Z: fixed, so data is identical across runs
SECRET = "test-secret"


class Api:
    """Calls one emulator over HTTP (webhook by default, OAuth with ``token=``)."""

    def __init__(self, session: requests.Session, server: EmulatorServer) -> None:
        self.session = session
        self.server = server

    def url(self, method: str, token: str | None = None) -> str:
        if token is not None:
            return f"{self.server.url}/rest/{method}"
        return f"{self.server.webhook_url}{method}"

    def raw(
        self,
        method: str,
        payload: Any = None,
        *,
        http: str = "POST",
        params: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
        timeout: float = 30,
    ) -> requests.Response:
        """One REST request; returns the response as is."""
        return self.session.request(
            http,
            self.url(method, token),
            json=payload,
            params=params,
            data=data,
            headers=headers,
            timeout=timeout,
        )

    def call(self, method: str, payload: Any = None, *, expect: int = 200, **kw: Any) -> Any:
        """One REST request; asserts the status and returns the decoded body."""
        response = self.raw(method, payload, **kw)
        assert response.status_code == expect, response.text[:500]
        return response.json()

    def result(self, method: str, payload: Any = None, **kw: Any) -> Any:
        """The ``result`` of a successful call."""
        return self.call(method, payload, **kw)["result"]

    def control(self, verb: str, route: str, body: Any = None, expect: int = 200) -> Any:
        """A ``/_emulator/`` request."""
        response = self.session.request(
            verb, f"{self.server.url}/_emulator/{route}", json=body, timeout=30
        )
        assert response.status_code == expect, response.text[:500]
        return response.json()

    def ids(self, payload: dict[str, Any]) -> list[int]:
        """IDs of one list page."""
        return [int(r["ID"]) for r in self.result("crm.activity.list", payload)]

    def walk(
        self, flt: dict[str, Any] | None = None, select: list[str] | None = None
    ) -> list[dict]:
        """Every matching row via the keyset walk (ID ascending)."""
        rows: list[dict] = []
        last = 0
        while True:
            page = self.result(
                "crm.activity.list",
                {
                    "order": {"ID": "ASC"},
                    "filter": {**(flt or {}), ">ID": last},
                    "select": select or ["*"],
                    "start": -1,
                },
            )
            rows += page
            if len(page) < 50:
                return rows
            last = int(page[-1]["ID"])

    def walk_type(self, method: str, entity_type: int, key: str, **extra: Any) -> list[dict]:
        """Every row of a CRM type via a keyset walk on KEY (``id`` or ``ID``).

        EXTRA goes into the payload; its filter is kept beside the ``>KEY`` cursor.
        """
        rows: list[dict] = []
        last = 0
        while True:
            payload = {"entityTypeId": entity_type, "order": {key: "ASC"}, "start": -1, **extra}
            payload["filter"] = {**extra.get("filter", {}), f">{key}": last}
            page = self.result(method, payload)["items"]
            rows += page
            if len(page) < 50:
                return rows
            last = page[-1][key]


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture(scope="module")
def shared_server() -> Iterator[EmulatorServer]:
    """A read-only portal shared by a module (tests must not mutate it)."""
    with EmulatorServer(activities=1200, seed=7, webhook_secret=SECRET, anchor=ANCHOR) as server:
        yield server


@pytest.fixture(scope="module")
def shared_rows(shared_server: EmulatorServer) -> list[dict]:
    """All rows of the shared portal (default select plus COMMUNICATIONS), by ID."""
    with requests.Session() as s:
        return Api(s, shared_server).walk(select=["*", "COMMUNICATIONS"])


@pytest.fixture
def api(session: requests.Session, shared_server: EmulatorServer) -> Api:
    return Api(session, shared_server)


@pytest.fixture
def make_api(session: requests.Session) -> Iterator[Callable[..., Api]]:
    """Factory of fresh (mutable) portals; all are stopped at teardown."""
    servers: list[EmulatorServer] = []

    def make(activities: int = 200, seed: int = 3, **options: Any) -> Api:
        options.setdefault("anchor", ANCHOR)
        options.setdefault("webhook_secret", SECRET)
        server = EmulatorServer(activities=activities, seed=seed, **options).start()
        servers.append(server)
        return Api(session, server)

    yield make
    for server in servers:
        server.stop()
