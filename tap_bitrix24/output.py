"""How Singer messages leave the tap: the SDK's msgspec writer, flushed at STATE, not per record.

The SDK's writers flush stdout after every message: one ``write`` system call per RECORD (and
with ``PYTHONUNBUFFERED``, which Meltano and many containers set, stdout has no buffer at all).
Here RECORD messages collect in a buffer written out every 64 KiB, and every other message
(SCHEMA, STATE, ACTIVATE_VERSION) first writes out the records before it and is flushed at once:
a STATE never reaches the target before the records it covers. Records after the last STATE are
written at exit, failed or not; if the process is killed first, the next run reads them again
(the STATE the target holds does not cover them).
"""

from __future__ import annotations

import atexit
import sys
import weakref

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.encoding.simple import Message
from typing_extensions import override

#: Bytes of RECORD messages held before they are written (a few dozen records).
BUFFER_BYTES = 64 * 1024


class BufferedMsgSpecWriter(MsgSpecWriter):
    """The SDK's msgspec writer; RECORD messages buffered, every other one flushed."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        atexit.register(_flush_at_exit, weakref.ref(self))  # weak: a writer gone holds nothing

    @override
    def write_message(self, message: Message) -> None:
        """Write one message; RECORD messages wait in the buffer."""
        pending = self._pending
        pending += self.format_message(message)  # the encoder reuses its buffer: copy now
        if len(pending) >= BUFFER_BYTES or not isinstance(message, RecordMessage):
            self.flush()

    def flush(self) -> None:
        """Write out what is held, and flush stdout."""
        if self._pending:
            sys.stdout.buffer.write(self._pending)
            self._pending.clear()
        sys.stdout.flush()


def _flush_at_exit(writer: weakref.ref[BufferedMsgSpecWriter]) -> None:
    """Write what a failed sync still held, when the process ends."""
    alive = writer()
    if alive is not None:
        alive.flush()
