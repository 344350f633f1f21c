#!/usr/bin/env python3
"""Crash safety: no acknowledged write is lost when the server dies mid-write.

    python3 scripts/crash_safety.py target/release/tokenwell [--rounds 5] [--seed N]

Starts the server on a fresh SQLite database, signs in as admin and generates an API
token in the console, then has several clients create tokens, revoke them and upload
files while the server is killed with SIGKILL at a random moment. After each restart on
the same database: every write that got a 2xx answer must still hold (created tokens are
listed and authenticate, revoked ones are refused, uploads are listed and their blobs
have the right SHA-256), and the database file passes `PRAGMA integrity_check`.
Expectations accumulate over the rounds. Exits non-zero on any violation.
A process crash only: SIGKILL leaves the OS's page cache intact, so this would pass with
`synchronous = NORMAL` too and shows nothing about power loss (that rests on
`synchronous = FULL` and the fsyncs).
Python 3 standard library only; loopback only; bounded in time.
"""

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

WRITERS = 4
DEADLINE_SECONDS = 100
REQUEST_TIMEOUT = 10
ADMIN_EMAIL = "crash-admin@crash.test"


class Server:
    """One `tokenwell serve` process on the test's database."""

    def __init__(self, binary, workdir, env):
        self.binary, self.workdir, self.env = binary, workdir, env
        self.process = None
        self.port = None
        self.starts = 0

    def start(self):
        self.port = free_port()
        self.starts += 1
        log = open(os.path.join(self.workdir, f"server-{self.starts}.log"), "wb")
        self.process = subprocess.Popen(
            [self.binary, "serve", "--addr", f"127.0.0.1:{self.port}"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if request(self.port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not answer /healthz within 15 s: {self.log_tail()}")

    def kill(self, sig=signal.SIGKILL):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log_tail(self):
        path = os.path.join(self.workdir, f"server-{self.starts}.log")
        with open(path, "rb") as f:
            return f.read()[-2000:].decode(errors="replace")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, headers=None, conn=None):
    """One HTTP request; returns (status, headers, body bytes). Raises OSError when the
    server is gone (refused, reset, or no complete answer)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, response.headers, data
    except (http.client.HTTPException, ConnectionError, TimeoutError) as e:
        conn.close()
        raise OSError(f"{method} {path}: {e!r}") from e
    finally:
        if own:
            conn.close()


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def admin_token(port, password):
    """Signs in through the console's server function and generates an API/CLI token,
    as an admin does in the browser."""
    form = urllib.parse.urlencode({"email": ADMIN_EMAIL, "password": password})
    status, headers, body = request(port, "POST", "/rpc/login", form,
                                    {"Content-Type": "application/x-www-form-urlencoded"})
    cookies = [c.split(";", 1)[0] for c in headers.get_all("Set-Cookie") or []]
    if status >= 400 or not cookies:
        raise RuntimeError(f"sign-in failed: {status} {body[:200]!r}")
    status, _, body = request(port, "POST", "/rpc/generate_token",
                              json.dumps({"kind": "api", "name": "crash-safety-admin"}),
                              {"Content-Type": "application/json", "Cookie": "; ".join(cookies)})
    if status != 200:
        raise RuntimeError(f"generate_token failed: {status} {body[:200]!r}")
    generated = json.loads(body)
    return generated["token"]["id"], generated["secret"]


class Ledger:
    """What the server acknowledged (a 2xx answer was read in full), across all rounds."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = {}          # id -> (kind, secret)
        self.revoked = set()      # ids whose revocation was acknowledged
        self.maybe_revoked = set()  # a revocation was sent, no answer came back
        self.files = {}           # id -> (name, size, sha256)
        self.bodies = []          # some uploaded bodies, uploaded again later
        self.counts = {"tokens": 0, "revocations": 0, "uploads": 0, "unanswered": 0}


class Writer(threading.Thread):
    """Creates, revokes and uploads until told to stop; records what was acknowledged."""

    def __init__(self, name, port, secret, ledger, stop, rng):
        super().__init__(daemon=True)
        self.tag, self.port, self.secret = name, port, secret
        self.ledger, self.stop, self.rng = ledger, stop, rng
        self.mine = []   # ids this writer created and may revoke
        self.serial = 0
        self.problems = []

    def run(self):
        conn = None
        while not self.stop.is_set():
            conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
            op = self.rng.choices([self.create, self.revoke, self.upload], weights=[4, 2, 3])[0]
            try:
                op(conn)
            except OSError:
                # The server is gone (or going): whatever was in flight is unknown.
                conn.close()
                conn = None
                with self.ledger.lock:
                    self.ledger.counts["unanswered"] += 1
                time.sleep(0.02)
            except (ValueError, KeyError) as e:
                # An answer that is not the JSON the API documents.
                self.problems.append(f"{op.__name__}: unexpected answer: {e!r}")
                break
        if conn:
            conn.close()

    def create(self, conn):
        self.serial += 1
        kind = self.rng.choice(["api", "forwarder"])
        body = json.dumps({"type": kind, "name": f"{self.tag}-{self.serial}"})
        status, _, data = request(self.port, "POST", "/api/v1/tokens", body,
                                  {**bearer(self.secret), "Content-Type": "application/json"}, conn)
        if status != 201:
            self.problems.append(f"create {self.tag}-{self.serial}: {status} {data[:200]!r}")
            return
        created = json.loads(data)
        token_id = created["token"]["id"]
        with self.ledger.lock:
            self.ledger.tokens[token_id] = (kind, created["secret"])
            self.ledger.counts["tokens"] += 1
        self.mine.append(token_id)

    def revoke(self, conn):
        if not self.mine:
            return
        token_id = self.rng.choice(self.mine)
        with self.ledger.lock:
            self.ledger.maybe_revoked.add(token_id)
        status, _, data = request(self.port, "DELETE", f"/api/v1/tokens/{token_id}", None, bearer(self.secret), conn)
        if status != 200:
            self.problems.append(f"revoke {token_id}: {status} {data[:200]!r}")
            return
        with self.ledger.lock:
            self.ledger.revoked.add(token_id)
            self.ledger.maybe_revoked.discard(token_id)
            self.ledger.counts["revocations"] += 1

    def upload(self, conn):
        with self.ledger.lock:
            again = self.ledger.bodies and self.rng.random() < 0.2
            content = self.rng.choice(self.ledger.bodies) if again else None
        if content is None:
            # Mostly small files, now and then one of up to 1 MiB.
            size = self.rng.randint(0, 4096) if self.rng.random() < 0.8 else self.rng.randint(4097, 1 << 20)
            content = self.rng.randbytes(size)
        self.serial += 1
        name = f"{self.tag}-{self.serial}.bin"
        status, _, data = request(self.port, "POST", f"/api/v1/files?name={name}", content,
                                  {**bearer(self.secret), "Content-Type": "application/octet-stream"}, conn)
        if status != 201:
            self.problems.append(f"upload {name}: {status} {data[:200]!r}")
            return
        stored = json.loads(data)
        digest = hashlib.sha256(content).hexdigest()
        if stored["sha256"] != digest or stored["size"] != len(content):
            self.problems.append(f"upload {name}: answered {stored['sha256']}/{stored['size']}, sent {digest}/{len(content)}")
        with self.ledger.lock:
            self.ledger.files[stored["id"]] = (name, len(content), digest)
            self.ledger.counts["uploads"] += 1
            if len(self.ledger.bodies) < 20 and len(content) < 65536:
                self.ledger.bodies.append(content)


def list_all(port, secret, path, key):
    """Every row of a paged API list, by id."""
    rows, page = {}, 1
    with contextlib.closing(http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)) as conn:
        while True:
            sep = "&" if "?" in path else "?"
            status, _, data = request(port, "GET", f"{path}{sep}page={page}", None, bearer(secret), conn)
            if status != 200:
                raise RuntimeError(f"GET {path} page {page}: {status} {data[:200]!r}")
            answer = json.loads(data)
            for row in answer[key]:
                rows[row["id"]] = row
            if page * answer["per_page"] >= answer["total"]:
                return rows
            page += 1


def verify(port, admin_id, admin_secret, ledger, data_dir):
    """Every acknowledged write, checked against the restarted server. Returns violations."""
    problems = []
    tokens = list_all(port, admin_secret, "/api/v1/tokens?status=all", "tokens")
    files = list_all(port, admin_secret, "/api/v1/files", "files")
    with contextlib.closing(http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)) as conn:
        def whoami(secret):
            status, _, data = request(port, "GET", "/api/v1/whoami", None, bearer(secret), conn)
            return status, data

        status, data = whoami(admin_secret)
        if status != 200 or json.loads(data)["token"]["id"] != admin_id:
            problems.append(f"the admin's token no longer authenticates: {status}")
        for token_id, (kind, secret) in sorted(ledger.tokens.items()):
            row = tokens.get(token_id)
            if row is None:
                problems.append(f"token {token_id} ({kind}) was acknowledged but is not listed")
            elif token_id in ledger.revoked and row["revoked_at"] is None:
                problems.append(f"token {token_id}: revocation acknowledged, listed as active")
            status, data = whoami(secret)
            if token_id in ledger.revoked:
                if status != 401:
                    problems.append(f"token {token_id}: revocation acknowledged, whoami answers {status}")
            elif token_id not in ledger.maybe_revoked:
                if status != 200:
                    problems.append(f"token {token_id} ({kind}): created, never revoked, whoami answers {status}")
                elif json.loads(data)["token"]["id"] != token_id:
                    problems.append(f"token {token_id}: whoami names another token {data[:200]!r}")
            elif status not in (200, 401):
                problems.append(f"token {token_id}: revocation unanswered, whoami answers {status}")
    for file_id, (name, size, digest) in sorted(ledger.files.items()):
        row = files.get(file_id)
        if row is None:
            problems.append(f"file {file_id} {name} was acknowledged but is not listed")
            continue
        if (row["name"], row["size"], row["sha256"]) != (name, size, digest):
            problems.append(f"file {file_id}: listed as {row['name']}/{row['size']}/{row['sha256']}, "
                            f"uploaded {name}/{size}/{digest}")
        blob = os.path.join(data_dir, "files", digest[:2], digest)
        try:
            with open(blob, "rb") as f:
                on_disk = hashlib.sha256(f.read()).hexdigest()
            if on_disk != digest:
                problems.append(f"file {file_id}: blob {blob} has SHA-256 {on_disk}")
        except OSError as e:
            problems.append(f"file {file_id}: blob unreadable: {e}")
    return problems


def integrity_check(db_path):
    """`PRAGMA integrity_check` on the database as the crash left it. Runs on a copy (with
    its WAL), so the server's own recovery at restart is what the next round tests."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = os.path.join(scratch, "check.db")
        shutil.copyfile(db_path, copy)
        if os.path.exists(db_path + "-wal"):
            shutil.copyfile(db_path + "-wal", copy + "-wal")
        return check_file(copy)


def check_file(path):
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as e:
        # A damaged file may fail before the check can report.
        return [f"{type(e).__name__}: {e}"]
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary", help="the tokenwell binary to test")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=secrets.randbelow(1 << 32))
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="tokenwell-crash-")
    passed = False
    try:
        passed = run(args, workdir)
    finally:
        # Whatever ended the run (a violation, an error, an interrupt), a failed run's
        # database and server logs are the evidence: kept, and said where.
        if passed:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"files kept in {workdir}", file=sys.stderr)
    return 0 if passed else 1


def run(args, workdir):
    """The rounds, in `workdir`; True when every acknowledged write survived."""
    rng = random.Random(args.seed)
    started = time.monotonic()
    db_path = os.path.join(workdir, "tokenwell.db")
    data_dir = os.path.join(workdir, "files")
    site_root = os.path.join(workdir, "site")
    os.makedirs(site_root)
    env = {**os.environ, "DATABASE_URL": f"sqlite:{db_path}", "TOKENWELL_DATA_DIR": data_dir,
           "LEPTOS_SITE_ROOT": site_root, "TOKENWELL_LOG": "warn"}
    binary = os.path.abspath(args.binary)
    # Long and random: password-strength rules must not refuse it.
    password = "-".join(secrets.choice(["amber", "quarry", "lantern", "walrus", "fjord", "cobalt", "thistle"])
                        for _ in range(3)) + f"-{secrets.randbelow(10**8):08d}"
    subprocess.run([binary, "create-admin", "--org", "Crash Test", "--email", ADMIN_EMAIL, "--name", "Crash Admin"],
                   input=password + "\n", text=True, env=env, check=True, capture_output=True, timeout=60)

    server = Server(binary, workdir, env)
    ledger = Ledger()
    violations = []
    print(f"crash safety: {args.rounds} rounds, {WRITERS} writers, seed {args.seed}, {binary}")
    try:
        server.start()
        admin_id, admin_secret = admin_token(server.port, password)
        for round_no in range(1, args.rounds + 1):
            if time.monotonic() - started > DEADLINE_SECONDS:
                violations.append(f"out of time ({DEADLINE_SECONDS} s) before round {round_no}")
                break
            before = dict(ledger.counts)
            stop = threading.Event()
            writers = [Writer(f"r{round_no}w{i}", server.port, admin_secret, ledger, stop,
                              random.Random(rng.getrandbits(64))) for i in range(WRITERS)]
            for w in writers:
                w.start()
            time.sleep(rng.uniform(0.5, 2.5))
            server.kill()
            stop.set()
            for w in writers:
                w.join(timeout=REQUEST_TIMEOUT + 5)
                violations.extend(f"round {round_no}: {p}" for p in w.problems)
            check = integrity_check(db_path)
            if check != ["ok"]:
                violations.append(f"round {round_no}: integrity_check after the kill: {check[:5]}")
            server.start()
            found = verify(server.port, admin_id, admin_secret, ledger, data_dir)
            violations.extend(f"round {round_no}: {p}" for p in found)
            done = {k: ledger.counts[k] - before[k] for k in before}
            print(f"  round {round_no}: killed after {done['tokens']} tokens, {done['revocations']} revocations, "
                  f"{done['uploads']} uploads acknowledged ({done['unanswered']} unanswered); "
                  f"{len(found)} violations")
        server.kill(signal.SIGTERM)
        check = check_file(db_path)
        if check != ["ok"]:
            violations.append(f"integrity_check after the last stop: {check[:5]}")
    finally:
        server.kill()

    seconds = time.monotonic() - started
    print(f"checked {len(ledger.tokens)} tokens ({len(ledger.revoked)} revoked), {len(ledger.files)} files "
          f"in {seconds:.1f} s")
    if violations:
        print(f"FAILED: {len(violations)} violations (seed {args.seed}):")
        for v in violations[:30]:
            print(f"  {v}")
        return False
    print("OK: every acknowledged write survived")
    return True


if __name__ == "__main__":
    sys.exit(main())
