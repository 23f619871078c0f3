"""Range deletions through the Python binding: Keyspace.remove_range,
Keyspace.clear and Batch.remove_range (tind_remove_range(3))."""

import pytest

import tind


@pytest.fixture
def db(tmp_path):
    d = tind.Database(str(tmp_path / "db"))
    yield d
    d.close()


def keys(ks, **kw):
    return list(ks.range(values=False, **kw))


def test_remove_range_bounds_and_snapshot(db):
    ks = db.keyspace()
    for i in range(10):
        ks[b"k%d" % i] = b"v"
    with db.snapshot() as snap:
        ks.remove_range(b"k2", b"k5")             # [k2, k5)
        assert keys(ks) == [b"k0", b"k1", b"k5", b"k6", b"k7", b"k8", b"k9"]
        assert b"k2" not in ks and b"k5" in ks
        assert len(keys(ks, snapshot=snap)) == 10  # the snapshot still sees them
        assert keys(ks, reverse=True)[-3:] == [b"k5", b"k1", b"k0"]
    ks[b"k3"] = b"again"                          # a later put is visible
    assert ks[b"k3"] == b"again"
    ks.remove_range(b"k7")                        # open end
    assert keys(ks) == [b"k0", b"k1", b"k3", b"k5", b"k6"]
    ks.remove_range(None, b"k1")                  # open start
    assert keys(ks) == [b"k1", b"k3", b"k5", b"k6"]
    ks.remove_range(b"k5", b"k5")                 # empty: nothing
    assert b"k5" in ks
    with pytest.raises(tind.InvalidArgument):
        ks.remove_range(b"k6", b"k5")             # inverted


def test_clear_and_batch(db, tmp_path):
    ks, other = db.keyspace("a"), db.keyspace("b")
    for i in range(100):
        ks[b"%03d" % i] = b"x"
    other[b"keep"] = b"y"
    ks.clear()
    assert keys(ks) == [] and other[b"keep"] == b"y"
    ks[b"new"] = b"1"
    with db.batch() as wb:
        wb.put(ks, b"a", b"1")
        wb.remove_range(ks, b"a", b"z")           # after the put: deletes it too
        wb.put(ks, b"b", b"2")
    assert keys(ks) == [b"b"]                     # "new" is in [a, z) too


def test_survives_reopen(tmp_path):
    path = str(tmp_path / "db")
    with tind.open(path) as db:
        ks = db.keyspace()
        for i in range(50):
            ks[b"%02d" % i] = b"v"
        ks.remove_range(b"10", b"40")
    with tind.open(path) as db:
        assert len(keys(db.keyspace())) == 20
