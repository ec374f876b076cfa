"""The spill: request-log records the store could not take, kept on local disk until it can.

Records go to append-only segment files (msgspec JSON, one record a line) under ``<data_dir>/spill``, each
append fsynced, so a record accepted while the database is down survives a crash of the gateway. Segment names
start with a nanosecond timestamp, so sorting them by name replays them oldest first.

Several gateway processes may share a data directory. A process holds an exclusive ``flock`` on the segment it
is appending to; replay only takes segments it can lock, so it never deletes a file another process is still
writing. Two processes replaying the same sealed segment at once store nothing twice: the stores insert records
only if their ``log_id`` is absent.

Every method blocks (file I/O, fsync): the writer calls them on a thread, never on the event loop.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import msgspec

from switchyard.types.logs import RequestLog

log = logging.getLogger("switchyard.storage")

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(RequestLog).decode


class Spill:
    def __init__(self, directory: Path, *, max_segment_bytes: int = 64 * 1024 * 1024) -> None:
        self.directory = directory
        self._max_segment_bytes = max_segment_bytes
        self._current: BinaryIO | None = None
        self._current_bytes = 0
        self._names = itertools.count()
        self.spilled = 0  # records appended by this process
        self.replayed = 0  # records read back and stored
        self.torn = 0  # lines that could not be decoded (a crash mid-append), skipped

    def append(self, records: Sequence[RequestLog]) -> None:
        """Append and fsync; raise ``OSError`` when the disk refuses (the caller keeps the records)."""
        if self._current is None or self._current_bytes >= self._max_segment_bytes:
            self._open_segment()
        assert self._current is not None
        data = b"".join(_encode(record) + b"\n" for record in records)
        try:
            self._current.write(data)
            self._current.flush()
            os.fsync(self._current.fileno())
        except OSError:
            # A partial line may be on disk: start the next append in a new segment so only this one is torn.
            self.seal()
            raise
        self._current_bytes += len(data)
        self.spilled += len(records)

    def _open_segment(self) -> None:
        self.seal()
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._names)}.jsonl"
        handle = (self.directory / name).open("ab")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        # The new name must be durable too, or a crash could keep the data and lose the file.
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._current, self._current_bytes = handle, 0

    def seal(self) -> None:
        """Close the segment being appended to (releasing its lock), so replay can take it."""
        if self._current is not None:
            self._current.close()
            self._current = None

    def segments(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.jsonl"))

    def pending(self) -> bool:
        return bool(self.segments())

    def claim(self, path: Path) -> BinaryIO | None:
        """Open and lock a sealed segment; None when another process still appends to it (or it is gone)."""
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        return handle

    def read(self, handle: BinaryIO) -> list[RequestLog]:
        records = []
        for line in handle.read().splitlines():
            if not line.strip():
                continue
            try:
                records.append(_decode(line))
            except msgspec.DecodeError:
                # Only the last line of a segment can be torn (appends are whole lines, then fsync).
                self.torn += 1
                log.warning("skipped an unreadable line in request-log spill segment %s", handle.name)
        return records

    def remove(self, path: Path, handle: BinaryIO) -> None:
        path.unlink(missing_ok=True)
        handle.close()

    def release(self, handle: BinaryIO) -> None:
        handle.close()
