#!/usr/bin/env python3
"""The local AWS endpoint: moto (S3, EC2, IAM, STS) with request
authentication on, plus our VM Import layer, fault injection and a request
log, all on one port.

    python3 tests/endpoint/server.py --host 127.0.0.1 --port PORT \\
        --state-dir DIR [--phase-seconds F]

Writes DIR/port and DIR/pid once listening (port 0 picks a free port),
DIR/admin.json (an all-powerful IAM user, for bootstrap.py), and appends
every request to DIR/requests.jsonl. Control API (no signature; "_amifs"
is not a valid bucket name so it cannot shadow S3):
    GET    /_amifs/health                   {"ok": true, ...}
    POST   /_amifs/faults   [rules]         replace the fault rules
    DELETE /_amifs/faults                   clear them
    GET    /_amifs/faults                   the rules, with "fired" counts
    GET    /_amifs/requests?since=N&op=X    the request log as a JSON list
    GET    /_amifs/held                     requests held by a "hold" rule
    POST   /_amifs/held/release {"id": N, "op": X, "how": "answer"|"drop"}
                                            release held requests (all
                                            when neither id nor op)
    GET    /_amifs/tasks[?id=ID]            import tasks: id, kind, region,
                                            status, message, progress, image,
                                            tags ({key: value})
    POST   /_amifs/tasks/advance {"id": ID} that task one phase on now
                                            ({"advanced": false} while its
                                            analysis holds it, or ended)
    GET    /_amifs/config                   {"phase_seconds": F}
    POST   /_amifs/config {"phase_seconds": F}  for tasks started from now on
    POST   /_amifs/config {"import_quota": N | {"limit": N, "prefix": P}}
                                            concurrent-task quota (quota.py)
See README.md beside this file for the moto divergences handled.
"""
import argparse
import io
import json
import os
import signal
import socket
import sys
import threading
import time

# moto reads its settings at import time: authentication on from the first
# request (bootstrap uses the admin user created below), no default AMIs.
os.environ.setdefault("INITIAL_NO_AUTH_ACTION_COUNT", "0")
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.iam.models import iam_backends  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication, create_backend_app)

import auth  # noqa: E402
import copyimage  # noqa: E402
import faults as faultmod  # noqa: E402
import httpserver  # noqa: E402
import s3fixes  # noqa: E402
import checksums  # noqa: E402
import listparts  # noqa: E402
from awsxml import STATUS_TEXT, Reply  # noqa: E402
from reqinfo import ReqInfo  # noqa: E402
from vmimport import ACTIONS as VM_ACTIONS, VmImport  # noqa: E402
import lifecycle  # noqa: E402

UNSIGNED_OK = auth.UNSIGNED_ACTIONS
ADMIN_USER = "amifs-admin"


class RequestLog:
    """requests.jsonl plus an in-memory copy for GET /_amifs/requests."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.records = []

    def add(self, rec):
        line = json.dumps(rec, ensure_ascii=False)
        with self.lock:
            self.records.append(rec)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def select(self, since=0, op=None):
        with self.lock:
            recs = self.records[since:]
        return [r for r in recs if op is None or r["op"] == op]


def read_body(environ):
    """Read the whole request body once and put it back as a BytesIO (moto
    and the layer both need it; it also makes keep-alive safe)."""
    if environ.get("amifs.body_read"):
        return environ["amifs.body"]
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        n = int(environ.get("CONTENT_LENGTH") or 0)
        chunks, left = [], n
        while left > 0:
            c = stream.read(min(left, 1 << 20))
            if not c:
                raise ConnectionAbortedError("client closed mid-body")
            chunks.append(c)
            left -= len(c)
        body = b"".join(chunks)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    # The stream now ends where the body ends: werkzeug may read it as is
    # (one BytesIO.read(), no copy) instead of through a LimitedStream
    # that copies a big body twice in 64 KiB pieces.
    environ["wsgi.input_terminated"] = True
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ["amifs.body_read"] = True
    environ["amifs.body"] = body
    return body


def drop_connection(environ, why="drop"):
    """Close the client's connection without answering (fault "drop";
    WHY is what the request log says in "fault")."""
    sock = environ.get("werkzeug.socket")
    environ["amifs.close"] = True
    environ["amifs.fault"] = why
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise ConnectionAbortedError("fault injection: drop")


class Endpoint:
    """The WSGI application."""

    def __init__(self, state_dir, phase_seconds, seed=None):
        self.state_dir = state_dir
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.faults = faultmod.Faults(seed)
        self.holds = faultmod.Holds()
        work = os.path.join(state_dir, "work")
        os.makedirs(work, exist_ok=True)
        self.vm = VmImport(phase_seconds, work)
        self.lifecycle = lifecycle.Lifecycle()
        self.keylocks = s3fixes.KeyLocks()
        self.log = RequestLog(os.path.join(state_dir, "requests.jsonl"))
        auth.install_raw_uri_patch()
        s3fixes.install_streaming_get()
        copyimage.install()         # CopyImage's ClientToken (fleet)
        checksums.install()

    def __call__(self, environ, start_response):
        info = ReqInfo(environ)
        if info.path.startswith("/_amifs/"):
            read_body(environ)
            return self._send(start_response, self._control(info, environ))
        t0 = time.time()
        rec = {"t": round(t0, 6), "method": info.method,
               "path": info.path, "query": info.query}
        try:
            reply, fault = self._handle(info, environ)
        except ConnectionAbortedError:
            if "amifs.performed" in environ:
                rec["performed"] = environ["amifs.performed"]
            self._log(rec, info, None, environ.get("amifs.fault", "drop"), t0)
            raise
        status = reply.status if isinstance(reply, Reply) else reply[0]
        self._log(rec, info, status, fault, t0)
        if isinstance(reply, Reply):
            return self._send(start_response, reply)
        status, headers, chunks = reply
        start_response(status_line(status), headers)
        return chunks

    def _log(self, rec, info, status, fault, t0):
        rec.update({"service": info.service, "op": info.op,
                    "region": info.region, "status": status, "fault": fault,
                    "part": faultmod.part_number(info),
                    "client_token": info.client_token,
                    "bytes": len(info.body),
                    "attempt": info.header("amz-sdk-request"),
                    "range": info.header("range"),
                    "if_match": info.header("if-match"),
                    "ms": round((time.time() - t0) * 1000, 1)})
        self.log.add(rec)

    def _handle(self, info, environ):
        """(Reply or (status, headers, chunks), fault name or None)."""
        body_first = info.service not in (None, "s3") or info.is_form()
        if body_first:
            info.body = read_body(environ)
        info.classify()
        fault = self.faults.pick(info.service, info.op,
                                 faultmod.part_number(info),
                                 info.bucket_key()[1]
                                 if info.service == "s3" else None)
        action = fault["action"] if fault else None
        if action == "drop":
            drop_connection(environ)
        info.body = read_body(environ)
        if action == "delay":
            time.sleep(fault["delay_ms"] / 1000.0)
        elif action in ("hold", "answer-lost"):
            return self._perform_held(info, environ, fault), action
        elif action == "corrupt":
            return checksums.corrupt_body(self._route(info, environ)), action
        elif fault:
            return faultmod.error_reply(info.service, action), action
        return self._route(info, environ), action

    def _hold(self, info, environ, when):
        """Keep the request until released; drop it unless released with
        "answer". Held before performing, a request whose client went away
        is never performed."""
        how = self.holds.wait(info, environ.get("werkzeug.socket"), when)
        if how != "answer":
            drop_connection(environ, "hold-%s:%s" % (when, how))

    def _perform_held(self, info, environ, fault):
        """The "hold" and "answer-lost" actions around performing."""
        environ["amifs.performed"] = False
        if fault["action"] == "hold" and fault["when"] == "before":
            self._hold(info, environ, "before")
        reply = self._route(info, environ)
        reply = reply if isinstance(reply, Reply) else \
            (reply[0], reply[1], list(reply[2]))
        environ["amifs.performed"] = True
        if fault["action"] == "answer-lost":
            drop_connection(environ, "answer-lost")
        if fault["action"] == "hold" and fault["when"] == "after":
            self._hold(info, environ, "after")
        return reply

    def _route(self, info, environ):
        if info.service == "ec2" and (info.op in VM_ACTIONS or
                                      self.vm.owns_tag_request(info)):
            return self.vm.handle(info)
        if info.service == "ec2" and lifecycle.owns(info):
            return self.lifecycle.handle(info)
        if auth.auth_enabled() and not info.signed and \
                info.op not in UNSIGNED_OK:
            return auth.unsigned_reply(info)
        if info.service == "s3":
            early = self._s3_checks(info)
            if early is not None:
                return early
        return self._moto(info, environ)

    def _s3_checks(self, info):
        account = auth.account_of(info)
        bad = s3fixes.check_integrity(info)
        if bad is not None:
            # Report a digest error only for a correctly signed request;
            # otherwise moto answers with the signature error, as S3 would.
            return bad if auth.verify(info, info.op) is None else None
        return s3fixes.check_upload_exists(info, account) or \
            checksums.check_complete(info, account) or \
            s3fixes.check_copy_source_if_match(info, account)

    def _moto(self, info, environ):
        captured = {}

        def start(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        # The key lock covers moto's handling only. A GetObject body is an
        # s3fixes.ObjectBody snapshot by then, streamed after the lock is
        # released; any other body is small and already built.
        lock = self.keylocks.lock_for(info)
        if lock is not None:
            lock.acquire()
        try:
            it = self.moto(environ, start)
        finally:
            if lock is not None:
                lock.release()
        status = int(captured["status"].split(" ", 1)[0])
        headers = s3fixes.fix_response_headers(info, captured["headers"])
        return listparts.add_checksums(info, auth.account_of(info), status,
                                       headers, it)

    def _send(self, start_response, reply):
        headers = list(reply.headers) + [
            ("Content-Length", str(len(reply.body)))]
        start_response(status_line(reply.status), headers)
        return [reply.body]

    # -------------------------------------------------------------- control --

    def _control(self, info, environ):
        path, m = info.path, info.method
        try:
            if path == "/_amifs/health":
                return _json(200, {"ok": True, "pid": os.getpid(),
                                   "auth": auth.auth_enabled()})
            if path == "/_amifs/faults" and m == "POST":
                self.faults.replace(json.loads(environ["amifs.body"] or b"[]"))
                return _json(200, {"rules": len(self.faults.snapshot())})
            if path == "/_amifs/faults" and m == "DELETE":
                self.faults.clear()
                return _json(200, {"rules": 0})
            if path == "/_amifs/faults":
                return _json(200, self.faults.snapshot())
            if path == "/_amifs/tasks":
                return _json(200, self.vm.summary(
                    info.qs.get("id", [None])[0]))
            if path == "/_amifs/tasks/advance" and m == "POST":
                body = json.loads(environ["amifs.body"] or b"{}")
                return _json(200, {"advanced": self.vm.advance(
                    body.get("id"))})
            if path == "/_amifs/config" and m == "POST":
                cfg = json.loads(environ["amifs.body"] or b"{}")
                if "phase_seconds" in cfg:
                    self.vm.phase = float(cfg["phase_seconds"])
                if "import_quota" in cfg:       # quota.py
                    self.vm.quota.configure(cfg["import_quota"])
                if "task_ttl_seconds" in cfg:     # exports.py: expiry
                    self.vm.exports.ttl = float(cfg["task_ttl_seconds"])
                return _json(200, self._config())
            if path == "/_amifs/config":
                return _json(200, self._config())
            if path == "/_amifs/held" and m == "GET":
                return _json(200, self.holds.list())
            if path == "/_amifs/held/release" and m == "POST":
                body = json.loads(environ["amifs.body"] or b"{}")
                n = self.holds.release(body.get("id"), body.get("op"),
                                       body.get("how", "answer"))
                return _json(200, {"released": n})
            if path == "/_amifs/requests":
                since = int(info.qs.get("since", ["0"])[0])
                op = info.qs.get("op", [None])[0]
                return _json(200, self.log.select(since, op))
        except (ValueError, faultmod.FaultError) as e:
            return _json(400, {"error": str(e)})
        return _json(404, {"error": "no such control path"})


    def _config(self):
        return {"phase_seconds": self.vm.phase,
                "import_quota": self.vm.quota.snapshot()}


def _json(status, obj):
    return Reply(status, json.dumps(obj).encode(), ctype="application/json")


def status_line(code):
    return "%d %s" % (code, STATUS_TEXT.get(code, "Status"))


def create_admin(state_dir):
    """An IAM user allowed everything, made in-process (authentication is on
    from the first request, so nothing else could create it)."""
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    iam.create_user("us-east-1", ADMIN_USER)
    iam.put_user_policy(ADMIN_USER, "admin", json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(ADMIN_USER)
    path = os.path.join(state_dir, "admin.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"AccessKeyId": key.access_key_id,
                   "SecretAccessKey": key.secret_access_key,
                   "Account": DEFAULT_ACCOUNT_ID}, f)


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--phase-seconds", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=None,
                    help="seed for fault-rule rates (reproducible runs)")
    a = ap.parse_args(argv)
    os.makedirs(a.state_dir, exist_ok=True)
    create_admin(a.state_dir)
    lifecycle.create_second_account(a.state_dir)
    app = Endpoint(a.state_dir, a.phase_seconds, a.seed)
    srv = httpserver.make_server(a.host, a.port, app)
    _write(os.path.join(a.state_dir, "pid"), "%d\n" % os.getpid())
    _write(os.path.join(a.state_dir, "port"), "%d\n" % srv.server_port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        srv.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
