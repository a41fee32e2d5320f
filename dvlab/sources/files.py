"""Reading one file source: compression, sanity checks, and lines with numbers.

Compression is told by magic bytes, not by the name. Lines come out in
chunks of Arrow strings that share the decompressed buffer (no copy per
line), numbered from 1, with the byte offset where each chunk starts, so an
ingest can resume mid-file. A final line without a newline is still a line.
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from dvlab.errors import BadInputError, SourceReadError

CHUNK_BYTES = 32 << 20
HEAD_BYTES = 4096
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class LineChunk:
    """Consecutive lines: ``lines[i]`` is line ``first_line + i`` and starts at ``offsets[i]``.

    Each string keeps its line ending (the JSON reader does not mind; text
    parsers strip it). ``offsets`` are byte offsets in the decompressed stream.
    """

    first_line: int
    offsets: np.ndarray
    lines: pa.LargeStringArray

    def __len__(self) -> int:
        return len(self.lines)


def compression_of(path: Path) -> str:
    """``gzip``, ``zstd`` or ``none``, from the first bytes."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic.startswith(GZIP_MAGIC):
        return "gzip"
    if magic.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def duckdb_path(path: Path | str) -> str:
    """``path`` as DuckDB's file readers must be given it to open that file alone: they
    take ``*``, ``?`` and ``[`` as a glob, so each is put in a class of its own
    (``a[1].jsonl`` becomes ``a[[]1].jsonl``; a file ``a1.jsonl`` beside it is not read)."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in str(path))


def open_stream(path: Path) -> BinaryIO:
    """The decompressed bytes of ``path``; errors name the file and what is wrong."""
    name = str(path)
    if not path.exists():
        if any(ch in name for ch in "*?["):
            raise SourceReadError(name, "no such file, and as a pattern it matches none")
        if path.is_symlink():
            raise SourceReadError(name, _broken_link(path))
        raise SourceReadError(name, "no such file")
    if path.is_dir():
        raise SourceReadError(name, "is a folder, not a file")
    if not path.is_file():
        # opening a FIFO would wait for a writer; a source is read several times over anyway
        raise SourceReadError(name, "is not a regular file (a FIFO, socket or device)")
    if not os.access(path, os.R_OK):
        raise SourceReadError(name, "permission denied (cannot read the file)")
    try:
        kind = compression_of(path)
        if kind == "gzip":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        if kind == "zstd":
            return _ZstdReader(open(path, "rb"), name)  # type: ignore[return-value]
        return open(path, "rb", buffering=0)
    except PermissionError:
        raise SourceReadError(name, "permission denied (cannot read the file)") from None
    except OSError as exc:
        raise SourceReadError(name, f"cannot open: {exc.strerror or exc}") from exc


def _broken_link(path: Path) -> str:
    """What is wrong with the symbolic link ``path``, which leads to no file."""
    try:
        path.resolve(strict=True)
    except RuntimeError:  # a loop, as Python before 3.13 says it
        return "a symbolic link that loops back to itself"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link that loops back to itself"
    return "a symbolic link to no such file"


class _ZstdReader(io.RawIOBase):
    """Decompressed bytes of a zstd file, frame after frame.

    zstandard's stream reader returns nothing, without an error, for a frame
    cut short; this one says the file is truncated.
    """

    def __init__(self, raw: BinaryIO, source: str):
        import zstandard

        self._zstd = zstandard
        self._raw = raw
        self._source = source
        self._frame = zstandard.ZstdDecompressor().decompressobj()
        self._pending = b""
        self._started = False  # a frame has begun and not yet ended

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = size if size >= 0 else 1 << 62
        while len(self._pending) < want:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                if self._started and not self._frame.eof:
                    raise SourceReadError(
                        self._source, "compressed data ends early (truncated file?)"
                    )
                break
            self._feed(chunk)
        out, self._pending = self._pending[:want], self._pending[want:]
        return out

    def _feed(self, chunk: bytes) -> None:
        while chunk:
            self._started = True
            self._pending += self._frame.decompress(chunk)
            if not self._frame.eof:
                return
            chunk = self._frame.unused_data  # the next frame, if any
            self._frame = self._zstd.ZstdDecompressor().decompressobj()
            self._started = False

    def close(self) -> None:
        self._raw.close()
        super().close()


def read_block(stream: BinaryIO, size: int, source: str) -> bytes:
    """Up to ``size`` bytes; a damaged compressed stream becomes a SourceReadError."""
    try:
        return stream.read(size)
    except EOFError:
        raise SourceReadError(source, "compressed data ends early (truncated file?)") from None
    except SourceReadError:
        raise
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise SourceReadError(source, f"corrupt gzip data: {exc}") from None
    except OSError as exc:
        if type(exc).__module__.startswith("zstandard") or "zstd" in str(exc).lower():
            raise SourceReadError(source, f"corrupt zstd data: {exc}") from None
        raise SourceReadError(source, f"read failed: {exc}") from None
    except Exception as exc:  # zstandard raises its own ZstdError, a plain Exception subclass
        if type(exc).__name__ == "ZstdError":
            raise SourceReadError(source, f"corrupt zstd data: {exc}") from None
        raise


def read_bytes(path: Path, source: str) -> bytes:
    """A whole file (plain, .gz or .zst), decompressed."""
    chunks = []
    with open_stream(path) as stream:
        while block := read_block(stream, CHUNK_BYTES, source):
            chunks.append(block)
    return b"".join(chunks)


def read_text(path: Path, source: str, *, what: str) -> str:
    """A whole file (plain, .gz or .zst) as UTF-8 text, for a reader that takes files whole.

    A byte that is not UTF-8 raises BadInputError naming its line and saying
    that ``what`` (such as "a Prometheus scrape") is UTF-8.
    """
    data = read_bytes(path, source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(
            f"not UTF-8 text (byte {exc.start}); {what} is UTF-8",
            source=source,
            line=data.count(b"\n", 0, exc.start) + 1,
        ) from None


def one_json_document(head: bytes) -> bool:
    """Whether a file starting with ``head`` (a JSON object's start) may hold one JSON
    document rather than JSON lines: its first line is not a whole JSON value with more
    after it."""
    first, newline, rest = head.lstrip().partition(b"\n")
    if newline and rest.strip():
        try:
            json.loads(first)
        except ValueError:
            return True  # the object goes on past its first line
        return False  # a whole object a line: JSON lines
    return True


#: the byte of a hole in a text file (a file truncated under a writer that went on at its
#: old offset, or blocks a crash left unwritten): NULs a line starts with are no part of it,
#: and the line after such a hole starts with them
HOLE = "\x00"
#: a run of NULs this long is a hole, not data
_NUL_HOLE = re.compile(rb"\x00{8,}")


def looks_binary(head: bytes) -> bool:
    """True when the first bytes are mostly not text: more than one in ten of them control
    bytes (NULs among them, but for runs of NULs, which text files hold after a crash or
    a truncation), as in UTF-16 text, an executable or a compressed file."""
    sample = _NUL_HOLE.sub(b"", head[:4096])
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return control > len(sample) * 0.1


def utf16(head: bytes) -> bool:
    """Whether ``head`` is UTF-16 text: it starts with the byte-order mark, or (mostly
    ASCII written so) every other byte of it is a NUL and the bytes between are not."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    sample = head[:4096]
    if len(sample) < 16:
        return False
    evens, odds = sample[0::2], sample[1::2]
    nuls_even, nuls_odd = evens.count(0) / len(evens), odds.count(0) / len(odds)
    return max(nuls_even, nuls_odd) >= 0.9 and min(nuls_even, nuls_odd) <= 0.1


class Bounded:
    """The next ``limit`` bytes of ``stream`` and no more: a file a writer keeps appending
    to is read as far as it reached when the read began, the rest left for the next."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self.stream = stream
        self.left = max(0, limit)

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.stream.read(self.left if size < 0 else min(size, self.left))
        self.left -= len(data)
        return data


def skip_bytes(stream: BinaryIO, count: int, source: str) -> None:
    """Read and drop ``count`` bytes (compressed streams cannot seek cheaply)."""
    left = count
    while left > 0:
        block = read_block(stream, min(left, CHUNK_BYTES), source)
        if not block:
            raise SourceReadError(source, f"ended {left} bytes before the resume point")
        left -= len(block)


def iter_line_chunks(
    stream: BinaryIO,
    *,
    source: str,
    start_offset: int = 0,
    start_line: int = 1,
    chunk_bytes: int = CHUNK_BYTES,
    on_bytes=None,
) -> Iterator[LineChunk]:
    """Split the stream (already positioned at ``start_offset``) into numbered lines.

    ``on_bytes(block)`` sees every byte read, in order (for hashing, progress).
    """
    carry = b""
    offset = start_offset  # offset of carry[0]
    line = start_line
    while True:
        block = read_block(stream, chunk_bytes, source)
        if on_bytes is not None and block:
            on_bytes(block)
        if not block:
            if carry:
                yield _chunk(carry, np.zeros(1, dtype=np.int64), len(carry), offset, line)
            return
        data = carry + block if carry else block
        view = np.frombuffer(data, dtype=np.uint8)
        newlines = np.flatnonzero(view == 10)
        if len(newlines) == 0:
            carry = data
            continue
        ends = newlines + 1
        starts = np.empty(len(ends), dtype=np.int64)
        starts[0] = 0
        starts[1:] = ends[:-1]
        used = int(ends[-1])
        yield _chunk(data, starts, used, offset, line)
        line += len(starts)
        offset += used
        carry = data[used:]


def _chunk(data: bytes, starts: np.ndarray, used: int, offset: int, line: int) -> LineChunk:
    bounds = np.empty(len(starts) + 1, dtype=np.int64)
    bounds[:-1] = starts
    bounds[-1] = used
    strings = pa.LargeStringArray.from_buffers(
        len(starts), pa.py_buffer(bounds), pa.py_buffer(data)
    )
    return LineChunk(first_line=line, offsets=starts + offset, lines=strings)


def decode_line(raw: str) -> str:
    """A line without its ending."""
    return raw.rstrip("\r\n")


def peek_head(path: Path) -> bytes:
    """The first HEAD_BYTES decompressed bytes (for detection and identity)."""
    with open_stream(path) as stream:
        buf = io.BytesIO()
        while buf.tell() < HEAD_BYTES:
            block = read_block(stream, HEAD_BYTES - buf.tell(), str(path))
            if not block:
                break
            buf.write(block)
        return buf.getvalue()


def shown_name(name: str) -> str:
    """``name`` as text: a file name whose bytes are not UTF-8 (kept by Python as
    surrogates) with each such byte written ``\\xHH``; any other name as it is."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return name
