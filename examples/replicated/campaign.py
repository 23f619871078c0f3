#!/usr/bin/env python3
"""campaign.py -- kill-the-leader rounds against three tind-kvnode processes.

    campaign.py --node PATH/tind-kvnode [--rounds 20] [--dir DIR] [--port P]
                (default P: a base whose ports are free)
                [--seed S] [--writers 4] [--json FILE]

Each round starts three fresh nodes on 127.0.0.1 (raft on P+1..P+3, clients
on P+101..P+103), and:
  1. waits for a leader; writer threads PUT unique keys through whoever is
     leader (following REDIRECT answers), remembering each acknowledged
     write (an "OK" answer: committed by a majority and applied);
  2. after a random 0.5..2 s, SIGKILLs the leader; measures the time until
     a surviving node is leader ("time to elect") and until a write is
     acknowledged again; the writers keep writing through the new leader;
  3. after a random 0.5..1.5 s more, restarts the killed node (same folder)
     and writes 0.5 s more, then stops the writers;
  4. measures the catch-up time: from the restart until every node has
     applied the same last command (the killed node catches up from the log,
     or from a snapshot when the leader's log no longer reaches back);
  5. checks: every acknowledged write is on every node with its value
     (SGET on each), a linearizable GET on the leader agrees, and no node
     diverged: the same applied index, key count, hash of keys and values,
     and the same tind seqno on every node.
Exit status 0 when every round passed; the figures go to stdout (and
--json). Loopback only; every process it starts is stopped at the end.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time


class Client:
    """One connection per node, one request at a time."""

    def __init__(self, port, timeout=2.0):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = b""

    def request(self, line):
        """The answer line; "" when no connection could be made (nothing was
        sent); None when the connection failed or timed out after sending."""
        if not self.sock:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
                self.sock.settimeout(self.timeout)
            except OSError:
                self.close()
                return ""
        try:
            self.sock.sendall(line.encode() + b"\n")
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise OSError("closed")
                self.buf += chunk
            answer, self.buf = self.buf.split(b"\n", 1)
            return answer.decode()
        except OSError:
            self.close()
            return None

    def many(self, lines):
        """Pipelined requests answered in order (SGET/STAT only)."""
        try:
            if not self.sock:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
                self.sock.settimeout(10)
            self.sock.sendall("".join(l + "\n" for l in lines).encode())
            out = []
            while len(out) < len(lines):
                while b"\n" not in self.buf:
                    chunk = self.sock.recv(1 << 20)
                    if not chunk:
                        raise OSError("closed")
                    self.buf += chunk
                answer, self.buf = self.buf.split(b"\n", 1)
                out.append(answer.decode())
            return out
        except OSError:
            self.close()
            return None


def stat(port):
    c = Client(port, timeout=1.0)
    a = c.request("STAT")
    c.close()
    if not a or not a.startswith("STAT "):
        return None
    f = a.split()
    return {"id": int(f[1]), "state": int(f[2]), "leader": int(f[3]), "applied": int(f[4]),
            "seqno": int(f[5]), "keys": int(f[6]), "hash": f[7]}


class Cluster:
    def __init__(self, node_bin, root, port, n=3):
        self.bin = node_bin
        self.root = root
        self.port = port
        self.n = n
        self.procs = {}

    def client_port(self, i):
        return self.port + 100 + i

    def start(self, i):
        log = open(os.path.join(self.root, "node%d.log" % i), "ab")
        self.procs[i] = subprocess.Popen(
            [self.bin, str(i), os.path.join(self.root, "n%d" % i), "--nodes", str(self.n), "--port", str(self.port)],
            stdout=log, stderr=log)
        log.close()

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs.pop(i, None)
        if p:
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for i in list(self.procs):
            self.kill(i, signal.SIGTERM)

    def leader(self, among=None, timeout=30.0):
        """The id of a node that says it is leader, polled every 10 ms."""
        end = time.monotonic() + timeout
        among = among or list(self.procs)
        while time.monotonic() < end:
            for i in among:
                s = stat(self.client_port(i))
                if s and s["state"] == 3:
                    return i
            time.sleep(0.01)
        return None


class Writers:
    def __init__(self, cluster, tag, count, rng):
        self.cluster = cluster
        self.tag = tag
        self.acked = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.last_ack = 0.0
        self.unknown = 0
        self.victim = None        # once set: the first ack by another node is timed
        self.first_after = None
        self.threads = [threading.Thread(target=self.run, args=(w, random.Random(rng.random())))
                        for w in range(count)]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join()

    def run(self, w, rng):
        clients = {i: Client(self.cluster.client_port(i)) for i in range(1, self.cluster.n + 1)}
        guess = 1
        seq = 0
        while not self.stop.is_set():
            key = "%s.w%d.%d" % (self.tag, w, seq)
            val = "v%d" % rng.getrandbits(48)
            seq += 1
            tries = 0
            while not self.stop.is_set() and tries < 50:
                tries += 1
                a = clients[guess].request("PUT %s %s" % (key, val))
                if a and a.startswith("OK"):
                    with self.lock:
                        self.acked[key] = val
                        self.last_ack = time.monotonic()
                        if self.victim and guess != self.victim and self.first_after is None:
                            self.first_after = self.last_ack
                    break
                if a and a.startswith("REDIRECT"):
                    lid = int(a.split()[1])
                    if lid == 0 or lid == guess:
                        time.sleep(0.02)
                        guess = guess % self.cluster.n + 1
                    else:
                        guess = lid
                    continue   # not written: a follower refuses
                if a == "":
                    guess = guess % self.cluster.n + 1   # a dead node: nothing was sent
                    time.sleep(0.02)
                    continue
                # no answer (in flight at the kill), or an error (leadership
                # lost while the entry was uncommitted): the write may or may
                # not be applied; never counted as acknowledged, and the next
                # attempt uses a new key
                with self.lock:
                    self.unknown += 1
                guess = guess % self.cluster.n + 1
                time.sleep(0.02)
                break
        for c in clients.values():
            c.close()


def wait_converged(cluster, timeout):
    """Seconds until every node has applied the same last command, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        stats = [stat(cluster.client_port(i)) for i in range(1, cluster.n + 1)]
        if all(stats) and len({s["applied"] for s in stats}) == 1:
            return time.monotonic() - t0, stats
        time.sleep(0.02)
    return None, None


def run_round(args, r, rng):
    root = os.path.join(args.dir, "round%02d" % r)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    cl = Cluster(args.node, root, args.port)
    fig = {"round": r}
    failures = []
    try:
        for i in range(1, 4):
            cl.start(i)
        t0 = time.monotonic()
        first = cl.leader()
        if not first:
            return fig, ["no leader elected in 30 s"]
        fig["first_election_s"] = round(time.monotonic() - t0, 3)
        wr = Writers(cl, "r%d" % r, args.writers, rng)
        wr.start()
        time.sleep(rng.uniform(0.5, 2.0))
        victim = cl.leader()
        with wr.lock:
            acked_before = len(wr.acked)
        t_kill = time.monotonic()
        with wr.lock:
            wr.victim = victim
        cl.kill(victim)
        survivors = [i for i in range(1, 4) if i != victim]
        new = cl.leader(among=survivors)
        if not new:
            wr.join()
            return fig, ["no new leader within 30 s of killing %d" % victim]
        fig["killed"] = victim
        fig["time_to_elect_s"] = round(time.monotonic() - t_kill, 3)
        while True:
            with wr.lock:
                if wr.first_after:
                    fig["time_to_first_write_s"] = round(wr.first_after - t_kill, 3)
                    break
            if time.monotonic() - t_kill > 30:
                failures.append("no write acknowledged within 30 s of the kill")
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(0.5, 1.5))
        t_restart = time.monotonic()
        cl.start(victim)
        time.sleep(0.5)
        wr.join()
        fig["writes_acknowledged"] = len(wr.acked)
        fig["writes_after_kill"] = len(wr.acked) - acked_before
        fig["writes_unknown"] = wr.unknown
        conv, stats = wait_converged(cl, 60)
        if conv is None:
            return fig, failures + ["nodes did not converge within 60 s"]
        fig["catch_up_s"] = round(time.monotonic() - t_restart, 3)
        # every acknowledged write on every node, with its value
        keys = sorted(wr.acked)
        for i in range(1, 4):
            c = Client(cl.client_port(i))
            missing = 0
            for k in range(0, len(keys), 500):
                part = keys[k:k + 500]
                answers = c.many(["SGET " + x for x in part])
                if answers is None:
                    failures.append("node %d stopped answering" % i)
                    break
                missing += sum(1 for x, a in zip(part, answers) if a != "VAL " + wr.acked[x])
            c.close()
            if missing:
                failures.append("node %d lacks %d of %d acknowledged writes" % (i, missing, len(keys)))
        leader = cl.leader()
        if keys and leader:
            c = Client(cl.client_port(leader))
            for x in rng.sample(keys, min(20, len(keys))):
                a = c.request("GET " + x)
                if a != "VAL " + wr.acked[x]:
                    failures.append("linearizable GET %s on leader %d: %s" % (x, leader, a))
            c.close()
        stats = [stat(cl.client_port(i)) for i in range(1, 4)]
        for field in ("applied", "keys", "hash", "seqno"):
            if len({s[field] for s in stats}) != 1:
                failures.append("nodes diverged in %s: %s" % (field, [s[field] for s in stats]))
        fig["applied_index"] = stats[0]["applied"]
        fig["tind_seqno"] = stats[0]["seqno"]
        restores = 0
        for i in range(1, 4):
            with open(os.path.join(root, "node%d.log" % i), "rb") as f:
                restores += f.read().count(b"restored a snapshot")
        fig["snapshot_restores"] = restores
    finally:
        cl.stop_all()
    if not failures and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return fig, failures


def free_port_base(rng):
    """A base P whose ports P+1..P+3 and P+101..P+103 are free on loopback
    now, so that two campaigns (two build trees' tests) do not collide."""
    for _ in range(200):
        base = rng.randrange(20000, 32400, 200)   # below the ephemeral ports (32768+)
        socks = []
        try:
            for p in (1, 2, 3, 101, 102, 103):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise SystemExit("campaign: no free ports found")


def main():
    # a SIGTERM (ctest's timeout) unwinds through run_round's finally, which
    # stops the nodes this campaign started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", required=True)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--dir", default="/tmp/tind-replication")
    ap.add_argument("--port", type=int, default=0, help="base port (default: a free one)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--json", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the folders of passed rounds")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    os.makedirs(args.dir, exist_ok=True)
    if not args.port:
        args.port = free_port_base(random.Random())
    print("campaign: %d rounds, seed %d, %s, ports %d+" % (args.rounds, seed, args.dir, args.port), flush=True)
    figs, bad = [], 0
    for r in range(args.rounds):
        fig, failures = run_round(args, r, rng)
        figs.append(fig)
        print("round %d: %s" % (r, json.dumps(fig)), flush=True)
        for f in failures:
            print("round %d: FAIL: %s" % (r, f), flush=True)
        bad += bool(failures)
    def summary(key):
        v = [f[key] for f in figs if key in f]
        if not v:
            return None
        return {"min": min(v), "median": statistics.median(v), "max": max(v)}
    total = {
        "rounds": args.rounds, "rounds_failed": bad, "seed": seed,
        "writes_acknowledged": sum(f.get("writes_acknowledged", 0) for f in figs),
        "failovers": sum(1 for f in figs if "time_to_elect_s" in f),
        "snapshot_restores": sum(f.get("snapshot_restores", 0) for f in figs),
        "time_to_elect_s": summary("time_to_elect_s"),
        "time_to_first_write_s": summary("time_to_first_write_s"),
        "catch_up_s": summary("catch_up_s"),
    }
    print("summary: " + json.dumps(total), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": total, "rounds": figs}, f, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
