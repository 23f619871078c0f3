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


def test_change_feed_describes_range_deletions(tmp_path):
    with tind.Database(str(tmp_path / "db")) as db:
        ks = db.keyspace("a")
        for i in range(6):
            ks[b"k%d" % i] = b"v"
        ks.remove_range(b"k1", b"k3")
        ks.remove_range(b"k4")                    # open end: value b""
        ops = [op for _, batch in db.changes() for op in batch]
        assert ops[-2:] == [("remove_range", "a", b"k1", b"k3"), ("remove_range", "a", b"k4", b"")]
        with tind.Database(str(tmp_path / "replica")) as r:
            for seqno, batch in db.changes():
                with r.batch() as bt:
                    for op, name, key, value in batch:
                        if op == "put":
                            bt.put(r.keyspace(name), key, value)
                        else:
                            assert op == "remove_range"
                            bt.remove_range(r.keyspace(name), key, value or None)
                    bt.commit_at(seqno)
            assert list(r.keyspace("a").range(values=False)) == [b"k0", b"k3"]
            assert r.last_seqno == db.last_seqno
