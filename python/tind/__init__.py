"""tind: Python binding of the tind embeddable LSM-tree key-value engine.

    import tind
    with tind.Database("/tmp/db") as db:
        ks = db.keyspace("users")
        ks[b"alice"] = b"1"
        with db.batch() as b:          # committed on success, discarded on exception
            b.put(ks, b"bob", b"2")
        for key, value in ks.prefix(b"a"):
            ...
        with db.transaction() as t:    # serializable; committed on success
            n = int(t.get(ks, b"n", b"0"))
            t.put(ks, b"n", b"%d" % (n + 1))   # tind.Conflict at commit: retry

Keys and values are bytes (bytearray and memoryview are accepted as input);
reads return bytes. Every failure raises tind.Error (or a subclass per
status) carrying tind's own message (tind_errmsg). The GIL is released
during every call into the library.

Handles: a Keyspace lives as long as its Database. Iterators, snapshots,
batches and transactions hold native handles that tind refuses to close
the database over; Database.close() first releases every live one (they
raise tind.Closed afterwards), and a forgotten one is released when it is
garbage collected.

Thread safety: a Database and its Keyspaces may be used from any number of
threads at once; close() waits for the calls already running. An Iterator or
a Batch is meant for one thread at a time (a lock makes sharing safe, not
useful); a Snapshot may be shared.
"""

import os
import threading
import weakref

from ._ffi import ffi, lib

__all__ = [
    "Database", "Keyspace", "Batch", "Snapshot", "Transaction", "Iterator", "open", "version",
    "Error", "NotFound", "InvalidArgument", "NoMemory", "IOFailure", "Corruption",
    "NoSpace", "Busy", "Poisoned", "VersionError", "Exists", "TooBig", "Closed",
    "NotSupported", "ReadOnly", "Conflict", "NoEntry", "TooManyFiles",
    "PERSIST_NONE", "PERSIST_BUFFER", "PERSIST_SYNC_DATA", "PERSIST_SYNC_ALL",
]

PERSIST_NONE = lib.TIND_PERSIST_NONE
PERSIST_BUFFER = lib.TIND_PERSIST_BUFFER
PERSIST_SYNC_DATA = lib.TIND_PERSIST_SYNC_DATA
PERSIST_SYNC_ALL = lib.TIND_PERSIST_SYNC_ALL

_COMPRESSION = {"none": lib.TIND_COMPRESSION_NONE, "lz4": lib.TIND_COMPRESSION_LZ4,
                "zstd": lib.TIND_COMPRESSION_ZSTD}
_COMPACTION = {"leveled": lib.TIND_COMPACTION_LEVELED, "tiered": lib.TIND_COMPACTION_TIERED,
               "fifo": lib.TIND_COMPACTION_FIFO}
_MERGE = {"counter": lib.TIND_MERGE_COUNTER, "append": lib.TIND_MERGE_APPEND}


def version():
    """The version of the loaded libtind ("0.2.0")."""
    return ffi.string(lib.tind_version()).decode()


# ---- errors -----------------------------------------------------------------

class Error(Exception):
    """A failed tind call: .code is the status (negative TIND_E... value),
    .message tind's detailed text (tind_errmsg), or tind_strerror's when
    the library recorded none."""

    def __init__(self, code, message):
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self):
        return self.message

    def __repr__(self):
        return "%s(%d, %r)" % (type(self).__name__, self.code, self.message)


class NotFound(Error, KeyError):
    """TIND_NOT_FOUND; a KeyError, so ks[key] behaves as a mapping's."""


class InvalidArgument(Error, ValueError):
    """TIND_EINVAL."""


class NoMemory(Error, MemoryError):
    """TIND_ENOMEM."""


class IOFailure(Error):
    """TIND_EIO: the operating system failed an I/O."""


class Corruption(Error):
    """TIND_ECORRUPT: a file failed a checksum or a structural check."""


class NoSpace(Error):
    """TIND_ENOSPC."""


class Busy(Error):
    """TIND_EBUSY: the folder is locked by another open, or close met live handles."""


class Poisoned(Error):
    """TIND_EPOISONED: an earlier journal or version write failed; read-only until reopened."""


class VersionError(Error):
    """TIND_EVERSION: written by a newer tind."""


class Exists(Error):
    """TIND_EEXIST."""


class TooBig(Error, ValueError):
    """TIND_ETOOBIG: a key or value beyond the documented limits."""


class Closed(Error):
    """TIND_ECLOSED, and any use of a closed Database or released handle."""


class NotSupported(Error):
    """TIND_ENOTSUP."""


class ReadOnly(NotSupported):
    """A write to a database opened with read_only=True (TIND_ENOTSUP)."""


class Conflict(Error):
    """TIND_ECONFLICT."""


class NoEntry(Error):
    """TIND_ENOENT: a file, folder or keyspace that does not exist."""


class TooManyFiles(Error):
    """TIND_EMFILE."""


_ERRORS = {
    lib.TIND_NOT_FOUND: NotFound, lib.TIND_EINVAL: InvalidArgument,
    lib.TIND_ENOMEM: NoMemory, lib.TIND_EIO: IOFailure, lib.TIND_ECORRUPT: Corruption,
    lib.TIND_ENOSPC: NoSpace, lib.TIND_EBUSY: Busy, lib.TIND_EPOISONED: Poisoned,
    lib.TIND_EVERSION: VersionError, lib.TIND_EEXIST: Exists, lib.TIND_ETOOBIG: TooBig,
    lib.TIND_ECLOSED: Closed, lib.TIND_ENOTSUP: NotSupported, lib.TIND_ECONFLICT: Conflict,
    lib.TIND_ENOENT: NoEntry, lib.TIND_EMFILE: TooManyFiles,
}


def _error(code, c_db, read_only=False):
    """The exception for status code, with the calling thread's message.
    Must run in the thread that made the failed call (tind_errmsg is per
    thread), which it does: cffi calls run in the calling OS thread."""
    message = ffi.string(lib.tind_errmsg(c_db)).decode("utf-8", "replace")
    if not message:
        message = ffi.string(lib.tind_strerror(code)).decode()
    cls = _ERRORS.get(code, Error)
    if cls is NotSupported and read_only:
        cls = ReadOnly
    return cls(code, message)


def _closed(what):
    return Closed(lib.TIND_ECLOSED, "%s is closed" % what)


def _bytes(x, what):
    """(pointer, length) of x, passed as `const char *` without a copy."""
    if type(x) is bytes:
        return x, len(x)
    if isinstance(x, (bytearray, memoryview)):
        buf = ffi.from_buffer(x)
        return buf, len(buf)
    raise TypeError("tind: %s must be bytes, not %s" % (what, type(x).__name__))


def _bound(x, what):
    """A range bound: None (open) or bytes."""
    return (ffi.NULL, 0) if x is None else _bytes(x, what)


def _take(ptr, n):
    """The bytes of a tind_free-owned buffer, which it frees."""
    try:
        return ffi.unpack(ffi.cast("char *", ptr[0]), n[0])
    finally:
        lib.tind_free(ptr[0])


class _InFlight:
    """Counts the calls running on a native handle so that freeing it can
    wait for them: enter() raises tind.Closed once close() has begun, and
    close() returns (True) when no call is left inside, or False when
    another close() came first."""

    __slots__ = ("_cond", "_calls", "closing", "_what")

    def __init__(self, what):
        self._cond = threading.Condition(threading.Lock())
        self._calls = 0
        self.closing = False
        self._what = what

    def enter(self):
        with self._cond:
            if self.closing:
                raise _closed(self._what)
            self._calls += 1

    def leave(self):
        with self._cond:
            self._calls -= 1
            if self._calls == 0 and self.closing:
                self._cond.notify_all()

    def close(self):
        with self._cond:
            if self.closing:
                return False
            self.closing = True
            while self._calls:
                self._cond.wait()
            return True


# ---- the database -----------------------------------------------------------

_DB_OPTIONS = {
    "create_if_missing": lib.tind_options_set_create_if_missing,
    "cache_size": lib.tind_options_set_cache_size,
    "blob_cache_size": lib.tind_options_set_blob_cache_size,
    "write_buffer_size": lib.tind_options_set_write_buffer_size,
    "journal_file_size": lib.tind_options_set_journal_file_size,
    "max_journal_size": lib.tind_options_set_max_journal_size,
    "journal_compression_threshold": lib.tind_options_set_journal_compression_threshold,
    "background_threads": lib.tind_options_set_background_threads,
    "sync_interval_ms": lib.tind_options_set_sync_interval_ms,
    "max_open_files": lib.tind_options_set_max_open_files,
    "default_durability": lib.tind_options_set_default_durability,
    "read_only": lib.tind_options_set_read_only,
    "changes_retention": lib.tind_options_set_changes_retention,
}


class Database:
    """An open tind database folder.

    Database(path, create_if_missing=True, read_only=False, cache_size=...,
    blob_cache_size=..., write_buffer_size=..., background_threads=...,
    default_durability=...,
    sync_interval_ms=..., max_open_files=..., journal_file_size=...,
    max_journal_size=..., journal_compression_threshold=...): the options of
    tind_options_set_*; an unknown name is a TypeError. A context manager
    that closes on exit."""

    def __init__(self, path, **options):
        unknown = set(options) - set(_DB_OPTIONS)
        if unknown:
            raise TypeError("tind: unknown database option(s): %s" % ", ".join(sorted(unknown)))
        path = os.fsencode(path)
        self.path = path.decode("utf-8", "replace")
        self.read_only = bool(options.get("read_only", False))
        self._db = ffi.NULL
        # Calls in flight: close() waits for them (tind frees every handle of
        # the database when tind_close returns, so no call may still be inside).
        self._inflight = _InFlight("database '%s'" % self.path)
        self._children = weakref.WeakSet()   # live Iterators, Snapshots, Batches
        self._keyspaces = {}
        opts = lib.tind_options_new()
        if opts == ffi.NULL:
            raise NoMemory(lib.TIND_ENOMEM, "tind_options_new: out of memory")
        try:
            for name, value in options.items():
                _DB_OPTIONS[name](opts, int(value))
            out = ffi.new("tind_db **")
            rc = lib.tind_open(path, opts, out)
        finally:
            lib.tind_options_free(opts)
        if rc != 0:
            raise _error(rc, ffi.NULL)
        self._db = out[0]

    # Every call on the database or a handle made from it runs between
    # _enter and _leave.
    def _enter(self):
        self._inflight.enter()

    def _leave(self):
        self._inflight.leave()

    def _check(self, rc):
        if rc != 0:
            raise _error(rc, self._db, self.read_only)

    @property
    def closed(self):
        return self._inflight.closing

    def close(self):
        """Releases every live iterator, snapshot and batch made from this
        database, then closes it (persisting the journal). Waits for the
        calls running in other threads. A second close does nothing."""
        if not self._inflight.close():
            return
        for child in list(self._children):
            child._release()
        rc = lib.tind_close(self._db)
        self._db = ffi.NULL
        self._keyspaces.clear()
        if rc != 0:
            raise _error(rc, ffi.NULL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_db", ffi.NULL) != ffi.NULL:
            try:
                self.close()
            except Error:
                pass

    def __repr__(self):
        return "<tind.Database %r%s>" % (self.path, " closed" if self.closed else "")

    # ---- keyspaces
    def keyspace(self, name="default", create=True, **options):
        """The Keyspace called name, created when missing (create=False:
        tind.NoEntry instead). Options (used at creation): memtable_size,
        compaction ("leveled", "tiered", "fifo"), l0_threshold, table_size,
        level_ratio, levels, block_size, restart_interval, hash_ratio,
        compression ("none", "lz4", "zstd"), bloom_bits, partitioning,
        expect_point_read_hits, fifo=(max_bytes, ttl_seconds), merge
        ("counter": 8-byte little-endian unsigned sums; "append"),
        merge_separator (bytes, with merge="append"), value_ttl (values
        start with an 8-byte big-endian expiry time), periodic_compaction
        (seconds); prefix filters: prefix_fixed=N (first N bytes) or
        prefix_separator=b":" (up to and including the first such byte),
        prefix_whole_keys (default True); zstd_dict=BYTES (zstd dictionaries
        on every level, with compression="zstd")."""
        if not create and name not in self:
            raise NoEntry(lib.TIND_ENOENT, "keyspace '%s' does not exist" % name)
        ks = self._keyspaces.get(name)
        if ks is not None:
            return ks
        kopts = _ks_options(options)
        out = ffi.new("tind_keyspace **")
        self._enter()
        try:
            self._check(lib.tind_keyspace_open(self._db, name.encode(), kopts, out))
        finally:
            self._leave()
            lib.tind_ks_options_free(kopts)
        ks = Keyspace(self, out[0], name)
        self._keyspaces[name] = ks
        return ks

    def __contains__(self, name):
        """Whether a keyspace of that name exists."""
        self._enter()
        try:
            rc = lib.tind_keyspace_exists(self._db, name.encode())
        finally:
            self._leave()
        if rc == lib.TIND_NOT_FOUND:
            return False
        self._check(rc)
        return True

    def keyspaces(self):
        """The names of every keyspace, sorted."""
        names = ffi.new("char ***")
        count = ffi.new("size_t *")
        self._enter()
        try:
            self._check(lib.tind_keyspace_list(self._db, names, count))
        finally:
            self._leave()
        try:
            return [ffi.string(names[0][i]).decode() for i in range(count[0])]
        finally:
            lib.tind_free(names[0])

    def delete_keyspace(self, name):
        """Deletes a keyspace and its data (durable on return); its Keyspace
        object then raises tind.NoEntry."""
        self._enter()
        try:
            self._check(lib.tind_keyspace_delete(self._db, name.encode()))
        finally:
            self._leave()
        # tind keeps the old handle (failing with TIND_ENOENT) until close; a
        # later keyspace(name) opens the new keyspace of that name.
        self._keyspaces.pop(name, None)

    # ---- writes, reads
    def persist(self, mode=PERSIST_SYNC_ALL):
        """Makes every write that has returned durable per mode."""
        self._enter()
        try:
            self._check(lib.tind_persist(self._db, mode))
        finally:
            self._leave()

    def checkpoint(self, path):
        """Writes a consistent copy of the database to the new folder path,
        online (tind_checkpoint): every write that returned before the call
        is in it; tables are hard-linked when on the same file system."""
        path = os.fsencode(path)
        self._enter()
        try:
            self._check(lib.tind_checkpoint(self._db, path))
        finally:
            self._leave()

    @property
    def last_seqno(self):
        """The seqno of the last committed operation (tind_last_seqno)."""
        out = ffi.new("uint64_t *")
        self._enter()
        try:
            self._check(lib.tind_last_seqno(self._db, out))
        finally:
            self._leave()
        return int(out[0])

    def changes(self, since=1):
        """A Changes cursor on the committed batches from seqno since on
        (tind_changes_since): iterate it for (seqno, ops) pairs until caught
        up, or call next_batch(timeout_ms) to wait for more. tind.NoEntry
        when those journals are deleted already (see changes_retention)."""
        return Changes(self, since)

    def batch(self, durability=None):
        """A new atomic Batch across keyspaces; as a context manager it
        commits on a normal exit and discards on an exception."""
        return Batch(self, durability)

    def snapshot(self):
        """A Snapshot of the current state (a context manager that releases it)."""
        return Snapshot(self)

    def transaction(self, single_writer=False, nowait=False, read_only=False, durability=None):
        """A new Transaction (tind_txn_begin): optimistic and serializable by
        default; single_writer=True waits while another single-writer
        transaction is open (nowait=True raises tind.Busy instead);
        read_only=True refuses writes. As a context manager it commits on a
        normal exit (tind.Conflict when it must be retried) and rolls back
        on an exception."""
        return Transaction(self, single_writer, nowait, read_only, durability)


def _ks_options(options):
    kopts = lib.tind_ks_options_new()
    if kopts == ffi.NULL:
        raise NoMemory(lib.TIND_ENOMEM, "tind_ks_options_new: out of memory")
    try:
        options = dict(options)
        sep = options.pop("merge_separator", None)
        if sep is not None and options.get("merge") != "append":
            raise TypeError("tind: merge_separator needs merge='append'")
        for name, value in options.items():
            if name == "merge":
                if value not in _MERGE:
                    raise ValueError("tind: merge must be one of %s" % ", ".join(sorted(_MERGE)))
                s, n = _bytes(sep, "merge_separator") if sep is not None else (ffi.NULL, 0)
                lib.tind_ks_options_set_merge_builtin(kopts, _MERGE[value], s, n)
            elif name == "compaction":
                lib.tind_ks_options_set_compaction(kopts, _COMPACTION[value])
            elif name == "compression":
                lib.tind_ks_options_set_compression(kopts, -1, _COMPRESSION[value], 3)
            elif name == "bloom_bits":
                lib.tind_ks_options_set_bloom_bits(kopts, -1, float(value))
            elif name == "hash_ratio":
                lib.tind_ks_options_set_hash_ratio(kopts, float(value))
            elif name == "fifo":
                lib.tind_ks_options_set_fifo(kopts, int(value[0]), int(value[1]))
            elif name == "blob_separation":             # (on, threshold) or a bool
                on, threshold = value if isinstance(value, tuple) else (bool(value), 4096)
                lib.tind_ks_options_set_blob_separation(kopts, int(bool(on)), int(threshold))
            elif name == "blob_file_size":
                lib.tind_ks_options_set_blob_file_size(kopts, int(value))
            elif name == "blob_compression":
                lib.tind_ks_options_set_blob_compression(kopts, _COMPRESSION[value], 3)
            elif name == "blob_gc":                     # (ratio, age_cutoff)
                lib.tind_ks_options_set_blob_gc(kopts, float(value[0]), float(value[1]))
            elif name == "prefix_fixed":
                lib.tind_ks_options_set_prefix_fixed(kopts, int(value))
            elif name == "prefix_separator":
                lib.tind_ks_options_set_prefix_separator(kopts, value[0] if isinstance(value, (bytes, bytearray))
                                                         else int(value))
            elif name == "prefix_whole_keys":
                lib.tind_ks_options_set_prefix_whole_keys(kopts, 1 if value else 0)
            elif name == "zstd_dict":
                lib.tind_ks_options_set_zstd_dict(kopts, -1, int(value))
            elif name in ("memtable_size", "l0_threshold", "table_size", "level_ratio", "levels",
                          "block_size", "restart_interval", "partitioning",
                          "expect_point_read_hits", "value_ttl", "periodic_compaction"):
                getattr(lib, "tind_ks_options_set_" + name)(kopts, int(value))
            else:
                raise TypeError("tind: unknown keyspace option: %s" % name)
    except BaseException:
        lib.tind_ks_options_free(kopts)
        raise
    return kopts


class _ReadOptions:
    """A tind_read_options for one call (NULL when no snapshot is given).
    Holds the snapshot in flight until free(), so that closing it in another
    thread waits for the read instead of freeing it under the read."""

    __slots__ = ("ro", "_snapshot")

    def __init__(self, snapshot, db):
        self.ro = ffi.NULL
        self._snapshot = None
        if snapshot is None:
            return
        if not isinstance(snapshot, (Snapshot, Transaction)) or snapshot._db is not db:
            raise TypeError("tind: snapshot must be a Snapshot or a Transaction of the same Database")
        snapshot._inflight.enter()
        self._snapshot = snapshot
        ro = lib.tind_read_options_new()
        if ro == ffi.NULL:
            self.free()
            raise NoMemory(lib.TIND_ENOMEM, "tind_read_options_new: out of memory")
        if snapshot._handle == ffi.NULL:
            lib.tind_read_options_free(ro)
            self.free()
            raise _closed(snapshot._kind)
        if isinstance(snapshot, Transaction):
            lib.tind_read_options_set_txn(ro, snapshot._handle)
        else:
            lib.tind_read_options_set_snapshot(ro, snapshot._handle)
        self.ro = ro

    def free(self):
        if self.ro != ffi.NULL:
            lib.tind_read_options_free(self.ro)
            self.ro = ffi.NULL
        if self._snapshot is not None:
            self._snapshot._inflight.leave()
            self._snapshot = None


class Keyspace:
    """A named keyspace, mapping-like: ks[key], ks[key] = value, del ks[key],
    key in ks, len(ks) (approximate: may over-count), iter(ks) (keys in
    order). Made by Database.keyspace(); lives as long as its database."""

    def __init__(self, db, handle, name):
        self._db = db
        self._ks = handle
        self.name = name

    def __repr__(self):
        return "<tind.Keyspace %r of %r>" % (self.name, self._db.path)

    def _call(self, fn, *args):
        db = self._db
        db._enter()
        try:
            rc = fn(self._ks, *args)
            if rc != lib.TIND_NOT_FOUND:
                db._check(rc)
            return rc
        finally:
            db._leave()

    # ---- writes
    def put(self, key, value):
        self._call(lib.tind_put, *_bytes(key, "key"), *_bytes(value, "value"))

    def delete(self, key):
        """Removes key (absent or not)."""
        self._call(lib.tind_remove, *_bytes(key, "key"))

    def remove_range(self, lo=None, hi=None):
        """Deletes every key k with lo <= k < hi in one operation (None: open
        bound). lo == hi deletes nothing; lo > hi raises (TIND_EINVAL)."""
        self._call(lib.tind_remove_range, *_bound(lo, "lo"), *_bound(hi, "hi"))

    def clear(self):
        """Deletes every key of the keyspace (one crash-safe operation)."""
        self._call(lib.tind_keyspace_clear)

    def merge(self, key, operand):
        """Merges operand into key with the keyspace's merge operator (for
        merge="counter": an int, or its 8 bytes little-endian)."""
        if isinstance(operand, int):
            operand = (operand % (1 << 64)).to_bytes(8, "little")
        self._call(lib.tind_merge, *_bytes(key, "key"), *_bytes(operand, "operand"))

    def single_delete(self, key):
        """Removes key, put at most once since its last removal (cheaper in
        compaction than delete; see tind_single_remove(3))."""
        self._call(lib.tind_single_remove, *_bytes(key, "key"))

    __setitem__ = put
    __delitem__ = delete

    # ---- reads
    def get(self, key, default=None, snapshot=None):
        """The value of key, or default when absent."""
        k = _bytes(key, "key")
        val = ffi.new("void **")
        vlen = ffi.new("size_t *")
        ro = _ReadOptions(snapshot, self._db)
        try:
            rc = self._call(lib.tind_get, *k, ro.ro, val, vlen)
        finally:
            ro.free()
        if rc == lib.TIND_NOT_FOUND:
            return default
        return _take(val, vlen)

    def __getitem__(self, key):
        k = _bytes(key, "key")
        val = ffi.new("void **")
        vlen = ffi.new("size_t *")
        rc = self._call(lib.tind_get, *k, ffi.NULL, val, vlen)
        if rc == lib.TIND_NOT_FOUND:
            raise NotFound(rc, "key %r not found in keyspace '%s'" % (bytes(key), self.name))
        return _take(val, vlen)

    def contains(self, key, snapshot=None):
        ro = _ReadOptions(snapshot, self._db)
        try:
            return self._call(lib.tind_contains, *_bytes(key, "key"), ro.ro) == 0
        finally:
            ro.free()

    def __contains__(self, key):
        return self._call(lib.tind_contains, *_bytes(key, "key"), ffi.NULL) == 0

    def value_size(self, key, snapshot=None):
        """The size of key's value in bytes, or None when absent."""
        size = ffi.new("uint64_t *")
        ro = _ReadOptions(snapshot, self._db)
        try:
            rc = self._call(lib.tind_value_size, *_bytes(key, "key"), ro.ro, size)
        finally:
            ro.free()
        return None if rc == lib.TIND_NOT_FOUND else size[0]

    def _end(self, fn, snapshot):
        key = ffi.new("void **")
        klen = ffi.new("size_t *")
        val = ffi.new("void **")
        vlen = ffi.new("size_t *")
        ro = _ReadOptions(snapshot, self._db)
        try:
            rc = self._call(fn, ro.ro, key, klen, val, vlen)
        finally:
            ro.free()
        if rc == lib.TIND_NOT_FOUND:
            return None
        return _take(key, klen), _take(val, vlen)

    def first(self, snapshot=None):
        """(key, value) of the smallest key, or None when empty."""
        return self._end(lib.tind_first, snapshot)

    def last(self, snapshot=None):
        """(key, value) of the largest key, or None when empty."""
        return self._end(lib.tind_last, snapshot)

    def __len__(self):
        """Approximate number of live keys (cheap; may over-count)."""
        n = ffi.new("uint64_t *")
        self._call(lib.tind_approximate_len, n)
        return n[0]

    def __bool__(self):
        return True    # a Keyspace is a handle: truthy even when empty

    def disk_space(self):
        n = ffi.new("uint64_t *")
        self._call(lib.tind_disk_space, n)
        return n[0]

    def stats(self):
        """tind_ks_stats as a dict (per-level lists cut to `levels`)."""
        s = ffi.new("tind_ks_stats *")
        self._call(lib.tind_ks_stats_get, s)
        out = {}
        for field, _ in ffi.typeof("tind_ks_stats").fields:
            v = getattr(s, field)
            out[field] = list(v)[:s.levels] if field in ("tables", "level_bytes") else int(v)
        return out

    def options(self):
        """The options the keyspace is open with, as a dict of name -> text
        (tind_ks_options_format's lines: {"memtable_size": "16777216",
        "compression": "lz4 lz4 ...", ...})."""
        o = ffi.new("tind_ks_options **")
        text = ffi.new("char **")
        self._call(lib.tind_keyspace_options, o)
        try:
            self._db._check(lib.tind_ks_options_format(o[0], text))
        finally:
            lib.tind_ks_options_free(o[0])
        try:
            lines = ffi.string(text[0]).decode("utf-8", "replace").splitlines()
        finally:
            lib.tind_free(text[0])
        return dict(line.split(" = ", 1) for line in lines)

    def flush(self):
        """Flushes the memtables to tables and waits."""
        self._call(lib.tind_flush)

    def compact(self):
        """Compacts every table into the last level and waits."""
        self._call(lib.tind_compact)

    # ---- iteration
    def range(self, lo=None, hi=None, reverse=False, snapshot=None, keys=True, values=True):
        """An Iterator over keys in [lo, hi) (None: unbounded), ascending or
        with reverse=True descending, yielding (key, value) pairs; keys=False
        or values=False yields only the other one."""
        return Iterator(self, lo, hi, None, reverse, snapshot, keys, values)

    def prefix(self, prefix, reverse=False, snapshot=None, keys=True, values=True):
        """An Iterator over the keys that start with prefix."""
        return Iterator(self, None, None, prefix, reverse, snapshot, keys, values)

    def __iter__(self):
        return self.range(values=False)

    def keys(self, **kw):
        return self.range(values=False, **kw)

    def values(self, **kw):
        return self.range(keys=False, **kw)

    def items(self, **kw):
        return self.range(**kw)


class _Child:
    """A native handle tind refuses to close the database over. Registered
    with its Database, which releases it before closing; released by
    __del__ when forgotten. _lock serializes the calls on the handle and its
    release (tind's iterators and batches are single-threaded)."""

    _kind = "handle"

    def _register(self, db, handle):
        self._db = db
        self._lock = threading.Lock()
        self._handle = handle
        db._children.add(self)

    def _create(self, db, new, ctype):
        """Makes the handle with new(db, &handle) and registers it."""
        out = ffi.new(ctype)
        db._enter()
        try:
            db._check(new(db._db, out))
            self._register(db, out[0])
        finally:
            db._leave()

    def _free(self, handle):
        raise NotImplementedError

    def _release(self):
        with self._lock:
            handle, self._handle = self._handle, ffi.NULL
            if handle != ffi.NULL:
                self._free(handle)

    def close(self):
        """Releases the native handle now (idempotent)."""
        if getattr(self, "_handle", ffi.NULL) != ffi.NULL:
            self._db._children.discard(self)
            self._release()

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def _begin(self):
        """Enters the database and takes the handle's lock (_finish undoes)."""
        self._db._enter()
        self._lock.acquire()
        if self._handle == ffi.NULL:
            self._lock.release()
            self._db._leave()
            raise _closed(self._kind)

    def _finish(self):
        self._lock.release()
        self._db._leave()

    def _call(self, fn, *args):
        """fn(handle, *args) under the handle's lock, inside the database."""
        self._begin()
        try:
            return fn(self._handle, *args)
        finally:
            self._finish()


class Snapshot(_Child):
    """A fixed point in the write history: pass it as snapshot= to reads and
    iterators of any keyspace of its database; snap.get(ks, key) reads
    through it. A context manager that releases it."""

    _kind = "snapshot"

    def __init__(self, db):
        # Reads through the snapshot (in flight), and iterators made on it
        # (users), end before it is freed: tind requires that it outlive them.
        self._inflight = _InFlight("snapshot")
        self._users = weakref.WeakSet()
        self._create(db, lib.tind_snapshot_new, "tind_snapshot **")

    def _release(self):
        self._inflight.close()
        for it in list(self._users):
            it._release()
        _Child._release(self)

    def _free(self, handle):
        lib.tind_snapshot_free(handle)

    def __exit__(self, *exc):
        self.close()

    @property
    def seqno(self):
        return self._call(lib.tind_snapshot_seqno)

    def get(self, ks, key, default=None):
        return ks.get(key, default, snapshot=self)


class Batch(_Child):
    """An atomic write batch across keyspaces of one database. As a context
    manager it commits on a normal exit and discards on an exception;
    commit() may also be called by hand (the batch is then empty and
    reusable)."""

    _kind = "batch"

    def __init__(self, db, durability=None):
        self._create(db, lib.tind_batch_new, "tind_batch **")
        if durability is not None:
            lib.tind_batch_set_durability(self._handle, durability)

    def _free(self, handle):
        lib.tind_batch_free(handle)

    def _op(self, fn, ks, *args):
        if not isinstance(ks, Keyspace) or ks._db is not self._db:
            raise TypeError("tind: the batch's first argument must be a Keyspace of its Database")
        self._db._check(self._call(fn, ks._ks, *args))

    def put(self, ks, key, value):
        self._op(lib.tind_batch_put, ks, *_bytes(key, "key"), *_bytes(value, "value"))

    def delete(self, ks, key):
        self._op(lib.tind_batch_remove, ks, *_bytes(key, "key"))

    def remove_range(self, ks, lo=None, hi=None):
        """Adds the deletion of every key in [lo, hi) (None: open bound)."""
        self._op(lib.tind_batch_remove_range, ks, *_bound(lo, "lo"), *_bound(hi, "hi"))

    def merge(self, ks, key, operand):
        if isinstance(operand, int):
            operand = (operand % (1 << 64)).to_bytes(8, "little")
        self._op(lib.tind_batch_merge, ks, *_bytes(key, "key"), *_bytes(operand, "operand"))

    def single_delete(self, ks, key):
        self._op(lib.tind_batch_single_remove, ks, *_bytes(key, "key"))

    def __len__(self):
        return self._call(lib.tind_batch_count)

    def clear(self):
        self._call(lib.tind_batch_clear)

    def commit(self):
        """Applies every operation atomically and empties the batch."""
        self._db._check(self._call(lib.tind_batch_commit))

    def commit_at(self, seqno):
        """commit() on the condition that the first operation gets seqno
        (tind_batch_commit_at): tind.Exists when applied already (the batch
        is kept), tind.Conflict when earlier batches are missing."""
        self._db._check(self._call(lib.tind_batch_commit_at, int(seqno)))

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.close()


class Transaction(_Child):
    """A transaction: its reads see one snapshot plus its own writes, and
    commit() applies its writes atomically, or raises tind.Conflict (nothing
    applied: begin a new one and retry) when something it read or writes
    changed after its snapshot. Pass it as snapshot= to any read or iterator
    of its database's keyspaces, or use t.get(ks, key). A context manager:
    commit on a normal exit, rollback on an exception. Ended (and its handle
    released) by commit() or rollback(), whatever commit() raises."""

    _kind = "transaction"

    def __init__(self, db, single_writer=False, nowait=False, read_only=False, durability=None):
        self._inflight = _InFlight("transaction")
        flags = ((lib.TIND_TXN_SINGLE_WRITER if single_writer else 0) |
                 (lib.TIND_TXN_NOWAIT if nowait else 0) |
                 (lib.TIND_TXN_READ_ONLY if read_only else 0))
        out = ffi.new("tind_txn **")
        db._enter()
        try:
            db._check(lib.tind_txn_begin(db._db, flags, out))
            self._register(db, out[0])
        finally:
            db._leave()
        if durability is not None:
            lib.tind_txn_set_durability(self._handle, durability)

    def _free(self, handle):
        lib.tind_txn_rollback(handle)

    def _release(self):
        self._inflight.close()    # reads through it finish first
        _Child._release(self)

    @property
    def seqno(self):
        """The sequence number of its snapshot."""
        return self._call(lib.tind_txn_seqno)

    def _op(self, fn, ks, *args):
        if not isinstance(ks, Keyspace) or ks._db is not self._db:
            raise TypeError("tind: the transaction's first argument must be a Keyspace of its Database")
        self._db._check(self._call(fn, ks._ks, *args))

    def put(self, ks, key, value):
        self._op(lib.tind_txn_put, ks, *_bytes(key, "key"), *_bytes(value, "value"))

    def delete(self, ks, key):
        self._op(lib.tind_txn_remove, ks, *_bytes(key, "key"))

    def get(self, ks, key, default=None):
        """The value of key as the transaction sees it (tracked for commit)."""
        return ks.get(key, default, snapshot=self)

    def commit(self):
        """Validates and applies the writes; ends the transaction either way.
        Raises tind.Conflict when it must be retried."""
        self._inflight.close()
        self._db._children.discard(self)
        self._db._enter()
        try:
            with self._lock:
                handle, self._handle = self._handle, ffi.NULL
                if handle == ffi.NULL:
                    raise _closed(self._kind)
                rc = lib.tind_txn_commit(handle)
            self._db._check(rc)
        finally:
            self._db._leave()

    def rollback(self):
        """Discards the writes and ends the transaction (idempotent)."""
        self.close()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None and self._handle != ffi.NULL:
            self.commit()
        else:
            self.close()


class Changes(_Child):
    """A change feed cursor (Database.changes): each batch as (seqno, ops),
    ops a list of (op, keyspace, key, value) with op "put", "delete", "merge"
    (value: the operand) or "single_delete"
    ("other" for a kind this version cannot describe), keyspace its name
    (None once deleted), value None for a delete; "remove_range" has key =
    its start, value = its end (b"" = no end). Iterating gives the
    batches committed so far; next_batch(timeout_ms) waits (-1: forever) and
    returns None when none came. A context manager that releases it."""

    _kind = "change feed"
    _OPS = {lib.TIND_CHANGE_PUT: "put", lib.TIND_CHANGE_REMOVE: "delete", lib.TIND_CHANGE_MERGE: "merge",
            lib.TIND_CHANGE_SINGLE_REMOVE: "single_delete", lib.TIND_CHANGE_REMOVE_RANGE: "remove_range"}

    def __init__(self, db, since):
        out = ffi.new("tind_changes **")
        db._enter()
        try:
            db._check(lib.tind_changes_since(db._db, int(since), out))
            self._register(db, out[0])
        finally:
            db._leave()

    def _free(self, handle):
        lib.tind_changes_free(handle)

    def __exit__(self, *exc):
        self.close()

    def next_batch(self, timeout_ms=0):
        self._begin()
        try:
            rc = lib.tind_changes_next(self._handle, int(timeout_ms))
            if rc == lib.TIND_NOT_FOUND:
                return None
            self._db._check(rc)
            ops = []
            for i in range(lib.tind_changes_count(self._handle)):
                op = lib.tind_changes_op(self._handle, i)
                ks = ffi.string(op.keyspace).decode("utf-8", "replace") if op.keyspace != ffi.NULL else None
                value = bytes(ffi.buffer(op.value, op.vlen)) if op.value != ffi.NULL else None
                ops.append((self._OPS.get(op.type, "other"), ks, bytes(ffi.buffer(op.key, op.klen)), value))
            return int(lib.tind_changes_seqno(self._handle)), ops
        finally:
            self._finish()

    def __iter__(self):
        while True:
            batch = self.next_batch(0)
            if batch is None:
                return
            yield batch


class Iterator(_Child):
    """A Python iterator over a keyspace's range or prefix, in one direction,
    over one fixed state (its snapshot, or the latest state when made).
    seek(key) repositions it: the first key >= key going forward, the last
    key <= key in reverse. A context manager that releases it."""

    _kind = "iterator"

    def __init__(self, ks, lo, hi, prefix, reverse, snapshot, keys, values):
        db = ks._db
        self._reverse = bool(reverse)
        self._keys = keys
        self._values = values
        self._started = False
        self._sought = False     # seek() placed it: the next item is the current one
        out = ffi.new("tind_iter **")
        ro = _ReadOptions(snapshot, db)
        self._snapshot = snapshot      # the snapshot must outlive the iterator
        db._enter()
        try:
            if prefix is not None:
                rc = lib.tind_iter_prefix(ks._ks, *_bytes(prefix, "prefix"), ro.ro, out)
            else:
                lo_b = (ffi.NULL, 0) if lo is None else _bytes(lo, "lo")
                hi_b = (ffi.NULL, 0) if hi is None else _bytes(hi, "hi")
                rc = lib.tind_iter_range(ks._ks, *lo_b, *hi_b, ro.ro, out)
            db._check(rc)
            self._register(db, out[0])
            if isinstance(snapshot, Snapshot):
                snapshot._users.add(self)
        finally:
            db._leave()
            ro.free()

    def _free(self, handle):
        lib.tind_iter_free(handle)

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return self

    def seek(self, key):
        """Positions the iterator so that the next item is the first key >=
        key (forward) or the last key <= key (reverse)."""
        k = _bytes(key, "key")
        self._begin()
        try:
            seek = lib.tind_iter_seek_for_prev if self._reverse else lib.tind_iter_seek
            seek(self._handle, *k)
            self._started = True
            self._sought = True
        finally:
            self._finish()

    def __next__(self):
        self._begin()
        try:
            h = self._handle
            if not self._started:
                (lib.tind_iter_last if self._reverse else lib.tind_iter_first)(h)
                self._started = True
            elif self._sought:
                self._sought = False
            else:
                (lib.tind_iter_prev if self._reverse else lib.tind_iter_next)(h)
            if not lib.tind_iter_valid(h):
                rc = lib.tind_iter_status(h)
                self._db._check(rc)
                raise StopIteration
            n = ffi.new("size_t *")
            key = value = None
            if self._keys:
                p = lib.tind_iter_key(h, n)
                key = ffi.unpack(ffi.cast("char *", p), n[0])
            if self._values:
                p = lib.tind_iter_value(h, n)
                if p == ffi.NULL:
                    rc = lib.tind_iter_status(h)
                    raise _error(rc or lib.TIND_EIO, self._db._db, self._db.read_only)
                value = ffi.unpack(ffi.cast("char *", p), n[0])
        finally:
            self._finish()
        if not self._values:
            return key
        if not self._keys:
            return value
        return key, value


def open(path, **options):
    """tind.Database(path, **options)."""
    return Database(path, **options)
