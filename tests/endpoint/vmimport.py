"""The EC2 VM Import actions moto lacks (doc/AWS.md "EC2 lists", "VM Import facts").

VmImport.handle(info) answers ImportImage, DescribeImportImageTasks,
CancelImportTask, ImportSnapshot and DescribeImportSnapshotTasks. Requests
are authenticated with moto's own SigV4 checker and IAM policy evaluation
(auth.verify); the synchronous checks (formats, enums, ClientToken, the
vmimport role, bucket region, object) answer with AWS's codes and messages;
accepted requests become tasks.ImportTask objects.
"""
import base64
import json
import os
import re
import shutil
import threading

from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.models import iam_backends
from moto.s3.models import s3_backends

import auth
import exports
import register
from awsxml import ApiError, Reply, add, ec2_response
from reqinfo import indexed, sub
from quota import Quota, QuotaError, active_until
from tasks import ImportTask

ACTIONS = ("ImportImage", "DescribeImportImageTasks", "CancelImportTask",
           "ImportSnapshot", "DescribeImportSnapshotTasks", "RegisterImage") + \
    exports.ACTIONS
IMAGE_FORMATS = ("OVA", "VMDK", "VHD", "VHDX", "RAW")
SNAP_FORMATS = ("VMDK", "VHD", "VHDX", "RAW")
EXT_FORMAT = {"ova": "OVA", "vmdk": "VMDK", "vhd": "VHD", "vhdx": "VHDX",
              "raw": "RAW", "img": "RAW"}
ENUMS = {"Architecture": ("i386", "x86_64"),
         "Platform": ("Windows", "Linux"),
         "BootMode": ("legacy-bios", "uefi"),
         "LicenseType": ("AWS", "BYOL")}
TASK_STATES = ("active", "completed", "deleting", "deleted")
ROLE_MSG = ("The service role %s provided does not exist or does not have "
            "sufficient permissions")


def _bool(v):
    return str(v).lower() == "true"


class VmImport:
    """Task store and API; one per server. All state is in memory."""

    def __init__(self, phase_seconds, work_root):
        self.phase = phase_seconds
        self.work_root = work_root
        self.lock = threading.Lock()
        self.tasks = {}                 # id -> ImportTask, creation order
        self.tokens = {}                # (acct, region, kind, token) -> ...
        self.quota = Quota()            # concurrent-task quota (quota.py)
        self.disks = exports.DiskStore(os.path.join(
            os.path.dirname(work_root), "disks"))
        self.exports = exports.Exports(self, self.disks)

    def handle(self, info):
        denied = auth.verify(info, info.op)
        if denied is not None:
            return denied
        try:
            if _bool(info.params.get("DryRun")):
                raise ApiError("DryRunOperation", "Request would have "
                               "succeeded, but DryRun flag is set.", 412)
            if info.op in exports.ACTIONS:
                return Reply(200, self.exports.call(info,
                                                    auth.account_of(info)))
            fn = getattr(self, "_" + info.op)
            return Reply(200, fn(info, auth.account_of(info)))
        except ApiError as e:
            return Reply.error("ec2", e.status, e.code, e.message)

    def advance(self, task_id):
        """Control API: task_id one phase on (tasks.ImportTask.advance)."""
        with self.lock:
            task = self.tasks.get(task_id)
        return task is not None and task.advance()

    def summary(self, task_id=None):
        """Plain dicts of every task (or one) for the control API; lets
        tests follow phases without paying for a signed CLI call."""
        with self.lock:
            tasks = [t for t in self.tasks.values()
                     if task_id is None or t.id == task_id]
        out = []
        for t in tasks:
            status, message, progress = t.state()
            with t.lock:
                tags = dict(t.req["tags"])
            out.append({"id": t.id, "kind": t.kind, "region": t.region,
                        "tags": tags,
                        "status": status, "message": message,
                        "progress": progress, "image_id": t.image_id,
                        "snapshot_ids": list(t.snapshot_ids),
                        "keys": [d.get("key") for d in t.req["disks"]],
                        "client_token": getattr(t, "client_token", None),
                        "started": t.start, "ended": active_until(t)})
        return out + [e for e in self.exports.summary()
                      if task_id is None or e["id"] == task_id]

    # ------------------------------------------------------------ import --

    def _ImportImage(self, info, account):
        req = _image_request(info.params)
        task = self._start(info, account, "image", req)
        return ec2_response("ImportImage",
                            lambda r: _image_task_xml(r, task, top=True))

    def _ImportSnapshot(self, info, account):
        req = _snapshot_request(info.params)
        task = self._start(info, account, "snapshot", req)
        return ec2_response("ImportSnapshot",
                            lambda r: _snap_task_xml(r, task))

    def _start(self, info, account, kind, req):
        region = info.region or "us-east-1"
        token = info.params.get("ClientToken")
        fp = _fingerprint(info.params)
        key = (account, region, kind, token)
        with self.lock:
            if token and key in self.tokens:
                old_fp, task_id = self.tokens[key]
                if old_fp != fp:
                    raise ApiError("IdempotentParameterMismatch",
                                   "Specified ClientToken was already used "
                                   "with different parameters.")
                return self.tasks[task_id]
        _check_role(account, req)
        for d in req["disks"]:
            _check_object(account, region, d)
        task = ImportTask(kind, account, region, req, self.phase,
                          self.work_root, self.disks)
        task.client_token = token
        with self.lock:
            if token and key in self.tokens:   # lost a race: same answer
                return self.tasks[self.tokens[key][1]]
            try:
                self.quota.check(self.tasks.values(), account, region, req)
            except QuotaError as e:
                shutil.rmtree(task.work, ignore_errors=True)
                raise ApiError(e.code, str(e))
            self.tasks[task.id] = task
            if token:
                self.tokens[key] = (fp, task.id)
        threading.Thread(target=task.run, name=task.id, daemon=True).start()
        return task

    def _RegisterImage(self, info, account):
        return register.register_image(info, account, ApiError)

    # -------------------------------------------------------------- tags --
    # moto answers InvalidID for CreateTags/DeleteTags on import task ids;
    # AWS accepts them (import-image-task is a taggable resource), so the
    # layer owns tag requests whose every ResourceId is an import task.

    @staticmethod
    def owns_tag_request(info):
        if info.op not in ("CreateTags", "DeleteTags"):
            return False
        ids = [v for k, v in info.params.items()
               if k.startswith("ResourceId.")]
        return bool(ids) and all(i.startswith(("import-ami-", "import-snap-"))
                                 for i in ids)

    def _tag_targets(self, info, account):
        ids = [v for k, v in sorted(info.params.items())
               if k.startswith("ResourceId.")]
        region = info.region or "us-east-1"
        with self.lock:
            found = [self.tasks.get(i) for i in ids]
        for i, t in zip(ids, found):
            if t is None or t.account != account or t.region != region:
                raise ApiError("InvalidID", "The ID '%s' is not valid" % i)
        return found, [(t.get("Key", ""), t.get("Value"))
                       for t in indexed(info.params, "Tag")]

    def _CreateTags(self, info, account):
        tasks, tags = self._tag_targets(info, account)
        for t in tasks:
            with t.lock:
                old = [kv for kv in t.req["tags"]
                       if kv[0] not in {k for k, _ in tags}]
                t.req["tags"] = old + [(k, v or "") for k, v in tags]
        return ec2_response("CreateTags", lambda r: add(r, "return", "true"))

    def _DeleteTags(self, info, account):
        tasks, tags = self._tag_targets(info, account)
        for t in tasks:
            with t.lock:
                t.req["tags"] = [
                    (k, v) for k, v in t.req["tags"]
                    if not any(k == dk and (dv is None or dv == v)
                               for dk, dv in tags)]
        return ec2_response("DeleteTags", lambda r: add(r, "return", "true"))

    # ---------------------------------------------------------- describe --

    def _DescribeImportImageTasks(self, info, account):
        tasks, token = self._select(info, account, "image")
        return ec2_response("DescribeImportImageTasks", lambda r: _task_set(
            r, "importImageTaskSet", tasks, _image_task_xml, token))

    def _DescribeImportSnapshotTasks(self, info, account):
        tasks, token = self._select(info, account, "snapshot")
        return ec2_response("DescribeImportSnapshotTasks", lambda r: _task_set(
            r, "importSnapshotTaskSet", tasks, _snap_task_xml, token))

    def _select(self, info, account, kind):
        """(tasks of this page, next token or None)."""
        p = info.params
        region = info.region or "us-east-1"
        with self.lock:
            mine = [t for t in self.tasks.values() if t.kind == kind
                    and t.account == account and t.region == region]
        ids = [v[""] for v in indexed(p, "ImportTaskId")]
        if ids:
            by_id = {t.id: t for t in mine}
            for i in ids:
                if i not in by_id:
                    raise ApiError("InvalidConversionTaskId.Malformed",
                                   "The import task ID '%s' is malformed or "
                                   "does not exist." % i)
            mine = [by_id[i] for i in ids]
        mine = _filter_tasks(mine, p)
        return _paginate(mine, p)

    # ------------------------------------------------------------ cancel --

    def _CancelImportTask(self, info, account):
        task_id = info.params.get("ImportTaskId")
        if not task_id:
            raise ApiError("MissingParameter", "The request must contain the "
                           "parameter ImportTaskId")
        with self.lock:
            task = self.tasks.get(task_id)
        if task is None or task.account != account or \
                task.region != (info.region or "us-east-1"):
            raise ApiError("InvalidConversionTaskId.Malformed",
                           "The import task ID '%s' is malformed or does "
                           "not exist." % task_id)
        try:
            previous = task.cancel(info.params.get("CancelReason"))
        except ValueError as e:
            raise ApiError("IncorrectState", "The import task %s cannot be "
                           "cancelled because it is %s." % (task_id, e))

        def fill(r):
            add(r, "importTaskId", task_id)
            add(r, "previousState", previous)
            add(r, "state", "deleting")
        return ec2_response("CancelImportTask", fill)


# ---------------------------------------------------------------- parsing --

def _common(p, kind):
    for name, allowed in ENUMS.items():
        v = p.get(name)
        if v is not None and v not in allowed:
            raise ApiError("InvalidParameterValue",
                           "Value (%s) for parameter %s is invalid. Valid "
                           "values are: %s" % (v, name, ", ".join(allowed)))
    encrypted = _bool(p.get("Encrypted"))
    if p.get("KmsKeyId") and not encrypted:
        raise ApiError("InvalidParameterDependency",
                       "The parameter KmsKeyId requires the parameter "
                       "Encrypted to be set.")
    rtype = "import-%s-task" % kind
    return {"role": p.get("RoleName") or "vmimport",
            "description": p.get("Description"),
            "architecture": p.get("Architecture"),
            "platform": p.get("Platform"),
            "boot_mode": p.get("BootMode"),
            "license_type": p.get("LicenseType"),
            "usage_operation": p.get("UsageOperation"),
            "encrypted": encrypted, "kms_key_id": p.get("KmsKeyId"),
            "tags": _tags(p, rtype)}


def _tags(p, rtype):
    tags = []
    for spec in indexed(p, "TagSpecification"):
        rt = spec.get("ResourceType")
        if rt != rtype:
            raise ApiError("InvalidParameterValue",
                           "'%s' is not a valid taggable resource type for "
                           "this operation." % rt)
        for t in indexed(spec, "Tag"):
            tags.append((t.get("Key", ""), t.get("Value", "")))
    return tags


def _container(c, allowed):
    """One DiskContainer's {format, bucket, key, description, device}."""
    bucket = c.get("UserBucket.S3Bucket")
    key = c.get("UserBucket.S3Key")
    url = c.get("Url")
    if not bucket and url:
        m = re.match(r"^s3://([^/]+)/(.+)$", url)
        if not m:
            raise ApiError("InvalidParameter", "Invalid S3 source location")
        bucket, key = m.group(1), m.group(2)
    if not bucket or not key:
        raise ApiError("InvalidParameter", "Invalid S3 source location")
    fmt = (c.get("Format") or "").upper()
    if not fmt:
        fmt = EXT_FORMAT.get(key.rsplit(".", 1)[-1].lower(), "")
    if fmt not in allowed:
        raise ApiError("InvalidParameter",
                       "Parameter disk-image-size=0 has an invalid format")
    return {"format": fmt, "bucket": bucket, "key": key, "url": url,
            "description": c.get("Description"),
            "device": c.get("DeviceName")}


def _image_request(p):
    req = _common(p, "image")
    containers = indexed(p, "DiskContainer")
    if not containers:
        raise ApiError("MissingParameter", "The request must contain the "
                       "parameter DiskContainer")
    req["disks"] = [_container(c, IMAGE_FORMATS) for c in containers]
    if len(req["disks"]) > 1 and any(d["format"] == "OVA"
                                     for d in req["disks"]):
        raise ApiError("InvalidParameter", "Only one disk container may be "
                       "specified with format OVA")
    return req


def _snapshot_request(p):
    req = _common(p, "snapshot")
    c = sub(p, "DiskContainer")
    if not c:
        raise ApiError("MissingParameter", "The request must contain the "
                       "parameter DiskContainer")
    req["disks"] = [_container(c, SNAP_FORMATS)]
    return req


def _fingerprint(p):
    skip = ("ClientToken", "DryRun", "Action", "Version")
    return tuple(sorted((k, v) for k, v in p.items() if k not in skip))


# --------------------------------------------------------- synchronous ----

def _permitted(policies, action, resource):
    ok = False
    for doc in policies:
        r = IAMPolicy(doc).is_action_permitted(action, resource)
        if r == PermissionResult.DENIED:
            return False
        ok = ok or r == PermissionResult.PERMITTED
    return ok


def _trusts_vmie(doc):
    """The documented trust: vmie.amazonaws.com may sts:AssumeRole with
    sts:Externalid = vmimport (condition keys are case-insensitive)."""
    try:
        pol = json.loads(doc) if isinstance(doc, str) else doc
    except ValueError:
        return False
    stmts = pol.get("Statement", [])
    for s in stmts if isinstance(stmts, list) else [stmts]:
        if s.get("Effect") != "Allow":
            continue
        svc = (s.get("Principal") or {}).get("Service", [])
        svc = [svc] if isinstance(svc, str) else svc
        acts = s.get("Action", [])
        acts = [acts] if isinstance(acts, str) else acts
        if "vmie.amazonaws.com" not in svc or not any(
                a in ("sts:AssumeRole", "sts:*", "*") for a in acts):
            continue
        for op, kv in (s.get("Condition") or {}).items():
            if op != "StringEquals":
                continue
            for k, v in kv.items():
                vals = [v] if isinstance(v, str) else v
                if k.lower() == "sts:externalid" and "vmimport" in vals:
                    return True
    return False


def _role_policies(iam, role_name):
    docs = [iam.get_role_policy(role_name, n)[1]
            for n in iam.list_role_policies(role_name)]
    attached, _ = iam.list_attached_role_policies(role_name)
    return docs + list(attached)


def _check_role(account, req):
    """The role exists, trusts vmie with ExternalId vmimport, and its
    policies let it read every disk's object and bucket."""
    name = req["role"]
    iam = iam_backends[account]["aws"]
    err = ApiError("InvalidParameter", ROLE_MSG % name)
    try:
        role = iam.get_role(name)
    except Exception:                   # moto's NoSuchEntity
        raise err
    if not _trusts_vmie(role.assume_role_policy_document):
        raise err
    policies = _role_policies(iam, name)
    for d in req["disks"]:
        b = "arn:aws:s3:::%s" % d["bucket"]
        need = [("s3:GetObject", "%s/%s" % (b, d["key"])),
                ("s3:ListBucket", b), ("s3:GetBucketLocation", b)]
        if not all(_permitted(policies, a, r) for a, r in need):
            raise err


def _check_object(account, region, d):
    s3 = s3_backends[account]["aws"]
    bucket = s3.buckets.get(d["bucket"])
    if bucket is None:
        raise ApiError("InvalidParameter", "Invalid S3 source location")
    if bucket.region_name != region:
        raise ApiError("InvalidParameter",
                       "The given S3 bucket is not local to the region")
    try:
        obj = s3.get_object(d["bucket"], d["key"])
    except Exception:                   # moto's NoSuchKey
        obj = None
    if obj is None:
        raise ApiError("InvalidParameter", "Invalid S3 source location")


# -------------------------------------------------------- describe pages --

def _filter_tasks(tasks, p):
    for f in indexed(p, "Filters"):
        name = f.get("Name")
        values = [v for k, v in sorted(f.items())
                  if re.match(r"^Values?\.\d+$", k)]
        if name != "task-state":
            raise ApiError("InvalidParameterValue",
                           "The filter '%s' is invalid" % name)
        tasks = [t for t in tasks if t.state()[0] in values]
    return tasks


def _paginate(tasks, p):
    start = 0
    if p.get("NextToken"):
        try:
            start = int(base64.b64decode(p["NextToken"]).decode())
        except (ValueError, UnicodeDecodeError):
            raise ApiError("InvalidParameterValue", "Invalid NextToken")
    limit = len(tasks)
    if p.get("MaxResults"):
        try:
            limit = int(p["MaxResults"])
        except ValueError:
            limit = -1
        if limit < 1:
            raise ApiError("InvalidParameterValue", "Value (%s) for parameter "
                           "MaxResults is invalid." % p["MaxResults"])
    page = tasks[start:start + limit]
    more = start + limit < len(tasks)
    token = base64.b64encode(str(start + limit).encode()).decode() \
        if more else None
    return page, token


def _task_set(root, set_name, tasks, render, token):
    s = add(root, set_name, "")
    for t in tasks:
        render(add(s, "item", ""), t)
    add(root, "nextToken", token)


# ----------------------------------------------------------- rendering --

def _user_bucket(parent, d):
    ub = add(parent, "userBucket", "")
    add(ub, "s3Bucket", d["bucket"])
    add(ub, "s3Key", d["key"])


def _tag_set(parent, tags):
    ts = add(parent, "tagSet", "")
    for k, v in tags:
        item = add(ts, "item", "")
        add(item, "key", k)
        add(item, "value", v)


def _snapshot_details(parent, task, status):
    """One item per disk once the analysis knows them, else one per
    container with size 0 (as ImportImage's own answer)."""
    sds = add(parent, "snapshotDetailSet", "")
    v = task.verdict
    src = task.req["disks"][0]
    if v is None or not v.ok:
        for d in task.req["disks"]:
            item = add(sds, "item", "")
            add(item, "description", d["description"])
            add(item, "diskImageSize", "0.0")
            add(item, "format", d["format"])
            add(item, "status", "active" if status == "active" else None)
            _user_bucket(item, d)
        return
    for i, disk in enumerate(v.disks):
        item = add(sds, "item", "")
        add(item, "description", src["description"])
        add(item, "deviceName", "/dev/sda1" if i == 0
            else "/dev/sd%s" % chr(ord("b") + i - 1))
        add(item, "diskImageSize", "%.1f" % disk["size"])
        add(item, "format", disk["format"])
        if i < len(task.snapshot_ids):
            add(item, "snapshotId", task.snapshot_ids[i])
        add(item, "status", "completed")
        _user_bucket(item, task.req["disks"][min(i, len(task.req["disks"])
                                                 - 1)])


def _image_task_xml(el, task, top=False):
    status, message, progress = task.state()
    r = task.req
    platform = r["platform"] or ("Linux" if task.verdict is not None
                                 and task.verdict.ok else None)
    add(el, "architecture", r["architecture"] or
        ("x86_64" if status == "completed" else None))
    add(el, "description", r["description"])
    add(el, "encrypted", r["encrypted"])
    add(el, "hypervisor", "xen" if status == "completed" else None)
    add(el, "imageId", task.image_id)
    add(el, "importTaskId", task.id)
    add(el, "kmsKeyId", r["kms_key_id"])
    add(el, "licenseType", r["license_type"] or "BYOL")
    add(el, "platform", platform)
    add(el, "progress", progress)
    _snapshot_details(el, task, status)
    add(el, "status", status)
    add(el, "statusMessage", message)
    _tag_set(el, r["tags"])
    add(el, "usageOperation", r["usage_operation"] or
        ("RunInstances" if status == "completed" else None))
    if not top:
        add(el, "bootMode", task.boot_mode())


def _snap_task_xml(el, task):
    status, message, progress = task.state()
    d = task.req["disks"][0]
    v = task.verdict
    add(el, "description", task.req["description"])
    add(el, "importTaskId", task.id)
    det = add(el, "snapshotTaskDetail", "")
    add(det, "description", d["description"])
    size = v.disks[0]["size"] if v is not None and v.ok else 0
    add(det, "diskImageSize", "%.1f" % size)
    add(det, "encrypted", task.req["encrypted"])
    add(det, "format", d["format"])
    add(det, "kmsKeyId", task.req["kms_key_id"])
    add(det, "progress", progress)
    add(det, "snapshotId", task.snapshot_ids[0] if task.snapshot_ids
        else None)
    add(det, "status", status)
    add(det, "statusMessage", message)
    add(det, "url", d["url"])
    _user_bucket(det, d)
    _tag_set(el, task.req["tags"])
