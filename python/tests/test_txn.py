"""Transactions from Python (Database.transaction): read-your-own-writes,
commit on success and rollback on an exception, tind.Conflict for a lost
update and for write skew, single-writer busy, read-only, close releasing a
live transaction, and a transaction passed as snapshot= to reads and
iterators."""

import pytest

import tind


@pytest.fixture
def db(tmp_path):
    d = tind.Database(str(tmp_path / "db"))
    yield d
    d.close()


def test_read_your_own_writes(db):
    ks = db.keyspace("a")
    ks[b"a"] = b"1"
    ks[b"b"] = b"2"
    with db.transaction() as t:
        t.put(ks, b"c", b"3")
        t.delete(ks, b"a")
        assert t.get(ks, b"c") == b"3" and t.get(ks, b"a") is None
        assert ks.get(b"c") is None and ks[b"a"] == b"1"          # invisible outside
        assert ks.contains(b"c", snapshot=t) and not ks.contains(b"a", snapshot=t)
        assert ks.value_size(b"c", snapshot=t) == 1
        assert list(ks.range(snapshot=t)) == [(b"b", b"2"), (b"c", b"3")]
        assert list(ks.prefix(b"", reverse=True, snapshot=t, values=False)) == [b"c", b"b"]
        assert ks.first(snapshot=t) == (b"b", b"2") and ks.last(snapshot=t) == (b"c", b"3")
        assert t.seqno > 0
    assert ks[b"c"] == b"3" and b"a" not in ks
    with pytest.raises(tind.Closed):
        t.put(ks, b"d", b"4")                                       # ended on exit


def test_rollback_on_exception(db):
    ks = db.keyspace()
    with pytest.raises(RuntimeError):
        with db.transaction() as t:
            t.put(ks, b"k", b"v")
            raise RuntimeError("boom")
    assert b"k" not in ks
    t = db.transaction()
    t.put(ks, b"k", b"v")
    t.rollback()
    t.rollback()                                                   # idempotent
    assert b"k" not in ks


def test_lost_update_conflicts(db):
    ks = db.keyspace()
    ks[b"n"] = b"10"
    t1, t2 = db.transaction(), db.transaction()
    n1, n2 = int(t1.get(ks, b"n")), int(t2.get(ks, b"n"))
    t1.put(ks, b"n", b"%d" % (n1 + 1))
    t2.put(ks, b"n", b"%d" % (n2 + 1))
    t1.commit()
    with pytest.raises(tind.Conflict) as e:
        t2.commit()
    assert "n" in str(e.value)
    assert ks[b"n"] == b"11"
    with pytest.raises(tind.Closed):
        t2.commit()                                                # ended by the failed commit


def test_write_skew_conflicts(db):
    ks = db.keyspace("doctors")
    ks[b"alice"] = b"1"
    ks[b"bob"] = b"1"
    t1, t2 = db.transaction(), db.transaction()
    assert int(t1.get(ks, b"alice")) + int(t1.get(ks, b"bob")) == 2
    assert int(t2.get(ks, b"alice")) + int(t2.get(ks, b"bob")) == 2
    t1.put(ks, b"alice", b"0")
    t2.put(ks, b"bob", b"0")
    t1.commit()
    with pytest.raises(tind.Conflict):
        t2.commit()
    assert int(ks[b"alice"]) + int(ks[b"bob"]) == 1


def test_retry_loop(db):
    ks = db.keyspace()
    for _ in range(5):
        while True:
            try:
                with db.transaction() as t:
                    n = int(t.get(ks, b"n", b"0"))
                    t.put(ks, b"n", b"%d" % (n + 1))
                break
            except tind.Conflict:
                continue
    assert ks[b"n"] == b"5"


def test_modes(db):
    ks = db.keyspace()
    sw = db.transaction(single_writer=True)
    with pytest.raises(tind.Busy):
        db.transaction(single_writer=True, nowait=True)
    sw.put(ks, b"x", b"1")
    sw.commit()
    with db.transaction(read_only=True) as ro:
        with pytest.raises(tind.InvalidArgument):
            ro.put(ks, b"y", b"2")
        assert ro.get(ks, b"x") == b"1"
    with db.transaction(durability=tind.PERSIST_SYNC_DATA) as t:
        t.put(ks, b"z", b"3")
    assert ks[b"z"] == b"3"


def test_close_releases_a_live_transaction(tmp_path):
    d = tind.Database(str(tmp_path / "db"))
    ks = d.keyspace()
    t = d.transaction()
    t.put(ks, b"k", b"v")
    it = ks.range(snapshot=t)
    d.close()                                                      # rolls it back
    with pytest.raises(tind.Closed):
        t.put(ks, b"k2", b"v")
    del it
    d = tind.Database(str(tmp_path / "db"))
    assert b"k" not in d.keyspace()
    d.close()


def test_wrong_arguments(db, tmp_path):
    ks = db.keyspace()
    t = db.transaction()
    with pytest.raises(TypeError):
        t.put("ks", b"k", b"v")
    other = tind.Database(str(tmp_path / "other"))
    try:
        with pytest.raises(TypeError):
            other.keyspace().get(b"k", snapshot=t)
    finally:
        other.close()
    t.rollback()
    with pytest.raises(tind.Closed):
        ks.get(b"k", snapshot=t)
