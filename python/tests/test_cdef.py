"""The cffi declarations (tind/_ffi.py) stay those of include/tind.h: every
TIND_API function is declared, every status and enum value is the header's,
and tind_ks_stats has the header's fields in its order."""

import os
import re

import pytest

from tind._ffi import CDEF, ffi, lib

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "include", "tind.h")


@pytest.fixture(scope="module")
def header():
    if not os.path.exists(HEADER):
        pytest.skip("include/tind.h not found (not a source tree)")
    with open(HEADER) as f:
        text = f.read()
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def test_every_function(header):
    declared = set(re.findall(r"TIND_API[^;(]*?\b(tind_\w+)\s*\(", header))
    in_cdef = set(re.findall(r"\b(tind_\w+)\s*\(", CDEF))
    assert declared and declared == in_cdef
    for name in declared:
        getattr(lib, name)                   # present in the loaded libtind.so


def test_enum_values(header):
    values = dict(re.findall(r"\b(TIND_[A-Z_0-9]+)\s*=\s*(-?\d+)\s*,?", header))
    assert len(values) > 20
    for name, value in values.items():
        assert getattr(lib, name) == int(value), name


def test_stats_fields(header):
    body = re.search(r"typedef struct tind_ks_stats \{(.*?)\} tind_ks_stats;", header, re.S).group(1)
    fields = re.findall(r"\b(\w+)\s*(?:\[[A-Z_0-9]+\])?;", body)
    assert [name for name, _ in ffi.typeof("tind_ks_stats").fields] == fields
    n = int(re.search(r"#define TIND_STATS_MAX_LEVELS (\d+)", header).group(1))
    assert ffi.sizeof(ffi.typeof("tind_ks_stats").fields[1][1].type) == 8 * n
