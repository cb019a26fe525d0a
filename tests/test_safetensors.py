"""fastnn._safetensors: round trips, interop with the safetensors package, every loader check, atomic writes."""
import json
import os
import stat

import numpy as np
import pytest

from fastnn import _safetensors as st
from fastnn._safetensors import SafetensorsError, load_file, save_file


def sample_tensors():
    g = np.random.default_rng(0)
    return {
        "layer0.weight": g.normal(size=(4, 3)).astype(np.float32),
        "layer0.bias": g.normal(size=4),
        "steps": np.array(12345678901234, dtype=np.int64),                 # 0-d
        "counts": np.arange(7, dtype=np.uint64) * (2 ** 60),
        "idx": np.arange(-3, 3, dtype=np.int32).reshape(2, 3),
        "mask": np.array([0, 255, 7], dtype=np.uint8),
        "empty": np.zeros((0, 5), np.float32),
        "empty1d": np.zeros(0, np.float64),
        "cube": g.normal(size=(2, 3, 4)),
    }


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert np.array_equal(a[k], b[k]), k


def write_raw(path, header, data=b"", n=None):
    """A hand-made file: header is a dict (JSON-encoded) or raw bytes; n overrides the length field."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes((len(raw) if n is None else n).to_bytes(8, "little") + raw + data)
    return path


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


# ------------------------------------------------------------------------ round trip

def test_roundtrip(tmp_path):
    t = sample_tensors()
    meta = {"format": "fastnn", "épоch": "3 ✓", "empty": ""}
    save_file(t, tmp_path / "m.safetensors", meta)
    out, m = load_file(tmp_path / "m.safetensors")
    assert_same(out, t)
    assert m == meta
    for a in out.values():
        assert a.flags.writeable and a.flags.aligned and a.flags.c_contiguous and a.flags.owndata
        assert a.dtype.isnative
        a[...] = 0                                         # fresh copies: writable


def test_roundtrip_no_metadata_empty_dict_and_str_path(tmp_path):
    save_file({}, str(tmp_path / "e.safetensors"))
    assert load_file(str(tmp_path / "e.safetensors")) == ({}, {})
    save_file({"x": np.ones(3)}, tmp_path / "x.safetensors", metadata={})
    out, m = load_file(tmp_path / "x.safetensors")
    assert m == {} and np.array_equal(out["x"], np.ones(3))


def test_layout_on_disk(tmp_path):
    t = {"b": np.arange(3, dtype=np.float32), "a": np.arange(2, dtype=np.int64), "c": np.zeros((2, 2), ">f8")}
    save_file(t, tmp_path / "f", {"k": "v"})
    raw = (tmp_path / "f").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert (8 + n) % 8 == 0
    text = raw[8:8 + n].decode()
    assert text == text.rstrip() + " " * (len(text) - len(text.rstrip()))    # space padding only
    header = json.loads(text)
    assert header["__metadata__"] == {"k": "v"}
    assert [header[k]["data_offsets"] for k in "abc"] == [[0, 16], [16, 28], [28, 60]]  # name order
    assert header["c"] == {"dtype": "F64", "shape": [2, 2], "data_offsets": [28, 60]}
    data = raw[8 + n:]
    assert data[:16] == np.arange(2, dtype="<i8").tobytes()
    assert data[16:28] == np.arange(3, dtype="<f4").tobytes()
    assert data[28:] == np.zeros((2, 2), "<f8").tobytes()                     # big-endian swapped


@pytest.mark.parametrize("name_len", range(1, 9))
def test_header_padded_to_8(tmp_path, name_len):
    save_file({"x" * name_len: np.ones(1, np.uint8)}, tmp_path / "p")
    raw = (tmp_path / "p").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    text = raw[8:8 + n].decode()
    assert n % 8 == 0 and text.rstrip(" ").endswith("}") and len(text) - len(text.rstrip(" ")) < 8
    assert raw[-1:] == b"\x01" and len(raw) == 8 + n + 1


def test_noncontiguous_and_byteorder_inputs(tmp_path):
    base = np.arange(48, dtype=np.float64).reshape(6, 8)
    t = {"slice": base[::2, 1::3], "fortran": np.asfortranarray(base), "be": base.astype(">f4"),
         "be_i32": np.arange(5, dtype=">i4")}
    save_file(t, tmp_path / "n")
    out, _ = load_file(tmp_path / "n")
    for k in t:
        assert np.array_equal(out[k], t[k]) and out[k].dtype.isnative and out[k].flags.c_contiguous


def test_load_accepts_unpadded_header(tmp_path):
    # Other writers need not pad: 8 + N is not a multiple of 8 here.
    p = write_raw(tmp_path / "u", {"a": entry("F32", [2], 0, 8)}, np.array([1, 2], "<f4").tobytes())
    assert (8 + int.from_bytes(p.read_bytes()[:8], "little")) % 8 != 0
    assert np.array_equal(load_file(p)[0]["a"], [1, 2])


# ------------------------------------------------------------------------ interop

def test_read_by_safetensors_package(tmp_path):
    stnp = pytest.importorskip("safetensors.numpy")
    t = sample_tensors()
    save_file(t, tmp_path / "ours.safetensors", {"who": "fastnn"})
    assert_same(stnp.load_file(str(tmp_path / "ours.safetensors")), t)
    safetensors = pytest.importorskip("safetensors")
    with safetensors.safe_open(str(tmp_path / "ours.safetensors"), framework="numpy") as f:
        assert f.metadata() == {"who": "fastnn"}


def test_reads_safetensors_package_files(tmp_path):
    stnp = pytest.importorskip("safetensors.numpy")
    t = sample_tensors()
    stnp.save_file(t, str(tmp_path / "theirs.safetensors"), metadata={"a": "b", "c": "d"})
    out, meta = load_file(tmp_path / "theirs.safetensors")
    assert_same(out, t)
    assert meta == {"a": "b", "c": "d"}
    stnp.save_file({}, str(tmp_path / "empty.safetensors"))
    assert load_file(tmp_path / "empty.safetensors") == ({}, {})


# ------------------------------------------------------------------------ corruption

@pytest.fixture
def valid(tmp_path):
    save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.arange(4.0)},
              tmp_path / "valid", {"k": "v"})
    return (tmp_path / "valid").read_bytes()


def test_truncated_anywhere(tmp_path, valid):
    n = int.from_bytes(valid[:8], "little")
    cuts = sorted({0, 1, 7, 8, 9, 8 + n // 2, 8 + n - 1, 8 + n, 8 + n + 1, 8 + n + 24, len(valid) - 1})
    for cut in cuts:
        p = tmp_path / f"cut{cut}"
        p.write_bytes(valid[:cut])
        with pytest.raises(SafetensorsError):
            load_file(p)


def test_every_single_byte_truncation(tmp_path, valid):
    for cut in range(len(valid)):
        (tmp_path / "c").write_bytes(valid[:cut])
        with pytest.raises(SafetensorsError):
            load_file(tmp_path / "c")


@pytest.mark.parametrize("size", [0, 1, 7])
def test_too_short(tmp_path, size):
    (tmp_path / "s").write_bytes(b"\x00" * size)
    with pytest.raises(SafetensorsError, match="shorter than the 8-byte"):
        load_file(tmp_path / "s")


def test_header_length_checks(tmp_path):
    with pytest.raises(SafetensorsError, match="cap"):
        load_file(write_raw(tmp_path / "h", b"{}", n=100_000_001))
    with pytest.raises(SafetensorsError, match="cap"):
        load_file(write_raw(tmp_path / "h", b"{}", n=2 ** 64 - 1))
    with pytest.raises(SafetensorsError, match="past the end"):
        load_file(write_raw(tmp_path / "h", b"{}", n=1000))
    with pytest.raises(SafetensorsError, match="past the end"):
        load_file(write_raw(tmp_path / "h", b"{}", n=3))


@pytest.mark.parametrize("raw,msg", [
    (b'{"\xff\xfe":1}', "UTF-8"),
    (b'{"a":"\xc3"}', "UTF-8"),                          # truncated multi-byte sequence
    (b"[1, 2]", "JSON object"),
    (b"null", "JSON object"),
    (b'"text"', "JSON object"),
    (b' {}', "JSON object"),                              # must start with '{'
    (b"{", "not valid JSON"),
    (b"{} {}", "not valid JSON"),
    (b'{"a": NaN}', "NaN"),
    (b"", "JSON object"),
    (b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested deeper than 100"),   # past the stack
    (b'{"a":' + b"[" * 500 + b"]" * 500 + b"}", "nested deeper than 100"),           # past the cap
    (b'{"a":' + b"[" * 100_000, "nested deeper than 100"),                          # and unclosed
    (b'{"a":' + b"9" * 5000 + b"}", "5000 digits"),                                 # int() refuses > 4300
])
def test_bad_header_text(tmp_path, raw, msg):
    with pytest.raises(SafetensorsError, match=msg):
        load_file(write_raw(tmp_path / "t", raw))


def test_duplicate_keys(tmp_path):
    a = json.dumps(entry("F32", [1], 0, 4))
    raw = f'{{"a":{a},"a":{a}}}'.encode()
    with pytest.raises(SafetensorsError, match="duplicate key 'a'"):
        load_file(write_raw(tmp_path / "d", raw, b"\x00" * 4))
    raw = b'{"__metadata__":{"k":"1","k":"2"}}'
    with pytest.raises(SafetensorsError, match="duplicate key 'k'"):
        load_file(write_raw(tmp_path / "d", raw))


@pytest.mark.parametrize("info,msg", [
    (entry("F16", [2], 0, 4), "unsupported dtype 'F16'"),
    (entry("BF16", [2], 0, 4), "unsupported dtype"),
    (entry("f32", [1], 0, 4), "unsupported dtype"),
    (entry(4, [1], 0, 4), "unsupported dtype"),
    (entry("F32", [-1], 0, 4), "shape"),
    (entry("F32", [2, -2], 0, 4), "shape"),
    (entry("F32", [1.0], 0, 4), "shape"),
    (entry("F32", [True], 0, 4), "shape"),
    (entry("F32", "4", 0, 4), "shape"),
    (entry("F32", [1] * 9, 0, 4), "shape"),
    (entry("F32", [2], 0, 4), "needs 8 bytes"),            # count mismatch
    (entry("F32", [2 ** 40, 2 ** 40], 0, 4), "needs"),     # would overflow u64·4 in C
    (entry("F32", [1], 4, 0), "data_offsets"),
    (entry("F32", [1], -4, 0), "data_offsets"),
    ({"dtype": "F32", "shape": [1], "data_offsets": [0]}, "data_offsets"),
    ({"dtype": "F32", "shape": [1], "data_offsets": [0.0, 4.0]}, "data_offsets"),
    ({"dtype": "F32", "shape": [1]}, "exactly the keys"),
    ({**entry("F32", [1], 0, 4), "extra": 1}, "exactly the keys"),
    ([1, 2], "exactly the keys"),
    (entry(["F32"], [1], 0, 4), "unsupported dtype"),         # unhashable
    (entry({"F32": 1}, [1], 0, 4), "unsupported dtype"),
    (entry("F32", [0, 2 ** 62, 2 ** 62], 0, 0), "too large"),  # 0 bytes, but numpy refuses the shape
    (entry("F32", [0, 2 ** 64], 0, 0), "too large"),
    (entry("F64", [2 ** 60, 0], 0, 0), "too large"),
])
def test_bad_tensor_entry(tmp_path, info, msg):
    p = write_raw(tmp_path / "e", {"w": info}, b"\x00" * 4)
    with pytest.raises(SafetensorsError, match=msg) as e:
        load_file(p)
    assert "'w'" in str(e.value)                             # names the tensor


def test_zero_size_tensor_with_large_dimensions_loads(tmp_path):
    out, _ = load_file(write_raw(tmp_path / "z", {"z": entry("F64", [0, 2 ** 59], 0, 0)}))   # 2**59 · 8 < 2**63
    assert out["z"].shape == (0, 2 ** 59)


def test_loads_json_depth_cap():
    nested = []
    for _ in range(st.MAX_JSON_DEPTH - 1):
        nested = [nested]
    assert st.loads_json(json.dumps(nested)) == nested                      # exactly at the cap
    for text in ["[" * 101 + "]" * 101, '{"a": ' * 101 + "1" + "}" * 101, "[" * 10 ** 6 + "]" * 10 ** 6]:
        with pytest.raises(ValueError, match="nested deeper than 100 levels"):
            st.loads_json(text)
    assert st.loads_json("-" + "9" * st.MAX_INT_DIGITS) == -int("9" * 1000)
    with pytest.raises(ValueError, match="1001 digits"):
        st.loads_json("9" * 1001)


def test_empty_name(tmp_path):
    with pytest.raises(SafetensorsError, match="empty name"):
        load_file(write_raw(tmp_path / "n", {"": entry("U8", [1], 0, 1)}, b"\x00"))


@pytest.mark.parametrize("meta", [[], "x", {"k": 1}, {"k": None}, {"k": {"a": "b"}}])
def test_bad_metadata(tmp_path, meta):
    with pytest.raises(SafetensorsError, match="__metadata__"):
        load_file(write_raw(tmp_path / "m", {"__metadata__": meta}))


def test_overlap(tmp_path):
    h = {"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}
    with pytest.raises(SafetensorsError, match="'b' begins at 4 and overlaps tensor 'a'"):
        load_file(write_raw(tmp_path / "o", h, b"\x00" * 12))
    h = {"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 0, 8)}        # aliasing
    with pytest.raises(SafetensorsError, match="overlaps"):
        load_file(write_raw(tmp_path / "o", h, b"\x00" * 8))


def test_gap(tmp_path):
    h = {"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 12, 20)}
    with pytest.raises(SafetensorsError, match="'b' begins at 12 and leaves a gap after tensor 'a'"):
        load_file(write_raw(tmp_path / "g", h, b"\x00" * 20))
    h = {"a": entry("F32", [2], 4, 12)}                                   # first not at 0
    with pytest.raises(SafetensorsError, match="'a' begins at 4 and leaves a gap"):
        load_file(write_raw(tmp_path / "g", h, b"\x00" * 12))


def test_trailing_bytes(tmp_path, valid):
    (tmp_path / "t").write_bytes(valid + b"\x00")
    with pytest.raises(SafetensorsError, match="1 trailing bytes"):
        load_file(tmp_path / "t")
    with pytest.raises(SafetensorsError, match="trailing"):
        load_file(write_raw(tmp_path / "t2", {}, b"junk"))


def test_data_past_end(tmp_path):
    h = {"a": entry("F32", [4], 0, 16)}
    with pytest.raises(SafetensorsError, match="'a' ends at 16, past the 8 data bytes"):
        load_file(write_raw(tmp_path / "p", h, b"\x00" * 8))


def test_zero_size_tensors_share_offsets(tmp_path):
    h = {"z1": entry("F32", [0], 0, 0), "a": entry("U8", [2], 0, 2), "z2": entry("I64", [0, 3], 2, 2)}
    out, _ = load_file(write_raw(tmp_path / "z", h, b"\x01\x02"))
    assert out["z1"].shape == (0,) and out["z2"].shape == (0, 3) and list(out["a"]) == [1, 2]


def test_not_pickle(tmp_path):
    import pickle
    (tmp_path / "p").write_bytes(pickle.dumps({"a": np.ones(2)}))
    with pytest.raises(SafetensorsError):
        load_file(tmp_path / "p")
    (tmp_path / "z").write_bytes(b"PK\x03\x04" + b"\x00" * 60)            # a zip / .npz / torch.save
    with pytest.raises(SafetensorsError):
        load_file(tmp_path / "z")


# ------------------------------------------------------------------------ save errors

@pytest.mark.parametrize("tensors,exc,msg", [
    ([np.ones(2)], TypeError, "dict"),
    ({1: np.ones(2)}, TypeError, "non-empty str"),
    ({"": np.ones(2)}, TypeError, "non-empty str"),
    ({"__metadata__": np.ones(2)}, ValueError, "reserved"),
    ({"a": [1.0, 2.0]}, TypeError, r"tensors\['a'\]"),
    ({"a": np.ones(2, np.float16)}, TypeError, "float16"),
    ({"a": np.ones(2, bool)}, TypeError, "bool"),
    ({"a": np.ones(2, np.complex64)}, TypeError, "complex64"),
    ({"a": np.ones(2, np.int16)}, TypeError, "int16"),
    ({"a": np.ones([1] * 9)}, ValueError, "rank 9"),
])
def test_save_rejects(tmp_path, tensors, exc, msg):
    with pytest.raises(exc, match=msg):
        save_file(tensors, tmp_path / "x")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("meta", [{"a": 1}, {1: "a"}, ["a"], "a"])
def test_save_rejects_metadata(tmp_path, meta):
    with pytest.raises(TypeError, match="metadata"):
        save_file({"a": np.ones(1)}, tmp_path / "x", meta)
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------ atomicity

@pytest.fixture
def previous(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save_file({"w": np.arange(10.0)}, path, {"v": "1"})
    return path, path.read_bytes()


def _new():
    return {"w": np.full(1000, 7.0), "extra": np.ones((50, 50), np.float32)}


def _assert_intact(path, before):
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]                       # no temp file left
    out, meta = load_file(path)
    assert np.array_equal(out["w"], np.arange(10.0)) and meta == {"v": "1"}


def test_crash_in_fsync_keeps_previous(previous, monkeypatch):
    path, before = previous

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output"):
        save_file(_new(), path)
    monkeypatch.undo()
    _assert_intact(path, before)


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_crash_mid_write_keeps_previous(previous, monkeypatch, fail_at):
    path, before = previous
    real_fdopen = os.fdopen

    class DiskFull:
        """File wrapper whose write number ``fail_at`` raises ENOSPC after writing half."""

        def __init__(self, f):
            self.f, self.calls = f, 0

        def write(self, b):
            self.calls += 1
            if self.calls == fail_at:
                self.f.write(bytes(memoryview(b).cast("B"))[: len(memoryview(b).cast("B")) // 2])
                raise OSError(28, "No space left on device")
            return self.f.write(b)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: DiskFull(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space"):
        save_file(_new(), path)
    monkeypatch.undo()
    _assert_intact(path, before)


def test_interrupt_during_write_keeps_previous(previous, monkeypatch):
    path, before = previous
    real_fsync = os.fsync

    def interrupted(fd):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_file(_new(), path)
    monkeypatch.setattr(os, "fsync", real_fsync)
    _assert_intact(path, before)


def test_failed_replace_keeps_previous(previous, monkeypatch):
    path, before = previous

    def broken_replace(src, dst):
        raise OSError(18, "Invalid cross-device link")
    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="cross-device"):
        save_file(_new(), path)
    monkeypatch.undo()
    _assert_intact(path, before)


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    def broken_fsync(fd):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        save_file(_new(), tmp_path / "new.safetensors")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_successful_save_syncs_file_and_directory(previous, monkeypatch):
    path, _ = previous
    real_fsync, synced = os.fsync, []

    def spy(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", spy)
    save_file(_new(), path)
    assert synced == [False, True]                                     # file, then its directory
    assert os.listdir(path.parent) == [path.name]
    assert np.array_equal(load_file(path)[0]["w"], np.full(1000, 7.0))


def test_overwrite_keeps_mode_new_file_honours_umask(previous, tmp_path):
    path, _ = previous
    os.chmod(path, 0o640)
    save_file(_new(), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    old = os.umask(0o027)
    try:
        save_file(_new(), tmp_path / "fresh")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "fresh").st_mode) == 0o640


def test_header_cap_constant():
    assert st.MAX_HEADER_BYTES == 100_000_000


# ------------------------------------------------------------------------ paths and odd inputs (fuzz findings)

@pytest.mark.parametrize("path", [0, 1, True, None, 3.5, ["x.st"]])
def test_path_must_be_a_file_name_not_a_descriptor(path):
    # open(0) would read stdin (and close it); open(1) would read stdout.
    with pytest.raises(TypeError, match="path must be a str, bytes or os.PathLike file name"):
        load_file(path)
    with pytest.raises(TypeError, match="path must be a str, bytes or os.PathLike file name"):
        save_file({"a": np.ones(1)}, path)


def test_bytes_path_saves_and_loads(tmp_path):
    path = os.fsencode(tmp_path / "x.st")
    save_file({"a": np.ones(2)}, path)
    assert np.array_equal(load_file(path)[0]["a"], np.ones(2))


@pytest.mark.parametrize("path", ["", "a\0b.st"])
def test_path_with_nul_or_empty_is_refused(tmp_path, path):
    with pytest.raises(ValueError, match="is not a file name"):
        save_file({"a": np.ones(1)}, path and str(tmp_path / path))
    with pytest.raises(ValueError, match="is not a file name"):
        load_file(path and str(tmp_path / path))
    assert os.listdir(tmp_path) == []


def test_save_to_a_directory_or_missing_folder_names_the_path(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"cannot save to a directory.*{tmp_path.name}"):
        save_file({"a": np.ones(1)}, tmp_path)
    with pytest.raises(FileNotFoundError, match="cannot save .*x.st.: no such directory"):
        save_file({"a": np.ones(1)}, tmp_path / "nope" / "x.st")
    assert os.listdir(tmp_path) == []


def test_save_through_a_symlink_replaces_its_target(tmp_path):
    target, link = tmp_path / "target.st", tmp_path / "latest.st"
    save_file({"a": np.zeros(1)}, target)
    link.symlink_to(target)
    save_file({"a": np.ones(1)}, link)
    assert link.is_symlink() and load_file(target)[0]["a"][0] == 1.0


@pytest.mark.parametrize("tensors, meta, match", [
    ({"a\ud800": np.ones(1)}, None, r"tensor name 'a\\ud800' is not valid Unicode"),
    ({"a": np.ones(1)}, {"k\udc80": "v"}, "metadata key .* is not valid Unicode"),
    ({"a": np.ones(1)}, {"k": "v\udc80"}, r"metadata\['k'\] is not valid Unicode"),
])
def test_names_utf8_cannot_encode_are_refused(tmp_path, tensors, meta, match):
    with pytest.raises(ValueError, match=match):
        save_file(tensors, tmp_path / "x.st", meta)
    assert os.listdir(tmp_path) == []


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")     # np.matrix
def test_array_subclasses(tmp_path):
    with pytest.raises(TypeError, match="got MaskedArray; a file cannot hold its mask"):
        save_file({"a": np.ma.masked_array([1.0, 2.0], mask=[0, 1])}, tmp_path / "x.st")
    save_file({"m": np.matrix([[1.0, 2.0]])}, tmp_path / "x.st")
    m = load_file(tmp_path / "x.st")[0]["m"]
    assert type(m) is np.ndarray and np.array_equal(m, [[1.0, 2.0]])
