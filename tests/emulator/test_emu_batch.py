"""batch: commands, references, halt, the 50-command cap and the response sections."""

from __future__ import annotations

KEYSET = "crm.activity.list?order[ID]=ASC&filter[%3EID]={ref}&select[]=ID&start=-1"


def chain(first: int, count: int, prefix: str = "p") -> dict[str, str]:
    return {
        f"{prefix}{k}": KEYSET.format(ref=first if k == 0 else f"$result[{prefix}{k - 1}][49][ID]")
        for k in range(count)
    }


def test_chained_keyset_walk_equals_all_rows(api, shared_rows) -> None:
    ids: list[str] = []
    last = 0
    while True:
        body = api.call("batch", {"halt": 0, "cmd": chain(last, 50)})
        pages = body["result"]["result"]
        done = False
        for k in range(50):
            page = pages[f"p{k}"]
            ids += [r["ID"] for r in page]
            if len(page) < 50:
                done = True
                break
            last = int(page[-1]["ID"])
        if done:
            break
    assert ids == [r["ID"] for r in shared_rows]


def test_sections_and_time(api) -> None:
    body = api.call("batch", {"halt": 0, "cmd": chain(0, 3)})
    result = body["result"]
    assert list(result) == ["result", "result_error", "result_total", "result_next", "result_time"]
    assert result["result_error"] == [] and result["result_next"] == []
    assert result["result_total"] == {"p0": 0, "p1": 0, "p2": 0}
    assert set(result["result_time"]) == {"p0", "p1", "p2"}
    assert "operating" in result["result_time"]["p0"]
    assert set(body) == {"result", "time"}


def test_list_cmd_and_numeric_keys_give_json_lists(api) -> None:
    cmd = ["server.time", "crm.activity.list?start=0&select[]=ID", "profile"]
    result = api.result("batch", {"cmd": cmd})
    assert isinstance(result["result"], list) and len(result["result"]) == 3
    assert result["result_total"] == {"1": 1200}
    assert result["result_next"] == {"1": 50}
    result = api.result("batch", {"cmd": {"0": "server.time", "1": "profile"}})
    assert isinstance(result["result"], list)


def test_next_and_total_references(api, shared_rows) -> None:
    cmd = {
        "a": "crm.activity.list?order[ID]=ASC&select[]=ID&start=0",
        "b": "crm.activity.list?order[ID]=ASC&select[]=ID&start=$next[a]",
        "c": "crm.activity.get?id=$result[a][0][ID]",
        "d": "crm.activity.list?filter[>ID]=$total[a]&select[]=ID&order[ID]=ASC&start=-1",
        "e": "crm.activity.list?filter[>ID]=x$result[a][0][ID]x&select[]=ID&start=-1",
    }
    result = api.result("batch", {"cmd": cmd})
    assert result["result"]["b"][0]["ID"] == shared_rows[50]["ID"]
    assert result["result"]["c"]["ID"] == shared_rows[0]["ID"]
    assert all(int(r["ID"]) > 1200 for r in result["result"]["d"])
    assert result["result_error"] == []


def test_unresolvable_reference_passes_literal_text(api, shared_rows) -> None:
    cmd = {
        "a": KEYSET.format(ref=int(shared_rows[-3]["ID"])),  # 2 rows: no [49]
        "b": KEYSET.format(ref="$result[a][49][ID]"),  # literal -> intval 0 -> restart
        "c": KEYSET.format(ref="$result[missing][0][ID]"),
    }
    result = api.result("batch", {"cmd": cmd})
    assert len(result["result"]["a"]) == 2
    first_page = [r["ID"] for r in shared_rows[:50]]
    assert [r["ID"] for r in result["result"]["b"]] == first_page
    assert [r["ID"] for r in result["result"]["c"]] == first_page


def test_halt(api) -> None:
    cmd = {"a": "server.time", "b": "no.such.method", "c": "profile"}
    result = api.result("batch", {"halt": 0, "cmd": cmd})
    assert set(result["result"]) == {"a", "c"}
    assert result["result_error"]["b"]["error"] == "ERROR_METHOD_NOT_FOUND"
    for halt in (1, "1", True, "false", "yes"):
        result = api.result("batch", {"halt": halt, "cmd": cmd})
        assert set(result["result"]) == {"a"} and set(result["result_error"]) == {"b"}, halt
    for halt in (0, "0", "", False):
        result = api.result("batch", {"halt": halt, "cmd": cmd})
        assert set(result["result"]) == {"a", "c"}, halt
    result = api.result("batch", {"HALT": 1, "CMD": cmd})  # keys are case-insensitive
    assert set(result["result"]) == {"a"}


def test_fifty_command_cap(api) -> None:
    cmd = {f"c{k}": "server.time" for k in range(53)}
    body = api.call("batch", {"cmd": cmd})
    result = body["result"]
    assert len(result["result"]) == 50
    assert set(result["result_error"]) == {"c50", "c51", "c52"}
    assert result["result_error"]["c51"] == {
        "error": "ERROR_BATCH_LENGTH_EXCEEDED",
        "error_description": "Max batch length exceeded",
    }


def test_nested_batch_refused_per_command(api) -> None:
    result = api.result("batch", {"cmd": {"a": "batch?cmd[x]=profile", "b": "profile"}})
    assert result["result_error"]["a"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    assert "b" in result["result"]


def test_empty_and_form_encoded_batch(api) -> None:
    result = api.result("batch", {})
    assert result == {
        "result": [],
        "result_error": [],
        "result_total": [],
        "result_next": [],
        "result_time": [],
    }
    body = api.raw(
        "batch",
        data={"cmd[t]": "crm.activity.list?filter[%3EID]=0&select[]=ID&start=-1", "halt": "0"},
    ).json()
    assert len(body["result"]["result"]["t"]) == 50


def test_plus_must_be_percent_encoded(api) -> None:
    cmd = {
        "plain": "crm.activity.list?filter[%SUBJECT]=+7&select[]=SUBJECT&start=-1",
        "encoded": "crm.activity.list?filter[%25SUBJECT]=%2B7&select[]=SUBJECT&start=-1",
    }
    result = api.result("batch", {"cmd": cmd})["result"]
    assert result["encoded"] and all("+7" in r["SUBJECT"] for r in result["encoded"])
    assert [r["SUBJECT"] for r in result["plain"]] != [r["SUBJECT"] for r in result["encoded"]]


def test_sub_call_errors_land_in_result_error(api) -> None:
    cmd = {
        "bad": "crm.activity.list?filter=notarray",
        "nf": "crm.activity.binding.list?activityId=4",
        "ok": "server.time",
    }
    response = api.raw("batch", {"cmd": cmd})
    assert response.status_code == 200
    errors = response.json()["result"]["result_error"]
    assert errors["bad"] == {"error": "", "error_description": "Parameter 'filter' must be array."}
    assert errors["nf"]["error"] == "NOT_FOUND"
