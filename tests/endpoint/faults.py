"""Fault injection by rule (POST /_amifs/faults), and held requests.

A rule: {"service": "s3"|"ec2"|"iam"|"sts"|"*", "op": "UploadPart"|"*",
"action": "500"|"503"|"throttle"|"drop"|"delay"|"hold"|"answer-lost"|
"corrupt" (flip one byte of a 2xx body: checksums.py),
"rate": 0..1 (default 1), "count": null|N (how many times it may still
fire), "delay_ms": N, "part": null|N (only UploadPart number N),
"part_from": null|N (only UploadPart numbers >= N), "skip": N (let the
first N matching requests pass before the rule fires: the k-th request),
"when": "before"|"after" (hold only), "key_prefix": null|"K" (only S3
requests for keys starting with K)}.
The first rule that matches and fires decides. Error faults and "drop"
happen before the request reaches moto or the VM Import layer. "hold"
keeps the request unanswered (before performing it, or after performing it
with "when": "after") until POST /_amifs/held/release or until the client's
connection goes away (then a request held before is never performed).
"answer-lost" performs the request, then closes the connection without
answering (the client cannot know that it succeeded).
"""
import itertools
import random
import select
import socket
import threading
import time

from awsxml import Reply

ACTIONS = ("500", "503", "throttle", "drop", "delay", "hold",
           "answer-lost", "corrupt")
WHENS = ("before", "after")
HOLD_MAX_SECONDS = 600     # a forgotten hold ends (answered) after this
SERVICES = ("s3", "ec2", "iam", "sts", "*")

# (service, action) -> (HTTP status, code, message): each service's own
# throttling and failure answers (doc/AWS.md "Retries").
_ERRORS = {
    ("s3", "500"): (500, "InternalError",
                    "We encountered an internal error. Please try again."),
    ("s3", "503"): (503, "SlowDown", "Please reduce your request rate."),
    ("s3", "throttle"): (503, "SlowDown", "Please reduce your request rate."),
    ("ec2", "500"): (500, "InternalError",
                     "An internal error has occurred"),
    ("ec2", "503"): (503, "Unavailable",
                     "The server is overloaded and can't handle the request."),
    ("ec2", "throttle"): (503, "RequestLimitExceeded",
                          "Request limit exceeded."),
    ("iam", "500"): (500, "ServiceFailure",
                     "The request processing has failed because of an "
                     "unknown error, exception or failure."),
    ("iam", "503"): (503, "ServiceUnavailable", "Service is unavailable."),
    ("iam", "throttle"): (400, "Throttling", "Rate exceeded"),
    ("sts", "500"): (500, "InternalFailure",
                     "The request processing has failed because of an "
                     "unknown error, exception or failure."),
    ("sts", "503"): (503, "ServiceUnavailable", "Service is unavailable."),
    ("sts", "throttle"): (400, "Throttling", "Rate exceeded"),
}


class FaultError(ValueError):
    pass


def _check_rule(r):
    if not isinstance(r, dict):
        raise FaultError("a rule must be a JSON object")
    if r.get("action") not in ACTIONS:
        raise FaultError("action must be one of %s" % ", ".join(ACTIONS))
    if r.get("service", "*") not in SERVICES:
        raise FaultError("service must be one of %s" % ", ".join(SERVICES))
    rate = r.get("rate", 1.0)
    if not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise FaultError("rate must be a number in [0, 1]")
    count = r.get("count")
    if count is not None and (not isinstance(count, int) or count < 0):
        raise FaultError("count must be null or a non-negative integer")
    for k in ("part", "part_from"):
        v = r.get(k)
        if v is not None and (not isinstance(v, int) or v < 1):
            raise FaultError("%s must be null or a positive integer" % k)
    skip = r.get("skip", 0) or 0
    if not isinstance(skip, int) or skip < 0:
        raise FaultError("skip must be a non-negative integer")
    when = r.get("when", "before")
    if when not in WHENS:
        raise FaultError("when must be one of %s" % ", ".join(WHENS))
    return {"service": r.get("service", "*"), "op": r.get("op", "*"),
            "action": r["action"], "rate": float(rate), "count": count,
            "delay_ms": int(r.get("delay_ms", 0) or 0),
            "part": r.get("part"), "part_from": r.get("part_from"),
            "skip": skip, "when": when, "fired": 0,
            "key_prefix": r.get("key_prefix")}


def _part_matches(r, part):
    if r["part"] is None and r["part_from"] is None:
        return True
    if part is None:
        return False
    if r["part"] is not None and part != r["part"]:
        return False
    return r["part_from"] is None or part >= r["part_from"]


class Faults:
    """The rule set; safe to use from many request threads."""

    def __init__(self, seed=None):
        self._lock = threading.Lock()
        self._rules = []
        self._rng = random.Random(seed)

    def replace(self, rules):
        """Replace all rules; raises FaultError on a malformed rule."""
        if not isinstance(rules, list):
            raise FaultError("the body must be a JSON list of rules")
        checked = [_check_rule(r) for r in rules]
        with self._lock:
            self._rules = checked

    def clear(self):
        with self._lock:
            self._rules = []

    def snapshot(self):
        with self._lock:
            return [dict(r) for r in self._rules]

    def pick(self, service, op, part=None, key=None):
        """The rule that fires for this request (a copy), or None. PART is
        the UploadPart's partNumber (None for other requests), KEY the S3
        object key (None for other requests)."""
        with self._lock:
            for r in self._rules:
                if r["service"] not in ("*", service):
                    continue
                if r["op"] not in ("*", op):
                    continue
                if not _part_matches(r, part):
                    continue
                if r["key_prefix"] is not None and \
                        not (key or "").startswith(r["key_prefix"]):
                    continue
                if r["skip"] > 0:
                    r["skip"] -= 1
                    continue
                if r["count"] is not None and r["count"] <= 0:
                    continue
                if self._rng.random() >= r["rate"]:
                    continue
                if r["count"] is not None:
                    r["count"] -= 1
                r["fired"] += 1
                return dict(r)
        return None


def error_reply(service, action):
    """The canned error of an error-type fault for SERVICE."""
    svc = service if service in ("s3", "ec2", "iam", "sts") else "s3"
    status, code, message = _ERRORS[(svc, action)]
    return Reply.error(svc, status, code, message)


# ------------------------------------------------------------ held requests --

def _peer_gone(sock):
    """Whether the client closed (or reset) its connection. The request
    body has been read completely, so anything readable is the end."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class Held:
    """One request kept unanswered."""

    def __init__(self, hid, info, when):
        self.id = hid
        self.info = info
        self.when = when
        self.t = time.time()
        self.event = threading.Event()
        self.how = None          # "answer" | "drop", set by release()

    def describe(self):
        i = self.info
        return {"id": self.id, "service": i.service, "op": i.op,
                "method": i.method, "path": i.path, "query": i.query,
                "part": part_number(i), "when": self.when,
                "t": round(self.t, 6),
                "waited": round(time.time() - self.t, 3)}


class Holds:
    """The requests being held; safe to use from many request threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._held = {}
        self._ids = itertools.count(1)

    def wait(self, info, sock, when):
        """Hold this request until released or the client goes away.
        Returns "answer", "drop" or "gone"."""
        with self._lock:
            h = Held(next(self._ids), info, when)
            self._held[h.id] = h
        try:
            deadline = time.time() + HOLD_MAX_SECONDS
            while not h.event.wait(0.05):
                if _peer_gone(sock):
                    return "gone"
                if time.time() > deadline:
                    return "answer"
            return h.how
        finally:
            with self._lock:
                self._held.pop(h.id, None)

    def list(self):
        with self._lock:
            held = sorted(self._held.values(), key=lambda h: h.id)
        return [h.describe() for h in held]

    def release(self, hid=None, op=None, how="answer"):
        """Release the held request HID (None: every one, or every one of
        OP); HOW: "answer" (perform it if held before, and answer) or
        "drop" (close the connection; a request held before is never
        performed). Returns how many were released."""
        if how not in ("answer", "drop"):
            raise FaultError('how must be "answer" or "drop"')
        n = 0
        with self._lock:
            for h in list(self._held.values()):
                if hid is not None and h.id != hid:
                    continue
                if op is not None and h.info.op != op:
                    continue
                if h.event.is_set():
                    continue
                h.how = how
                h.event.set()
                n += 1
        return n


def part_number(info):
    """The partNumber of an UploadPart(Copy), else None."""
    if info.op not in ("UploadPart", "UploadPartCopy"):
        return None
    try:
        return int(info.qs.get("partNumber", [""])[0])
    except ValueError:
        return None
