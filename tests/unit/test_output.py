"""The writer holds RECORD messages and writes them out, in order, before any other message."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stdout

from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_bitrix24.output import BUFFER_BYTES, BufferedMsgSpecWriter


def _stdout() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8")


def _written(out: io.TextIOWrapper) -> list[dict]:
    raw = out.buffer.getvalue()  # type: ignore[attr-defined]
    return [json.loads(line) for line in raw.decode().splitlines()]


def test_records_wait_for_the_state_that_covers_them() -> None:
    writer = BufferedMsgSpecWriter()
    out = _stdout()
    with redirect_stdout(out):
        for ident in (1, 2, 3):
            writer.write_message(RecordMessage(stream="s", record={"ID": ident}))
        assert _written(out) == []  # held: no write per record
        writer.write_message(StateMessage(value={"bookmarks": {"s": {"id": 3}}}))
        messages = _written(out)
    assert [m["type"] for m in messages] == ["RECORD", "RECORD", "RECORD", "STATE"]
    assert [m["record"]["ID"] for m in messages[:3]] == [1, 2, 3]


def test_a_full_buffer_is_written_without_waiting() -> None:
    writer = BufferedMsgSpecWriter()
    out = _stdout()
    big = "x" * 1000
    count = BUFFER_BYTES // 1000 + 1
    with redirect_stdout(out):
        for ident in range(count):
            writer.write_message(RecordMessage(stream="s", record={"ID": ident, "v": big}))
        messages = _written(out)
        writer.flush()
        assert len(_written(out)) == count
    assert 0 < len(messages) <= count
    assert [m["record"]["ID"] for m in messages] == list(range(len(messages)))


def test_records_held_when_the_process_fails_are_written_at_exit() -> None:
    code = (
        "from singer_sdk.singerlib import RecordMessage\n"
        "from tap_bitrix24.output import BufferedMsgSpecWriter\n"
        "writer = BufferedMsgSpecWriter()\n"
        "writer.write_message(RecordMessage(stream='s', record={'ID': 1}))\n"
        "raise RuntimeError('the sync failed')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "the sync failed" in done.stderr
    assert [json.loads(line)["record"] for line in done.stdout.splitlines()] == [{"ID": 1}]
