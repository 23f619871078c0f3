#!/usr/bin/env python3
"""The quickstart of the Python binding: open, write, read, batch, snapshot,
iterate, handle errors. Run from the source tree after `make python`:

    TIND_LIBRARY=build/libtind.so PYTHONPATH=python /usr/bin/python3 examples/python_quickstart.py [dir]
"""

import os
import sys
import tempfile

import tind


def main(path):
    with tind.Database(path) as db:                # closed (and synced) on exit
        users = db.keyspace("users")               # created when missing

        # A keyspace is mapping-like; keys and values are bytes.
        users[b"alice"] = b"alice@example.org"
        users[b"bob"] = b"bob@example.org"
        print("alice ->", users[b"alice"].decode())
        print("carol present?", b"carol" in users, "/ get with default:", users.get(b"carol", b"-"))

        # A batch is atomic across keyspaces: committed when the block ends,
        # discarded when it raises.
        logins = db.keyspace("logins")
        with db.batch() as batch:
            batch.put(users, b"carol", b"carol@example.org")
            batch.put(logins, b"carol", b"2026-12-03")
            batch.delete(users, b"bob")

        # A snapshot keeps seeing the state it was taken at.
        with db.snapshot() as snap:
            users[b"dave"] = b"dave@example.org"
            print("now:", sorted(users.keys()))
            print("in the snapshot:", [k for k, _ in users.range(snapshot=snap)])

        # Range [lo, hi) and prefix iterators, either direction.
        for key, value in users.range(b"a", b"d", reverse=True):
            print("  %s = %s" % (key.decode(), value.decode()))
        print("prefix 'ca':", list(users.prefix(b"ca", values=False)))

        # Errors are exceptions carrying tind's message; a missing key is a KeyError.
        try:
            users[b""] = b"empty keys are refused"
        except tind.InvalidArgument as e:
            print("refused:", e)
        try:
            users[b"bob"]
        except KeyError as e:
            print("missing:", e)

        print("about %d users, tind %s" % (len(users), tind.version()))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(os.path.join(tmp, "quickstart-db"))
