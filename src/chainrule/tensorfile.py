"""The safetensors file format, written and read by chainrule itself, with every size checked first.

A safetensors file is an 8-byte little-endian header length ``n``, ``n`` bytes of JSON (each tensor's
dtype, shape and byte range, and a ``__metadata__`` map of strings), then the tensors' bytes, one
after another. The reader trusts nothing: the header must be small, shallow JSON of exactly that
shape, the byte ranges must tile the data exactly, and the file must hold exactly that many bytes,
all checked before a byte of tensor data is read; data is read tensor by tensor, never more than
the header declares. bfloat16 tensors (common in published models) are widened to float32, which
is exact.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import stat

import numpy as np

from chainrule.fileio import load_json

MAX_HEADER_BYTES = 100_000_000      # the limit of the safetensors library itself
CHUNK = 16 << 20                    # a stream of unknown length is read this much at a time

# safetensors dtype -> NumPy dtype (little-endian, as the format stores it)
DTYPES = {"BOOL": np.dtype(np.bool_), "U8": np.dtype("u1"), "I8": np.dtype("i1"), "U16": np.dtype("<u2"),
          "I16": np.dtype("<i2"), "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "U64": np.dtype("<u8"),
          "I64": np.dtype("<i8"), "F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
          "BF16": np.dtype("<u2")}  # bfloat16: read as its 16 bits, widened to float32 below
CODES = {np.dtype(v).str.lstrip("<|"): k for k, v in DTYPES.items() if k != "BF16"}


class TensorFileError(ValueError):
    """A safetensors file is damaged or not one; the message names the file."""


def code_of(a: np.ndarray) -> str | None:
    """The safetensors dtype name of an array, or None if the format cannot hold it."""
    return CODES.get(a.dtype.str.lstrip("<>|=")) if a.dtype.kind in "biuf" else None


def canonical(header: dict) -> bytes:
    """One byte string for a parsed header, the same however its JSON was spaced or ordered."""
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def layout(arrays: dict, metadata: dict | None = None) -> tuple[dict, list]:
    """(header, [arrays in file order]) for ``arrays`` {name: ndarray}: the largest items first, as the
    safetensors library orders them, so that every tensor starts aligned."""
    header, order, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name in sorted(arrays, key=lambda k: (-arrays[k].dtype.itemsize, k)):
        a = arrays[name]
        code = code_of(a)
        if code is None:
            raise TypeError(f"safetensors: cannot store tensor {name!r} of dtype {a.dtype}")
        a = np.require(a, a.dtype.newbyteorder("<"), "C")  # (ascontiguousarray makes a 0-d array 1-d)
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        order.append(a)
    return header, order


def data_digest(arrays: list):
    """SHA-256 of the tensors' bytes, in file order."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(a.reshape(-1).view(np.uint8))
    return h


def chunks(header: dict, arrays: list) -> list:
    """The file's bytes, piece by piece (header first, then each array without a copy)."""
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as the library writes it
    if len(text) > MAX_HEADER_BYTES:
        raise ValueError(f"safetensors: a header of {len(text)} bytes, more than the {MAX_HEADER_BYTES} a reader "
                         f"accepts; store the numbers as arrays")
    return [len(text).to_bytes(8, "little") + text] + [a.reshape(-1).view(np.uint8) for a in arrays]


def to_bytes(arrays: dict, metadata: dict | None = None) -> bytes:
    return b"".join(bytes(c) for c in chunks(*layout(arrays, metadata)))


def _remaining(f) -> int | None:
    """How many bytes are left to read in the binary file object ``f``, if that can be known."""
    try:
        st = os.fstat(f.fileno())
        if stat.S_ISREG(st.st_mode):
            return st.st_size - f.tell()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    try:
        if f.seekable():
            here = f.tell()
            end = f.seek(0, io.SEEK_END)
            f.seek(here)
            return end - here
    except (AttributeError, OSError, ValueError):
        pass
    return None


def _read(f, n: int, known: bool, where, what: str) -> bytearray:
    """Exactly ``n`` bytes of ``f`` into a new (writable) buffer; the file's length is ``known`` to hold
    them, or else the buffer grows only as bytes arrive, so a short stream cannot make us allocate ``n``."""
    if known:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            k = f.readinto(view[got:]) if hasattr(f, "readinto") else None
            if k is None:
                piece = f.read(n - got)
                k = len(piece)
                view[got:got + k] = piece
            if not k:
                break
            got += k
        view.release()
        if got == n:
            return buf
    else:
        buf = bytearray()
        while len(buf) < n:
            piece = f.read(min(CHUNK, n - len(buf)))
            if not piece:
                break
            buf += piece
        if len(buf) == n:
            return buf
        got = len(buf)
    raise TensorFileError(f"{where}: ends after {got} of the {n} bytes of {what}; the file is truncated")


def read_header(f, where, size: int | None = None) -> tuple[dict, dict, list]:
    """(header, metadata, [(name, dtype code, shape, begin, end)] in file order) of the safetensors
    file ``f``, positioned at its start; ``size`` is the file's length when known. Every check that
    needs no tensor data is made here."""
    def bad(why):
        raise TensorFileError(f"{where}: {why}")

    head = bytes(_read(f, 8, False, where, "the header length"))
    n = int.from_bytes(head, "little")
    if n > MAX_HEADER_BYTES or (size is not None and n > size - 8):
        have = f", the file has {size - 8} after the length" if size is not None else ""
        bad(f"declares a header of {n} bytes{have}; not a safetensors file, or damaged")
    if n < 2:
        bad(f"declares a header of {n} bytes; not a safetensors file, or damaged")
    raw = _read(f, n, size is not None, where, "the header")
    if raw[:1] != b"{":
        bad("the header is not a JSON object; not a safetensors file, or damaged")
    header = load_json(raw, where, TensorFileError, max_depth=3)  # {name: {shape: [..]}} is 3 deep
    if not isinstance(header, dict):
        bad("the header is not a JSON object")
    meta = header.get("__metadata__") or {}  # absent or null: none
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        bad("the header's __metadata__ is not a map of strings")
    entries = []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if not (isinstance(e, dict) and set(e) == {"dtype", "shape", "data_offsets"}):
            bad(f"tensor {name[:80]!r}: expected dtype, shape and data_offsets")
        code, shape, span = e["dtype"], e["shape"], e["data_offsets"]
        if not isinstance(code, str):
            bad(f"tensor {name[:80]!r}: dtype is not a name")
        if code not in DTYPES:
            bad(f"tensor {name[:80]!r} has dtype {code[:20]}, which chainrule cannot hold (it reads "
                f"{', '.join(DTYPES)})")
        ok = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0  # noqa: E731
        if not (isinstance(shape, list) and len(shape) <= 64 and all(ok(d) for d in shape)):
            bad(f"tensor {name[:80]!r}: shape is not a list of at most 64 sizes")
        if not (isinstance(span, list) and len(span) == 2 and all(ok(v) for v in span) and span[0] <= span[1]):
            bad(f"tensor {name[:80]!r}: data_offsets is not [begin, end]")
        need = math.prod(shape) * DTYPES[code].itemsize
        if span[1] - span[0] != need:
            bad(f"tensor {name[:80]!r} of shape {tuple(shape)} needs {need} bytes, its data_offsets span "
                f"{span[1] - span[0]}")
        entries.append((name, code, tuple(shape), span[0], span[1]))
    entries.sort(key=lambda t: (t[3], t[4]))
    end = 0
    for name, _, _, begin, stop in entries:
        if begin != end:
            bad(f"tensor {name[:80]!r} starts at byte {begin} of the data, expected {end} (the tensors must "
                f"follow one another without gaps or overlaps)")
        end = stop
    if size is not None and size - 8 - n != end:
        bad(f"the header declares {end} bytes of tensor data, the file holds {size - 8 - n}; the file is "
            f"truncated, extended or damaged")
    return header, meta, entries


def read(f, where, size: int | None = None, digest=None) -> tuple[dict, dict, dict]:
    """(header, metadata, {name: ndarray}) of the safetensors file object ``f`` (at its start).

    ``size``: the file's length if the caller knows it (else it is found out where possible);
    ``digest``: a hashlib object fed the tensors' bytes in file order. Raises
    :class:`TensorFileError` naming ``where`` for anything that is not a whole, valid file.
    """
    if isinstance(f.read(0), str):
        raise TensorFileError(f"{where}: opened in text mode; open it in binary mode ('rb')")
    if size is None:
        size = _remaining(f)
    header, meta, entries = read_header(f, where, size)
    arrays = {}
    for name, code, shape, begin, stop in entries:
        buf = _read(f, stop - begin, size is not None, where, f"tensor {name[:80]!r}")
        if digest is not None:
            digest.update(buf)
        a = np.frombuffer(buf, DTYPES[code])
        if code == "BF16":  # the upper half of a float32: widening is exact
            a = (a.astype(np.uint32) << 16).view(np.float32)
        elif code == "BOOL" and (a.view(np.uint8) > 1).any():
            raise TensorFileError(f"{where}: tensor {name[:80]!r} is BOOL but holds bytes other than 0 and 1; "
                                  f"the file is damaged")
        try:
            arrays[name] = a.reshape(shape)
        except (ValueError, OverflowError) as e:
            raise TensorFileError(f"{where}: tensor {name[:80]!r} has shape {shape}, which NumPy cannot "
                                  f"hold ({e})") from None
    if size is None and f.read(1):
        raise TensorFileError(f"{where}: holds more bytes after its last tensor; the file is damaged")
    return header, meta, arrays


def read_bytes(data: bytes, where) -> dict:
    """{name: ndarray} of a safetensors file held in memory."""
    return read(io.BytesIO(data), where, len(data))[2]
