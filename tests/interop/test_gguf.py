"""GGUF interop: files Lowbit writes are read by gguf-py's GGUFReader with identical metadata and
values, and `lowbit inspect --json` lists GGUF files (the fixtures and the real model) exactly as
GGUFReader does; hostile fixtures are refused cleanly by the CLI.

The Lowbit-written file is fixtures/gguf/lowbit/written.gguf: the Swift test
GGUFInteropTests.writerOutputEqualsCommittedFile checks that GGUFWriter produces exactly these
bytes from fixtures/gguf/lowbit-written.json, and this test checks that gguf-py reads back
exactly what that specification says.
"""

import json
import math
import os
import struct
import subprocess

import numpy as np
import pytest

import gguf
from gguf import GGUFReader, GGUFValueType as V
from oracles import lowbit_with, smollm2_or_skip

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "fixtures", "gguf")
WRITTEN = os.path.join(FIXTURES, "lowbit", "written.gguf")
EXACT_INT = 2**53
INT_TYPES = {V.UINT8, V.INT8, V.UINT16, V.INT16, V.UINT32, V.INT32, V.UINT64, V.INT64}


def load(name):
    with open(os.path.join(FIXTURES, name)) as fh:
        return json.load(fh)


# ------------------------------------------------------------------------------ typed values

def decode_parts(parts, i, vtype):
    """Decodes one value from gguf-py's field parts starting at parts[i]; returns (value, next).
    Values are (type name, python value) with arrays as (ARRAY, element type name, [values])."""
    if vtype == V.STRING:
        return ("STRING", bytes(parts[i + 1]).decode("utf-8")), i + 2
    if vtype == V.ARRAY:
        etype = V(int(parts[i][0]))
        count = int(parts[i + 1][0])
        i += 2
        out = []
        for _ in range(count):
            v, i = decode_parts(parts, i, etype)
            out.append(v)
        return ("ARRAY", etype.name, out), i
    raw = parts[i]
    if vtype == V.BOOL:
        return ("BOOL", bool(raw[0])), i + 1
    if vtype == V.FLOAT32:
        return ("FLOAT32", int(raw.view(np.uint32)[0])), i + 1
    if vtype == V.FLOAT64:
        return ("FLOAT64", int(raw.view(np.uint64)[0])), i + 1
    return (vtype.name, int(raw[0])), i + 1


def field_value(field):
    """The typed value of a key-value field (parts: key length, key, type, value parts...)."""
    value, end = decode_parts(field.parts, 3, V(int(field.parts[2][0])))
    assert end == len(field.parts), field.name
    return value


def spec_value(j):
    """The same typed form from a sidecar entry (floats compared as bit patterns)."""
    t = j["type"]
    if t == "ARRAY":
        return ("ARRAY", j["element_type"], [spec_value(e) for e in j["value"]])
    if t == "FLOAT32":
        return ("FLOAT32", int(j["bits"]))
    if t == "FLOAT64":
        return ("FLOAT64", int(j["bits"]))
    if t in ("BOOL", "STRING"):
        return (t, j["value"])
    return (t, int(j["value"]))


def metadata_of(reader):
    return [(k, field_value(f)) for k, f in reader.fields.items() if not k.startswith("GGUF.")]


# ------------------------------------------------------------------------------ Lowbit-written file

def test_lowbit_written_file_reads_in_gguf_py():
    spec = load("lowbit-written.json")
    reader = GGUFReader(WRITTEN)
    assert int(reader.fields["GGUF.version"].parts[-1][0]) == 3
    assert reader.alignment == spec["alignment"]
    want = [(e["key"], spec_value(e)) for e in spec["metadata"]]
    # the writer adds general.alignment (alignment is not the default 32)
    want.append(("general.alignment", ("UINT32", spec["alignment"])))
    assert metadata_of(reader) == want
    assert [t.name for t in reader.tensors] == [t["name"] for t in spec["tensors"]]
    for t, s in zip(reader.tensors, spec["tensors"]):
        assert t.tensor_type.name == s["type"], t.name
        assert [int(d) for d in t.shape] == s["shape"], t.name
        assert t.data_offset % spec["alignment"] == 0, t.name
        assert np.asarray(t.data).tobytes() == bytes.fromhex(s["hex"]), t.name


def test_lowbit_written_values_decode_in_numpy():
    """Plain tensors hold the values the spec gave, as numpy reads them from gguf-py's view."""
    spec = {t["name"]: t for t in load("lowbit-written.json")["tensors"]}
    reader = GGUFReader(WRITTEN)
    for t in reader.tensors:
        if t.tensor_type == gguf.GGMLQuantizationType.F32:
            want = np.frombuffer(bytes.fromhex(spec[t.name]["hex"]), dtype=np.float32)
            assert np.array_equal(np.asarray(t.data).ravel(), want)
        if t.tensor_type == gguf.GGMLQuantizationType.Q8_0:
            deq = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
            assert deq.shape == (2, 64) and np.all(np.isfinite(deq))


def test_fixture_sidecars_agree_with_gguf_py():
    """The sidecar the Swift tests compare against is what gguf-py reads (guards the sidecar)."""
    for name, entry in load("expected.json").items():
        reader = GGUFReader(os.path.join(FIXTURES, "valid", name))
        assert metadata_of(reader) == [(e["key"], spec_value(e)) for e in entry["metadata"]], name
        assert [(t.name, int(t.data_offset), int(t.n_bytes)) for t in reader.tensors] == \
            [(t["name"], t["offset"], t["nbytes"]) for t in entry["tensors"]], name


# ------------------------------------------------------------------------------ lowbit inspect --json

def lowbit_binary():
    return lowbit_with("inspect")


def inspect_json(path):
    proc = subprocess.run([lowbit_binary(), "inspect", "--json", path], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def json_form(value):
    """What `inspect --json` prints for a typed value: integers beyond 2^53 as strings,
    non-finite floats as null, arrays as lists."""
    t = value[0]
    if t == "ARRAY":
        return [json_form(v) for v in value[2]]
    if t == "FLOAT32":
        return json_float(struct.unpack("<f", struct.pack("<I", value[1]))[0])
    if t == "FLOAT64":
        return json_float(struct.unpack("<d", struct.pack("<Q", value[1]))[0])
    if t in ("BOOL", "STRING"):
        return value[1]
    return str(value[1]) if abs(value[1]) > EXACT_INT else value[1]


def json_float(x):
    return x if math.isfinite(x) else None


def assert_listing_matches_reader(path):
    doc = inspect_json(path)
    reader = GGUFReader(path)
    assert doc["format"] == "gguf"
    assert list(doc["metadata"].keys()) == [k for k, _ in metadata_of(reader)]
    for key, value in metadata_of(reader):
        got, want = doc["metadata"][key], json_form(value)
        if value[0] == "FLOAT32" or (value[0] == "ARRAY" and value[1] == "FLOAT32"):
            # printed as the shortest decimal of the float32 or of the double: compare as float32
            got_f = np.array(got if isinstance(got, list) else [got], dtype=object)
            want_f = np.array(want if isinstance(want, list) else [want], dtype=object)
            assert len(got_f) == len(want_f), key
            for g, w in zip(got_f, want_f):
                assert (g is None and w is None) or np.float32(g) == np.float32(w), key
        else:
            assert got == want, key
    assert len(doc["tensors"]) == len(reader.tensors)
    for entry, t in zip(doc["tensors"], reader.tensors):
        assert entry["name"] == t.name
        assert entry["dtype"] == t.tensor_type.name, t.name
        assert entry["shape"] == [int(d) for d in t.shape], t.name
        assert entry["offset"] == int(t.data_offset), t.name
        assert entry["nbytes"] == int(t.n_bytes), t.name
        assert os.path.realpath(entry["file"]) == os.path.realpath(path), t.name
    return doc


@pytest.mark.parametrize("name", sorted(load("expected.json").keys()) + ["../lowbit/written.gguf"])
def test_inspect_json_matches_gguf_py_on_fixtures(name):
    assert_listing_matches_reader(os.path.join(FIXTURES, "valid", name))


def test_inspect_json_matches_gguf_py_on_real_model():
    path = smollm2_or_skip()
    doc = assert_listing_matches_reader(path)
    assert len(doc["tensors"]) == 272
    listing = load("smollm2-tensors.json")
    assert [(t["name"], t["dtype"], t["shape"], t["offset"], t["nbytes"]) for t in doc["tensors"]] == \
        [(t["name"], t["type"], t["shape"], t["offset"], t["nbytes"]) for t in listing["tensors"]]


# safetensors_magic.gguf is a valid (empty) safetensors file: GGUFFile refuses it, but the CLI
# recognises formats by content and rightly lists it as safetensors.
CLI_ACCEPTS = {"safetensors_magic.gguf"}


@pytest.mark.parametrize("name", sorted(set(load("hostile.json").keys()) - CLI_ACCEPTS))
def test_inspect_refuses_hostile_fixture(name):
    path = os.path.join(FIXTURES, "hostile", name)
    proc = subprocess.run([lowbit_binary(), "inspect", "--json", path], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode not in (0,) and 0 < proc.returncode < 128, (proc.returncode, proc.stderr)
    assert name in proc.stderr, proc.stderr
