"""The concurrent import-task quota (doc/design/fleet.md).

AWS limits how many import tasks may be active at once per account and
region; ImportImage/ImportSnapshot beyond it answer 400
ResourceCountLimitExceeded and start nothing. The endpoint has no quota
until a test sets one through the control API:

    POST /_amifs/config {"import_quota": 2}
    POST /_amifs/config {"import_quota": {"limit": 2, "prefix": "t-1234/"}}
    POST /_amifs/config {"import_quota": null}          (no quota)

With a "prefix", the quota counts and limits only tasks whose first disk's
S3 key starts with it, so a test can have its own quota on the shared
endpoint without slowing the tests beside it. Several scoped quotas may be
set (one per prefix); a later one for the same prefix replaces it.
"""
import threading


class QuotaError(Exception):
    """Raised by check(): answered as 400 ResourceCountLimitExceeded."""

    code = "ResourceCountLimitExceeded"

    def __init__(self, limit):
        super().__init__("You have reached the maximum number of active "
                         "import tasks (%d) in this Region. Wait for a task "
                         "to finish, then try again." % limit)


def _first_key(req):
    disks = req.get("disks") or []
    return (disks[0].get("key") or "") if disks else ""


class Quota:
    """The quota rules: {prefix: limit}; "" is the whole account."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = {}

    def configure(self, value):
        """Apply one "import_quota" value of POST /_amifs/config."""
        with self.lock:
            if value is None:
                self.rules.clear()
            elif isinstance(value, dict):
                prefix = str(value.get("prefix") or "")
                if value.get("limit") is None:
                    self.rules.pop(prefix, None)
                else:
                    self.rules[prefix] = int(value["limit"])
            else:
                self.rules[""] = int(value)

    def snapshot(self):
        with self.lock:
            return dict(self.rules)

    def check(self, tasks, account, region, req):
        """Raise QuotaError when starting `req` would exceed a rule.
        `tasks` are the existing task objects; call with the task store's
        lock held so that the count and the new task are one step."""
        key = _first_key(req)
        for prefix, limit in self.snapshot().items():
            if not key.startswith(prefix):
                continue
            active = sum(1 for t in tasks
                         if t.account == account and t.region == region
                         and _first_key(t.req).startswith(prefix)
                         and t.state()[0] == "active")
            if active >= limit:
                raise QuotaError(limit)


def active_until(task):
    """When the task stops being "active" (None: not known yet), for the
    control API's task summary: tests check the quota over time with it."""
    with task.lock:
        if task.cancelled_at is not None:
            return task.cancelled_at
        fail = task._fail_index()
        if fail is not None:
            return task._time_of(fail)
        if task.verdict is None:
            return None
        return task._time_of(len(task.phases))
