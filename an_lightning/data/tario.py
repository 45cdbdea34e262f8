"""A minimal streaming tar reader, the first stage of the shard pipeline.

Written by hand because it is the hot loop: webdataset's reader goes through Python's
``tarfile`` and spends ~130 us per 128px sample parsing headers, as much CPU as decoding
the JPEG with libjpeg-turbo; parsing the 512-byte headers directly costs ~6 us
(``benchmarks/data_speed.py``). It reads ustar/GNU/PAX archives as written by
webdataset's ``TarWriter`` and ``tarfile``, verifies header checksums (a corrupt shard
fails loudly instead of yielding garbage) and groups members into samples like
webdataset (``<key>.<ext>``). Streams are opened with webdataset's ``gopen``, so local
paths, ``pipe:`` and URLs work as before.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO

from webdataset.gopen import gopen

BLOCK = 512
_ZERO = bytes(BLOCK)
_REGULAR = (b"0", b"\0", b"7")
# name, size, checksum, type flag, magic, prefix: the ustar fields read, in one unpack
_FIELDS = struct.Struct("100s24x12s12x8s1s100x5s83x155s12x")
_KEY_EXT = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")  # webdataset's base_plus_ext


class TarFormatError(ValueError):
    """The stream is not a valid tar archive (or is corrupt)."""


def _read_exact(stream: IO[bytes], size: int, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError(f"unexpected end of data in {what} (truncated tar)")
    return data


def _number(field: bytes) -> int:
    if field[0] & 0x80:  # GNU base-256 for sizes >= 8 GiB
        return int.from_bytes(field[1:], "big")
    digits = field.rstrip(b"\0 ")  # int() itself skips leading spaces
    return int(digits, 8) if digits else 0


def _byte_sum(header: bytes) -> int:
    """Exact sum of the 512 bytes, in C: adler32 gives it modulo 65521 and the bytes read
    as a little-endian integer give it modulo 255 (256 = 1 mod 255); the largest possible
    sum, 512 * 255, is below 2 * 65521, so at most one of the two candidates fits both.
    (Python's ``sum`` over a header took 2.2 us, 3 headers per sample.)"""
    total = ((zlib.adler32(header) & 0xFFFF) - 1) % 65521
    if (total - int.from_bytes(header, "little")) % 255:
        total += 65521
    return total


def _parse_header(header: bytes) -> tuple[str, int, bytes]:
    name, size, checksum, kind, magic, prefix = _FIELDS.unpack(header)
    if _number(checksum) != _byte_sum(header) - sum(checksum) + 8 * 32:  # field as spaces
        raise TarFormatError("bad tar header checksum (corrupt shard)")
    name = name.split(b"\0", 1)[0]
    if magic == b"ustar" and prefix[0]:
        name = prefix.split(b"\0", 1)[0] + b"/" + name
    return name.decode("utf-8", "surrogateescape"), _number(size), kind


def _pax_path(data: bytes) -> str | None:
    for record in data.decode("utf-8", "surrogateescape").splitlines():
        _, _, keyvalue = record.partition(" ")
        key, _, value = keyvalue.partition("=")
        if key == "path":
            return value
    return None


def tar_members(stream: IO[bytes]) -> Iterator[tuple[str, bytes]]:
    """(name, data) of each regular file; raises on truncation or corrupt headers."""
    long_name: str | None = None
    while True:
        header = stream.read(BLOCK)
        if not header or header == _ZERO:
            return
        if len(header) < BLOCK:
            raise EOFError("unexpected end of data in a tar header (truncated tar)")
        name, size, kind = _parse_header(header)
        data = _read_exact(stream, size, name)
        _read_exact(stream, -size % BLOCK, name)
        if kind == b"L":  # GNU long name for the next member
            long_name = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
        elif kind == b"x":  # PAX extended header for the next member
            long_name = _pax_path(data) or long_name
        elif kind in _REGULAR:
            yield long_name or name, data
            long_name = None
        elif kind != b"g":
            long_name = None  # directories, links, devices: skipped


def tar_samples(
    sources: Iterable[dict],
    handler: Callable[[Exception], bool],
    expected: Mapping[str, int] | None = None,
) -> Iterator[dict]:
    """Pipeline stage: ``{"url": ...}`` -> ``{"__key__", "__url__", "<ext>": bytes}``.

    On a broken shard the samples before the damage are delivered, the partial sample is
    dropped, and ``handler(exc)`` (with the shard URL appended to ``exc.args``) decides
    whether to continue with the next shard. ``exc.samples_lost`` says how many samples
    the damage cost: what ``expected[url]`` (the index's count) promised beyond those
    delivered, at least 1 (1 without ``expected``).
    """
    expected = expected or {}
    for source in sources:
        url = source["url"]
        sample: dict | None = None
        delivered = 0
        try:
            with gopen(url, bufsize=1 << 20) as stream:
                for name, data in tar_members(stream):
                    match = _KEY_EXT.match(name)
                    if match is None or name.startswith("__"):
                        continue
                    key, ext = match.groups()
                    if sample is None or sample["__key__"] != key:
                        if sample is not None:
                            delivered += 1
                            yield sample
                        sample = {"__key__": key, "__url__": url}
                    sample[ext.lower()] = data
            if sample is not None:
                yield sample
        except Exception as exc:
            exc.args = (*exc.args, url)
            exc.samples_lost = max(1, expected.get(url, 0) - delivered)
            if not handler(exc):
                return
