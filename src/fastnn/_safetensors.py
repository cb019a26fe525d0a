"""The safetensors checkpoint format, written atomically and read defensively; never pickle.

Layout: u64 little-endian N | N bytes of UTF-8 JSON header, space-padded so 8 + N is a
multiple of 8 | raw little-endian C-order tensor bytes. The header maps each name to
``{"dtype", "shape", "data_offsets": [begin, end)}`` (offsets relative to the end of the
header) plus an optional ``"__metadata__"`` dict of str → str. Tensors are laid out in
name order with no gaps. The loader follows reference/RELIABILITY.md §4 (the checks of
``safetensors/src/tensor.rs``) and raises ``SafetensorsError`` (a ``ValueError``) naming
the problem and the tensor; arithmetic on sizes uses Python ints, so nothing overflows.
JSON is parsed by ``loads_json`` (shared with fastnn.serialization's metadata): nesting,
integer literals and constants are bounded, so no header can exhaust the stack or raise
anything but a ValueError. The writer follows §5: temp file in the target's directory,
fsync, ``os.replace``, fsync of the directory; on any error the temp file is removed and
the old file is untouched.
"""
from __future__ import annotations

import errno
import json
import math
import os
import stat
import sys
import tempfile

import numpy as np

__all__ = ["SafetensorsError", "save_file", "load_file", "loads_json", "MAX_HEADER_BYTES"]

MAX_HEADER_BYTES = 100_000_000          # the reference loader's cap (HeaderTooLarge)
MAX_RANK = 8
MAX_JSON_DEPTH = 100                    # a header needs 3 levels, fastnn's configs and state trees < 30
# State trees (optimizer, trainer, callbacks) nest at most this deep: each level is stored as
# up to 3 JSON levels, so a tree within it always reads back under MAX_JSON_DEPTH.
MAX_STATE_DEPTH = 32
MAX_INT_DIGITS = 1000                   # under Python's 4300-digit int() limit; offsets need 20
_METADATA = "__metadata__"
_INFO_KEYS = {"dtype", "shape", "data_offsets"}

# safetensors code → little-endian numpy dtype; saving looks arrays up by (kind, itemsize).
_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"),
           "U64": np.dtype("<u8"), "I32": np.dtype("<i4"), "U8": np.dtype("u1")}
_CODES = {(dt.kind, dt.itemsize): code for code, dt in _DTYPES.items()}


class SafetensorsError(ValueError):
    """A safetensors file (or header) violates the format."""


def _check_path(path):
    """``path`` (str, bytes or os.PathLike) as a str. An int is refused: open() would take it for
    a file descriptor (load(0) would read stdin, then close it)."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str, bytes or os.PathLike file name, got {type(path).__name__}")
    path = os.fsdecode(os.fspath(path))
    if not path or "\0" in path:
        raise ValueError(f"path {path!r} is not a file name" + (" (it holds a NUL character)" if path else ""))
    return path


# ------------------------------------------------------------------------------ save

def _header_bytes(tensors, metadata):
    """(padded header, [(name, little-endian contiguous array)] in offset order)."""
    if not isinstance(tensors, dict):
        raise TypeError(f"tensors must be a dict[str, numpy.ndarray], got {type(tensors).__name__}")
    header, ordered, offset = {}, [], 0
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise TypeError("metadata must be a dict of str → str or None")
        for key, value in metadata.items():
            if not (isinstance(key, str) and isinstance(value, str)):
                raise TypeError("metadata must be a dict of str → str or None")
            _check_utf8(key, f"metadata key {key!r}")
            _check_utf8(value, f"metadata[{key!r}]")
        header[_METADATA] = metadata
    for name in tensors:
        if not isinstance(name, str) or not name:
            raise TypeError(f"tensor names must be non-empty str, got {name!r}")
        if name == _METADATA:
            raise ValueError(f"tensor name {_METADATA!r} is reserved")
        _check_utf8(name, f"tensor name {name!r}")
    for name in sorted(tensors):
        arr = tensors[name]
        if not isinstance(arr, np.ndarray) or isinstance(arr, np.ma.MaskedArray):
            raise TypeError(f"tensors[{name!r}] must be a numpy.ndarray, got {type(arr).__name__}"
                            + ("; a file cannot hold its mask: pass arr.filled(value)" if isinstance(arr, np.ndarray)
                               else ""))
        code = _CODES.get((arr.dtype.kind, arr.dtype.itemsize))
        if code is None:
            raise TypeError(f"tensors[{name!r}] has dtype {arr.dtype}; supported: float32, float64, "
                            f"int64, uint64, int32, uint8")
        if arr.ndim > MAX_RANK:
            raise ValueError(f"tensors[{name!r}] has rank {arr.ndim} (shape {arr.shape}); at most {MAX_RANK}")
        le = np.asarray(arr).astype(_DTYPES[code], order="C", copy=False)   # C order, little-endian
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + le.nbytes]}
        ordered.append((name, le))
        offset += le.nbytes
    raw = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError(f"header is {len(raw)} bytes, over the {MAX_HEADER_BYTES}-byte cap")
    return raw, ordered


def _check_utf8(text, what):
    """Refuse a str that UTF-8 cannot encode (a lone surrogate such as "\\ud800")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{what} is not valid Unicode ({e.reason} at position {e.start})") from None


def _new_file_mode(path):
    """Mode for the new file: the replaced file's, else 0o666 minus the umask (mkstemp gives 0o600)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)                 # read-only query: POSIX has no getter
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(directory):
    """Make the rename durable (ext4 can otherwise lose it in a crash); no-op where unsupported."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno != errno.EINVAL:        # filesystems that cannot sync a directory
            raise
    finally:
        os.close(fd)


def save_file(tensors, path, metadata=None):
    """Write ``tensors`` (name → ndarray) and ``metadata`` (str → str) to ``path`` atomically."""
    raw, ordered = _header_bytes(tensors, metadata)
    path = _check_path(path)
    if os.path.islink(path):
        path = os.path.realpath(path)               # replace the file a symlink names, not the link
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "cannot save to a directory; give a file name", path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"cannot save {path!r}: no such directory", directory)
    mode = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            f.write(len(raw).to_bytes(8, "little"))
            f.write(raw)
            for _, le in ordered:
                f.write(le.reshape(-1).view(np.uint8))     # buffer view, no copy
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)


# ------------------------------------------------------------------------------ load

def _reject_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _reject_constant(name):
    raise ValueError(f"the non-JSON constant {name}")


def _parse_int(literal):
    digits = len(literal) - literal.startswith("-")
    if digits > MAX_INT_DIGITS:                     # int() is quadratic, and its own limit is configurable
        raise ValueError(f"an integer literal of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(literal)


def _nests_deeper(obj, limit):
    """Whether a parsed JSON value has containers more than ``limit`` levels deep (breadth first:
    no recursion, and only containers are kept)."""
    level = [obj] if isinstance(obj, (dict, list)) else []
    for _ in range(limit):
        level = [e for c in level for e in (c.values() if isinstance(c, dict) else c) if isinstance(e, (dict, list))]
    return bool(level)


def loads_json(text):
    """json.loads for untrusted text: duplicate keys, NaN/Infinity, integer literals over
    MAX_INT_DIGITS digits and nesting deeper than MAX_JSON_DEPTH raise ValueError (never
    RecursionError), so what comes back is safe to walk recursively."""
    try:
        obj = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant,
                         parse_int=_parse_int)
        too_deep = _nests_deeper(obj, MAX_JSON_DEPTH)
    except RecursionError:
        too_deep = True
    if too_deep:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return obj


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _parse_header(raw):
    """Validated header → (entries sorted by offset: (name, dtype, shape, begin, end), metadata)."""
    try:
        text = raw.decode("utf-8")          # strict: invalid UTF-8 raises
    except UnicodeDecodeError as e:
        raise SafetensorsError(f"header is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    if not text.startswith("{"):
        raise SafetensorsError("header must be a JSON object starting with '{'")
    try:
        header = loads_json(text)
    except ValueError as e:
        raise SafetensorsError(f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"header must be a JSON object, got {type(header).__name__}")
    metadata = header.pop(_METADATA, {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError(f"{_METADATA} must be an object of string → string")
    entries = []
    for name, info in header.items():
        if not name:
            raise SafetensorsError("tensor with an empty name")
        if not isinstance(info, dict) or set(info) != _INFO_KEYS:
            raise SafetensorsError(f"tensor {name!r}: entry must be an object with exactly the keys "
                                   f"{sorted(_INFO_KEYS)}, got {info!r:.200}")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(code, str) or code not in _DTYPES:
            raise SafetensorsError(f"tensor {name!r}: unsupported dtype {code!r}; known: {sorted(_DTYPES)}")
        if (not isinstance(shape, list) or len(shape) > MAX_RANK
                or not all(_is_int(d) and d >= 0 for d in shape)):
            raise SafetensorsError(f"tensor {name!r}: shape must be a list of at most {MAX_RANK} "
                                   f"non-negative ints, got {shape!r:.200}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise SafetensorsError(f"tensor {name!r}: data_offsets must be [begin, end] with "
                                   f"0 <= begin <= end, got {offsets!r:.200}")
        begin, end = offsets
        nbytes = math.prod(shape) * _DTYPES[code].itemsize      # Python ints: exact
        if nbytes != end - begin:
            raise SafetensorsError(f"tensor {name!r}: shape {shape} of {code} needs {nbytes} bytes but "
                                   f"data_offsets [{begin}, {end}] span {end - begin}")
        if math.prod(d for d in shape if d) * _DTYPES[code].itemsize > sys.maxsize:   # numpy's limit, 0 dims aside
            raise SafetensorsError(f"tensor {name!r}: shape {shape} of {code} is too large for an array")
        entries.append((name, _DTYPES[code], tuple(shape), begin, end))
    entries.sort(key=lambda e: (e[3], e[4]))
    return entries, metadata


def _check_layout(entries, data_len):
    """Tensors tile [0, data_len) exactly: no gap, no overlap, no trailing bytes."""
    prev_name, prev_end = None, 0
    for name, _, _, begin, end in entries:
        if begin != prev_end:
            what = "overlaps" if begin < prev_end else "leaves a gap after"
            where = f"tensor {prev_name!r}, which ends at {prev_end}" if prev_name else "the header (offset 0)"
            raise SafetensorsError(f"tensor {name!r} begins at {begin} and {what} {where}")
        prev_name, prev_end = name, end
    if prev_end > data_len:
        raise SafetensorsError(f"tensor {prev_name!r} ends at {prev_end}, past the {data_len} data bytes "
                               f"in the file (truncated?)")
    if prev_end < data_len:
        raise SafetensorsError(f"{data_len - prev_end} trailing bytes after the last tensor "
                               f"({prev_name!r} ends at {prev_end} of {data_len})")


def load_file(path):
    """Read a safetensors file → (dict name → fresh native-order ndarray, metadata dict)."""
    with open(_check_path(path), "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise SafetensorsError(f"file is {size} bytes, shorter than the 8-byte header length")
        n = int.from_bytes(f.read(8), "little")
        if n > MAX_HEADER_BYTES:
            raise SafetensorsError(f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte cap")
        if 8 + n > size:
            raise SafetensorsError(f"header length {n} runs past the end of the {size}-byte file")
        raw = f.read(n)
        if len(raw) != n:
            raise SafetensorsError(f"file shrank while reading the {n}-byte header")
        entries, metadata = _parse_header(raw)
        _check_layout(entries, size - 8 - n)
        tensors = {}
        for name, dtype, shape, begin, end in entries:
            arr = np.empty(shape, dtype)                    # fresh, aligned, writable
            got = f.readinto(arr.reshape(-1).view(np.uint8))
            if got != end - begin:
                raise SafetensorsError(f"tensor {name!r}: read {got} of {end - begin} bytes (file shrank?)")
            tensors[name] = arr.astype(dtype.newbyteorder("="), copy=False)
    return tensors, metadata
