"""The Python binding (python/tind) against the real libtind.so: the mapping
API, batches, snapshots, iterators, errors, read-only opens, close with
live handles, and threads."""

import gc
import os
import subprocess
import threading

import pytest

import tind


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "db")


@pytest.fixture
def db(path):
    d = tind.Database(path)
    yield d
    d.close()


def fill(ks, n=10):
    for i in range(n):
        ks[b"k%02d" % i] = b"v%d" % i


# ---- open, close, the mapping ----------------------------------------------

def test_open_close_reopen(path):
    with tind.open(path) as db:
        assert not db.closed
        db.keyspace("a")[b"key"] = b"value"
    assert db.closed
    db.close()                                   # a second close does nothing
    with pytest.raises(tind.Closed):
        db.keyspace("a")
    with tind.Database(path) as db:
        assert db.keyspace("a")[b"key"] == b"value"
        assert db.keyspaces() == ["a"]
        assert "a" in db and "b" not in db


def test_mapping(db):
    ks = db.keyspace("m")
    assert ks is db.keyspace("m")
    ks[b"a"] = b"1"
    ks.put(b"b", b"")
    ks[bytearray(b"c")] = memoryview(b"33")
    assert ks[b"a"] == b"1" and ks[b"b"] == b"" and ks[b"c"] == b"33"
    assert isinstance(ks[b"a"], bytes)
    assert b"a" in ks and b"z" not in ks
    assert ks.get(b"z") is None and ks.get(b"z", b"dflt") == b"dflt"
    assert len(ks) >= 3
    assert ks.value_size(b"c") == 2 and ks.value_size(b"z") is None
    del ks[b"a"]
    assert b"a" not in ks
    ks.delete(b"never-there")                    # removing an absent key is fine
    with pytest.raises(KeyError):
        ks[b"a"]
    with pytest.raises(tind.NotFound) as e:
        ks[b"a"]
    assert e.value.code == -1 and "not found" in str(e.value)
    assert ks.first() == (b"b", b"") and ks.last() == (b"c", b"33")
    assert db.keyspace("empty").first() is None


def test_bytes_only(db):
    ks = db.keyspace()
    for bad in ("str", 1, None, ["b"]):
        with pytest.raises(TypeError):
            ks[bad] = b"v"
        with pytest.raises(TypeError):
            ks[b"k"] = bad
        with pytest.raises(TypeError):
            ks.get(bad)
        with pytest.raises(TypeError):
            bad in ks
    with pytest.raises(TypeError):
        ks.range(lo="a")
    with pytest.raises(TypeError):
        tind.Database(db.path + "x", no_such_option=1)


def test_errors_carry_tind_messages(db, path, tmp_path):
    ks = db.keyspace()
    with pytest.raises(tind.InvalidArgument) as e:
        ks[b""] = b"v"
    assert isinstance(e.value, ValueError) and e.value.code == -2
    assert "empty key" in e.value.message and str(e.value) == e.value.message
    with pytest.raises(tind.TooBig):
        ks[b"k" * 65536] = b"v"
    ks[b"k" * 65535] = b"v"                       # exactly the limit
    with pytest.raises(tind.InvalidArgument) as e:
        db.keyspace("x" * 256)
    assert "1..255" in str(e.value)
    with pytest.raises(tind.NoEntry):
        db.keyspace("missing", create=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x").write_bytes(b"not a database")
    with pytest.raises(tind.InvalidArgument) as e:
        tind.Database(str(other))
    assert "not a tind database" in str(e.value) and str(other) in str(e.value)
    with pytest.raises(tind.NoEntry):
        tind.Database(str(tmp_path / "nothing"), create_if_missing=False)
    with pytest.raises(tind.Busy) as e:
        tind.Database(path)                       # held by the fixture
    assert str(e.value)


def test_blob_separation(db):
    ks = db.keyspace("blobs", blob_separation=(True, 100), blob_file_size=1 << 20,
                     blob_compression="zstd", blob_gc=(0.5, 0.0))
    for i in range(50):
        ks[b"k%02d" % i] = bytes([i]) * (50 + i * 10)
    ks.flush()
    st = ks.stats()
    assert st["blob_files"] == 1 and st["blob_bytes"] > 0 and st["blob_reads"] == 0
    assert all(ks[b"k%02d" % i] == bytes([i]) * (50 + i * 10) for i in range(50))
    assert ks.stats()["blob_reads"] == 45                # the 5 values below 100 bytes stay inline
    with pytest.raises(tind.InvalidArgument):
        db.keyspace("bad", blob_gc=(0.0, 0.0))


def test_blob_cache_size(tmp_path):
    with tind.Database(str(tmp_path / "bc"), blob_cache_size=1 << 20) as d:
        ks = d.keyspace("blobs", blob_separation=(True, 100))
        ks[b"k"] = b"v" * 1000
        ks.flush()
        assert ks[b"k"] == b"v" * 1000 and ks[b"k"] == b"v" * 1000
def test_prefix_filters_and_dictionaries(db):
    ks = db.keyspace("feed", prefix_separator=b"#", compression="zstd", zstd_dict=4096, memtable_size=1 << 16)
    for user in range(0, 200, 2):
        for post in range(20):
            ks[b"u%05d#%04d" % (user, post)] = b'{"user":%d,"post":%d,"text":"hello"}' % (user, post)
    ks.flush()
    assert len(list(ks.prefix(b"u00042#"))) == 20
    assert list(ks.prefix(b"u00043#")) == []
    st = ks.stats()
    assert st["prefix_checked"] >= 1 and st["prefix_skipped"] >= 1
    with pytest.raises(tind.InvalidArgument):
        db.keyspace("bad", prefix_fixed=70000)


def test_dictionary_tables_verify_and_dump(path):
    """tind verify and tind dump decode a table's data blocks with its zstd dictionary."""
    shell = os.path.join(os.path.dirname(os.environ.get("TIND_LIBRARY", "")), "tools", "tind", "tind")
    if not os.access(shell, os.X_OK):
        pytest.skip("no tind shell beside the library")
    d = tind.Database(path)
    ks = d.keyspace("small", compression="zstd", zstd_dict=4096)
    for i in range(30000):
        ks[b"user:%08d" % i] = b'{"id":%d,"city":"Oslo","status":"active"}' % i
    ks.flush()
    d.close()
    out = subprocess.run([shell, path, "verify"], capture_output=True, text=True)
    assert out.returncode == 0 and " 0 problems" in out.stdout, out.stdout + out.stderr
    tables = os.listdir(os.path.join(path, "tables"))
    assert len(tables) == 1
    out = subprocess.run([shell, path, "dump", "table", os.path.join(path, "tables", tables[0])],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "zstd dictionary" in out.stdout and "format version 4" in out.stdout


def test_keyspace_admin(db):
    a = db.keyspace("a", compression="zstd", memtable_size=1 << 20, bloom_bits=8)
    db.keyspace("b", compaction="tiered")
    assert db.keyspaces() == ["a", "b"]
    fill(a, 100)
    a.flush()
    a.compact()
    st = a.stats()
    assert st["flushes"] >= 1 and st["disk_bytes"] > 0 and len(st["tables"]) == st["levels"]
    assert a.disk_space() > 0
    db.persist()
    db.persist(tind.PERSIST_BUFFER)
    db.keyspace("b")[b"old"] = b"x"
    db.delete_keyspace("b")
    assert db.keyspaces() == ["a"]
    b = db.keyspace("b")                          # a new keyspace, not the deleted one's handle
    assert b"old" not in b
    b[b"new"] = b"y"
    assert list(b) == [b"new"]
    with pytest.raises(TypeError):
        db.keyspace("c", no_such_option=1)


# ---- batches ------------------------------------------------------------------

def test_batch_commits_on_success(db):
    a, b = db.keyspace("a"), db.keyspace("b")
    a[b"gone"] = b"x"
    with db.batch() as wb:
        wb.put(a, b"1", b"one")
        wb.put(b, b"2", b"two")
        wb.delete(a, b"gone")
        assert len(wb) == 3
        assert b"1" not in a                      # nothing visible before the commit
    assert a[b"1"] == b"one" and b[b"2"] == b"two" and b"gone" not in a
    with pytest.raises(tind.Closed):
        wb.put(a, b"3", b"three")                 # released on exit


def test_batch_discards_on_exception(db):
    ks = db.keyspace()
    with pytest.raises(RuntimeError):
        with db.batch() as wb:
            wb.put(ks, b"k", b"v")
            raise RuntimeError("boom")
    assert b"k" not in ks


def test_batch_by_hand(db, path):
    ks = db.keyspace()
    wb = db.batch(durability=tind.PERSIST_SYNC_DATA)
    wb.put(ks, b"a", b"1")
    wb.commit()
    assert len(wb) == 0 and ks[b"a"] == b"1"
    wb.put(ks, b"b", b"2")
    wb.clear()
    wb.commit()
    assert b"b" not in ks
    with pytest.raises(TypeError):
        wb.put("ks", b"k", b"v")
    with pytest.raises(tind.InvalidArgument):
        wb.put(ks, b"", b"v")                     # the batch stays usable
    wb.put(ks, b"c", b"3")
    wb.commit()
    assert ks[b"c"] == b"3"
    wb.close()


# ---- snapshots ------------------------------------------------------------------

def test_snapshot_isolation(db):
    ks = db.keyspace()
    ks[b"a"] = b"old"
    ks[b"b"] = b"old"
    with db.snapshot() as snap:
        assert snap.seqno > 0
        ks[b"a"] = b"new"
        del ks[b"b"]
        ks[b"c"] = b"new"
        assert ks[b"a"] == b"new"
        assert snap.get(ks, b"a") == b"old" and ks.get(b"b", snapshot=snap) == b"old"
        assert not ks.contains(b"c", snapshot=snap) and ks.contains(b"c")
        assert list(ks.range(snapshot=snap)) == [(b"a", b"old"), (b"b", b"old")]
        assert list(ks.range(reverse=True, snapshot=snap, values=False)) == [b"b", b"a"]
        assert ks.last(snapshot=snap) == (b"b", b"old")
    with pytest.raises(tind.Closed):
        ks.get(b"a", snapshot=snap)


def test_closing_a_snapshot_releases_its_iterators(db):
    """tind requires a snapshot to outlive its iterators: closing it first
    releases them (they raise tind.Closed) instead of freeing it under them."""
    ks = db.keyspace()
    fill(ks, 3)
    snap = db.snapshot()
    it = ks.range(snapshot=snap, values=False)
    other = ks.range(values=False)
    assert next(it) == b"k00"
    snap.close()
    with pytest.raises(tind.Closed):
        next(it)
    assert list(other) == [b"k00", b"k01", b"k02"]   # not made on the snapshot
    with pytest.raises(tind.Closed):
        ks.range(snapshot=snap)


# ---- iterators ------------------------------------------------------------------

def test_range_and_prefix_both_directions(db):
    ks = db.keyspace()
    fill(ks)
    ks[b"p:1"] = b"x"
    ks[b"p:2"] = b"y"
    ks[b"q"] = b"z"
    keys = [b"k%02d" % i for i in range(10)]
    assert list(ks.keys()) == keys + [b"p:1", b"p:2", b"q"]
    assert list(ks) == list(ks.keys())
    assert list(ks.range(b"k03", b"k06", values=False)) == keys[3:6]
    assert list(ks.range(b"k03", b"k06", reverse=True, values=False)) == keys[5:2:-1]
    assert list(ks.range(hi=b"k02", values=False)) == keys[:2]
    assert list(ks.range(lo=b"p", values=False)) == [b"p:1", b"p:2", b"q"]
    assert list(ks.range(b"k05", b"k05")) == []
    assert list(ks.prefix(b"p:")) == [(b"p:1", b"x"), (b"p:2", b"y")]
    assert list(ks.prefix(b"p:", reverse=True)) == [(b"p:2", b"y"), (b"p:1", b"x")]
    assert list(ks.prefix(b"none")) == []
    assert list(ks.values(lo=b"p:2")) == [b"y", b"z"]
    assert list(ks.items(lo=b"q")) == [(b"q", b"z")]
    ks.flush()                                    # the same through tables
    assert list(ks.range(b"k03", b"k06", reverse=True, values=False)) == keys[5:2:-1]


def test_iterator_seek(db):
    ks = db.keyspace()
    fill(ks)
    with ks.range(values=False) as it:
        assert next(it) == b"k00"
        it.seek(b"k055")
        assert [next(it), next(it)] == [b"k06", b"k07"]
    with ks.range(reverse=True, values=False) as it:
        it.seek(b"k055")
        assert list(it) == [b"k05", b"k04", b"k03", b"k02", b"k01", b"k00"]
    with pytest.raises(tind.Closed):
        next(it)


def test_iterator_sees_its_creation_state(db):
    ks = db.keyspace()
    fill(ks, 3)
    it = ks.range(values=False)
    ks[b"k99"] = b"later"
    assert list(it) == [b"k00", b"k01", b"k02"]


# ---- read-only, close with live handles -----------------------------------------

def test_read_only(path):
    with tind.Database(path) as db:
        fill(db.keyspace())
    with tind.Database(path, read_only=True) as db:
        ks = db.keyspace()
        assert ks[b"k01"] == b"v1" and len(list(ks)) == 10
        with pytest.raises(tind.ReadOnly) as e:
            ks[b"new"] = b"v"
        assert isinstance(e.value, tind.NotSupported) and "read-only" in str(e.value)
        with pytest.raises(tind.NoEntry):
            db.keyspace("not-there")


def test_changes_and_commit_at(db, tmp_path):
    a, b = db.keyspace("a"), db.keyspace("b")
    assert db.last_seqno == 0
    a[b"k1"] = b"v1"
    with db.batch() as bt:
        bt.put(a, b"k2", b"v2")
        bt.put(b, b"k3", b"")
        bt.delete(a, b"k1")
    assert db.last_seqno == 4
    with db.changes() as feed:
        got = list(feed)
        assert got == [(1, [("put", "a", b"k1", b"v1")]),
                       (2, [("put", "a", b"k2", b"v2"), ("put", "b", b"k3", b""), ("delete", "a", b"k1", None)])]
        assert feed.next_batch(10) is None
        a[b"k4"] = b"v4"
        assert feed.next_batch(-1) == (5, [("put", "a", b"k4", b"v4")])
    assert [s for s, _ in db.changes(since=3)] == [2, 5]      # the batch holding 3, whole
    # a replica applies the feed at the leader's seqnos
    with tind.Database(str(tmp_path / "replica")) as r:
        for seqno, ops in db.changes():
            with r.batch() as bt:
                for op, ks, key, value in ops:
                    if op == "put":
                        bt.put(r.keyspace(ks), key, value)
                    else:
                        bt.delete(r.keyspace(ks), key)
                bt.commit_at(seqno)
        assert r.last_seqno == db.last_seqno
        assert dict(r.keyspace("a").items()) == dict(a.items())
        bt = r.batch()
        bt.put(r.keyspace("a"), b"x", b"y")
        with pytest.raises(tind.Exists):
            bt.commit_at(1)
        with pytest.raises(tind.Conflict):
            bt.commit_at(r.last_seqno + 2)
        bt.commit_at(r.last_seqno + 1)
        bt.close()
    with pytest.raises(tind.Busy):
        feed = db.changes()
        try:
            lib_close = tind._ffi.lib.tind_close
            db._check(lib_close(db._db))
        finally:
            feed.close()


def test_changes_retention(tmp_path):
    with tind.Database(str(tmp_path / "r"), journal_file_size=4096, changes_retention=1 << 30) as d:
        ks = d.keyspace(memtable_size=8192)
        for i in range(500):
            ks[b"k%04d" % i] = b"v" * 50
        ks.flush()
        assert len(list(d.changes())) == 500
    with tind.Database(str(tmp_path / "n"), journal_file_size=4096) as d:
        ks = d.keyspace(memtable_size=8192)
        for i in range(500):
            ks[b"k%04d" % i] = b"v" * 50
        ks.flush()
        with pytest.raises(tind.NoEntry) as e:
            d.changes()
        assert "no longer kept" in str(e.value)


def test_checkpoint(db, tmp_path):
    ks = db.keyspace()
    fill(ks)
    copy = str(tmp_path / "copy")
    db.checkpoint(copy)
    ks[b"after"] = b"x"
    with pytest.raises(tind.Exists) as e:
        db.checkpoint(copy)
    assert "already exists" in str(e.value)
    with tind.Database(copy) as c:
        assert c.keyspace()[b"k03"] == b"v3" and b"after" not in c.keyspace()


def test_close_with_live_handles(path):
    db = tind.Database(path)
    ks = db.keyspace()
    fill(ks)
    it = ks.range()
    assert next(it) == (b"k00", b"v0")
    snap = db.snapshot()
    wb = db.batch()
    wb.put(ks, b"lost", b"x")
    ks.range()                                    # dropped at once
    db.close()                                    # releases it, snap and wb
    for call in (lambda: next(it), lambda: snap.seqno, lambda: wb.commit(),
                 lambda: ks[b"k00"], lambda: ks.range()):
        with pytest.raises(tind.Closed):
            call()
    it.close()                                    # harmless after the database closed
    with tind.Database(path) as db:
        assert b"lost" not in db.keyspace() and db.keyspace()[b"k09"] == b"v9"


def test_forgotten_handles_do_not_block_close(path):
    db = tind.Database(path)
    ks = db.keyspace()
    fill(ks)

    def forget():
        it = ks.prefix(b"k")
        next(it)
        db.snapshot()
        db.batch()
    forget()
    gc.collect()
    assert len(db._children) == 0
    db.close()


# ---- threads ------------------------------------------------------------------

def test_threads_write_while_reading(db):
    """Two threads write disjoint keys while a third reads and iterates;
    every write is there at the end and the reader never sees a torn value."""
    ks = db.keyspace("t", memtable_size=64 << 10)
    n = 3000
    errors = []
    done = threading.Event()

    def writer(tag):
        try:
            for i in range(n):
                ks[b"%s%05d" % (tag, i)] = (b"%s%05d" % (tag, i)) * 4
        except Exception as e:                   # pragma: no cover - reported below
            errors.append(e)

    def reader():
        try:
            while not done.is_set():
                for k, v in ks.range(b"a", b"c"):
                    if v != k * 4:
                        errors.append(AssertionError("torn %r %r" % (k, v)))
                        return
                ks.get(b"a00000")
        except Exception as e:                   # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in (b"a", b"b")]
    r = threading.Thread(target=reader)
    r.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    r.join(120)
    assert not errors, errors
    assert not r.is_alive() and not any(t.is_alive() for t in threads)
    assert len(list(ks.keys())) == 2 * n


def test_close_while_threads_call(path):
    """close() waits for the calls in flight; calls after it raise Closed,
    never crash."""
    db = tind.Database(path)
    ks = db.keyspace()
    fill(ks)
    started = threading.Barrier(3)
    outcome = []

    def worker():
        started.wait()
        try:
            while True:
                ks[b"w"] = b"v"
                list(ks.range())
        except tind.Closed:
            outcome.append("closed")

    ts = [threading.Thread(target=worker) for _ in range(2)]
    for t in ts:
        t.start()
    started.wait()
    db.close()
    for t in ts:
        t.join(60)
    assert outcome == ["closed", "closed"]


def test_merge_counter_and_append(db, path):
    c = db.keyspace("c", merge="counter")
    a = db.keyspace("a", merge="append", merge_separator=b",")
    c.merge(b"hits", 5)
    c.merge(b"hits", (3).to_bytes(8, "little"))
    c.merge(b"hits", -1)
    with db.batch() as b:
        b.merge(c, b"hits", 10)
        b.merge(a, b"log", b"x")
    a.merge(b"log", b"y")
    assert int.from_bytes(c[b"hits"], "little") == 17
    assert a[b"log"] == b"x,y"
    a[b"k"] = b"v"
    a.single_delete(b"k")
    assert a.get(b"k") is None
    with pytest.raises(ValueError):
        db.keyspace("bad", merge="sum")
    with pytest.raises(TypeError):
        db.keyspace("bad", merge_separator=b",")
    db.close()
    d2 = tind.Database(path)                 # built-ins come back with the keyspace
    try:
        assert int.from_bytes(d2.keyspace("c")[b"hits"], "little") == 17
        assert d2.keyspace("a")[b"log"] == b"x,y"
    finally:
        d2.close()


def test_version():
    assert tind.version().count(".") == 2


def test_gil_released_inside_the_library(db):
    """A thread blocked inside libtind (a change feed waiting for the next
    batch) does not hold the GIL: the main thread samples the waiter's frame
    sitting on the C call many times, then writes, and that write is what
    wakes the waiter. With the GIL held across the call, the main thread
    could not run until the wait timed out, and the waiter would get None."""
    import inspect
    import sys

    lines, first = inspect.getsourcelines(tind.Changes.next_batch)
    call_line = first + next(i for i, l in enumerate(lines) if "lib.tind_changes_next(" in l)
    ks = db.keyspace("gil")
    got = []
    with db.changes(since=db.last_seqno + 1) as feed:
        t = threading.Thread(target=lambda: got.append(feed.next_batch(20000)))
        t.start()
        seen = 0
        while seen < 200 and t.is_alive():
            frame = sys._current_frames().get(t.ident)
            while frame is not None and frame.f_code is not tind.Changes.next_batch.__code__:
                frame = frame.f_back
            if frame is not None and frame.f_lineno == call_line:
                seen += 1
        ks[b"wake"] = b"up"
        t.join()
    assert seen >= 200
    assert got == [(1, [("put", "gil", b"wake", b"up")])]


def test_keyspace_options(db):
    ks = db.keyspace("opts", memtable_size=1 << 20)
    o = ks.options()
    assert o["memtable_size"] == str(1 << 20)
    assert o["compression"].split()[0] == "lz4"
    assert o["merge_operator"] == "none"
    assert int(db.keyspace("default").options()["memtable_size"]) > (1 << 20)   # the default
