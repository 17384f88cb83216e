"""Fault injection by rule (POST /_amifs/faults).

A rule: {"service": "s3"|"ec2"|"iam"|"sts"|"*", "op": "UploadPart"|"*",
"action": "500"|"503"|"throttle"|"drop"|"delay", "rate": 0..1 (default 1),
"count": null|N (how many times it may still fire), "delay_ms": N}.
The first rule that matches and fires decides; faults happen before the
request reaches moto or the VM Import layer.
"""
import random
import threading

from awsxml import Reply

ACTIONS = ("500", "503", "throttle", "drop", "delay")
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
    return {"service": r.get("service", "*"), "op": r.get("op", "*"),
            "action": r["action"], "rate": float(rate), "count": count,
            "delay_ms": int(r.get("delay_ms", 0) or 0), "fired": 0}


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

    def pick(self, service, op):
        """The rule that fires for this request (a copy), or None."""
        with self._lock:
            for r in self._rules:
                if r["service"] not in ("*", service):
                    continue
                if r["op"] not in ("*", op):
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
