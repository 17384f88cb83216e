"""The way back out of EC2, with real bytes (doc/design/exports.md).

ExportImage / DescribeExportImageTasks / CancelExportTask and
CreateStoreImageTask / DescribeStoreImageTasks / CreateRestoreImageTask,
answered by Exports.handle (routed here by vmimport.VmImport).

Bytes: DiskStore keeps, for every snapshot VM Import made, the disk it came
from as a sparse raw file under STATE/disks (tasks.ImportTask calls keep()
while it analyses the object and bind() when it registers the snapshots).
An export converts those raw files with `qemu-img convert` (VMDK
streamOptimized, VHD = vpc, RAW) and puts the result into moto's S3 at
`<S3Prefix><export-ami-id>.<format lower-case>` when the task completes: the
object appears whole or not at all (a cancelled or failed task writes none).

A store object (`<ami-id>.bin`) is a gzip'ed tar: `amifs-store.json` (the
AMI's name, description, architecture, boot mode, platform, whether VM
Import made it, and one entry per snapshot: device, size in GiB, member
name) followed by one raw member per snapshot whose bytes are known.
CreateRestoreImageTask reads it back, makes the snapshots (keeping their
bytes) and registers the AMI in moto's EC2 backend.

Tasks live in memory; a finished task disappears from the Describe calls
`ttl` seconds after it ended (AWS: 7 days for exports, 31 for stores; the
control API's `task_ttl_seconds` shortens it for tasks started after),
silently, as on AWS.
"""
import io
import json
import os
import secrets
import subprocess
import tarfile
import tempfile
import threading
import time
from datetime import datetime, timezone

from moto.ec2.models import ec2_backends
from moto.ec2.utils import random_ami_id
from moto.s3.models import s3_backends

import diskcheck
from awsxml import ApiError, add, ec2_response
from reqinfo import indexed

ACTIONS = ("ExportImage", "DescribeExportImageTasks", "CancelExportTask",
           "CreateStoreImageTask", "DescribeStoreImageTasks",
           "CreateRestoreImageTask")
EXPORT_FORMATS = {"VMDK": ("vmdk", ["-o", "subformat=streamOptimized"]),
                  "VHD": ("vpc", []), "RAW": ("raw", [])}
EXPORT_PHASES = [("pending", 0), ("validating", 15), ("converting", 30),
                 ("updating", 85)]
STORE_PHASES = 4                 # InProgress for this many phases
DEFAULT_TTL = 7 * 24 * 3600
ROLE_MSG = ("The service role %s provided does not exist or does not have "
            "sufficient permissions")
BUCKET_MSG = ("Insufficient permissions - please verify bucket ownership "
              "and permissions")
NOT_EXPORTABLE = ("The image %s is not exportable: only images created by "
                  "VM Import can be exported")
STORE_MEMBER = "amifs-store.json"
QEMU_IN = {"RAW": "raw", "VMDK": "vmdk", "VHD": "vpc", "VHDX": "vhdx"}


def _run(argv):
    return subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=600)


def _iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")


# ------------------------------------------------------------ disk bytes --

class DiskStore:
    """snapshot id -> sparse raw file of its bytes. Thread-safe."""

    def __init__(self, root):
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.lock = threading.Lock()
        self.raw = {}

    def keep(self, path, fmt, work):
        """Raw copies of the disks in the object at PATH (an OVA's disks in
        OVF order); [] when qemu-img cannot read them."""
        disks = diskcheck._ova_disks(path, work) if fmt == "OVA" \
            else [(path, fmt)]
        out = []
        for disk, dfmt in disks:
            fd, dest = tempfile.mkstemp(suffix=".raw", dir=self.root)
            os.close(fd)
            p = _run(["qemu-img", "convert", "-f", QEMU_IN.get(dfmt, "raw"),
                      "-O", "raw", disk, dest])
            if p.returncode != 0:
                os.unlink(dest)
                return []
            out.append(dest)
        return out

    def new_file(self):
        fd, dest = tempfile.mkstemp(suffix=".raw", dir=self.root)
        os.close(fd)
        return dest

    def bind(self, snapshot_ids, raws):
        with self.lock:
            for sid, raw in zip(snapshot_ids, raws):
                self.raw[sid] = raw

    def get(self, snapshot_id):
        with self.lock:
            return self.raw.get(snapshot_id)


def _snapshots_of(ami):
    return [m["Ebs"]["SnapshotId"] for m in ami.block_device_mappings
            if m.get("Ebs", {}).get("SnapshotId")]


# ----------------------------------------------------------------- tasks --

class _Task:
    """Shared timing: phases of `phase` seconds from start; cancel and
    failure end it; ended tasks expire after the store's ttl."""

    def __init__(self, account, region, phase):
        self.account, self.region, self.phase = account, region, phase
        self.start = time.time()
        self.lock = threading.Lock()
        self.cancelled_at = None
        self.failed = None              # (time, message)
        self.done_at = None
        self.ttl = DEFAULT_TTL          # the store's ttl when it started

    def ended_at(self):
        if self.cancelled_at is not None:
            return self.cancelled_at
        if self.failed is not None:
            return self.failed[0]
        return self.done_at


class ExportTask(_Task):
    def __init__(self, account, region, phase, req, raws):
        super().__init__(account, region, phase)
        self.id = "export-ami-" + secrets.token_hex(9)[:17]
        self.req, self.raws = req, raws
        self.key = "%s%s.%s" % (req["prefix"], self.id,
                                req["format"].lower())
        self.ready = None               # converted file, once made

    def due(self):
        return self.start + len(EXPORT_PHASES) * self.phase

    def state(self, now=None):
        """(status, message, progress); writes the object when due."""
        now = time.time() if now is None else now
        with self.lock:
            if self.cancelled_at is not None:
                return self._ending(now, self.cancelled_at,
                                    "User initiated task cancelation")
            if self.failed is not None:
                return self._ending(now, self.failed[0], self.failed[1])
            if self.done_at is not None:
                return "completed", None, None
            if now >= self.due() and self.ready is not None:
                self._finish_locked(now)
                return self.state_locked_after_finish(now)
            idx = min(int((now - self.start) / self.phase),
                      len(EXPORT_PHASES) - 1)
            name, progress = EXPORT_PHASES[idx]
            return "active", name, str(progress)

    def state_locked_after_finish(self, now):
        if self.failed is not None:
            return self._ending(now, self.failed[0], self.failed[1])
        return "completed", None, None

    def _ending(self, now, since, message):
        if now - since < self.phase:
            return "deleting", message, None
        return "deleted", message, None

    def _finish_locked(self, now):
        s3 = s3_backends[self.account]["aws"]
        bucket = self.req["bucket"]
        try:
            if bucket not in s3.buckets:
                raise KeyError(bucket)
            with open(self.ready, "rb") as f:
                s3.put_object(bucket, self.key, f.read())
            self.done_at = now
        except (KeyError, OSError):
            self.failed = (now, "ClientError: " + BUCKET_MSG)
        finally:
            _unlink(self.ready)

    def run(self):
        """Worker: convert the snapshots' raw bytes into the format."""
        qfmt, opts = EXPORT_FORMATS[self.req["format"]]
        fd, out = tempfile.mkstemp(suffix="." + qfmt,
                                   dir=os.path.dirname(self.raws[0]))
        os.close(fd)
        p = _run(["qemu-img", "convert", "-f", "raw", "-O", qfmt] + opts +
                 [self.raws[0], out])
        with self.lock:
            if p.returncode != 0:
                self.failed = (time.time(), "ClientError: conversion failed")
                _unlink(out)
                return
            if self.cancelled_at is not None:
                _unlink(out)
                return
            self.ready = out
        while True:
            left = self.due() - time.time()
            if left <= 0 or self.cancelled_at is not None:
                break
            time.sleep(min(left, 0.5))
        status = self.state()[0]
        if status != "completed":
            _unlink(out)


def _unlink(path):
    try:
        os.unlink(path)
    except (OSError, TypeError):
        pass


class StoreTask(_Task):
    def __init__(self, account, region, phase, ami_id, bucket, tags):
        super().__init__(account, region, phase)
        self.ami_id, self.bucket, self.tags = ami_id, bucket, tags
        self.key = ami_id + ".bin"
        self.body = None

    def due(self):
        return self.start + STORE_PHASES * self.phase

    def state(self, now=None):
        """(InProgress|Completed|Failed, failure reason, percent)."""
        now = time.time() if now is None else now
        with self.lock:
            if self.failed is not None:
                return "Failed", self.failed[1], 0
            if self.done_at is None and now >= self.due() and \
                    self.body is not None:
                self._finish_locked(now)
            if self.failed is not None:
                return "Failed", self.failed[1], 0
            if self.done_at is not None:
                return "Completed", None, 100
            pct = int(100 * (now - self.start) / (self.due() - self.start))
            return "InProgress", None, max(0, min(pct, 99))

    def _finish_locked(self, now):
        s3 = s3_backends[self.account]["aws"]
        if self.bucket not in s3.buckets:
            self.failed = (now, BUCKET_MSG)
            return
        key = s3.put_object(self.bucket, self.key, self.body)
        if self.tags:
            s3.put_object_tagging(key, dict(self.tags))
        self.body = None
        self.done_at = now


# ------------------------------------------------------------------- API --

class Exports:
    """The six actions; owned by vmimport.VmImport (same lock discipline:
    self.lock guards the task dicts, each task its own fields)."""

    def __init__(self, vm, disks):
        self.vm, self.disks = vm, disks
        self.lock = threading.Lock()
        self.exports = {}
        self.stores = {}
        self.ttl = DEFAULT_TTL

    def call(self, info, account):
        fn = getattr(self, "_" + info.op)
        return fn(info, account, info.region or "us-east-1")

    def _live(self, task, now):
        end = task.ended_at()
        return end is None or now - end < task.ttl

    # ----------------------------------------------------------- export --

    def _ExportImage(self, info, account, region):
        p = info.params
        req = {"image": p.get("ImageId"), "format": (p.get(
            "DiskImageFormat") or "").upper(),
            "bucket": p.get("S3ExportLocation.S3Bucket"),
            "prefix": p.get("S3ExportLocation.S3Prefix") or "",
            "role": p.get("RoleName") or "vmimport",
            "description": p.get("Description"), "tags": _export_tags(p)}
        if req["format"] not in EXPORT_FORMATS:
            raise ApiError("InvalidParameterValue", "Value (%s) for parameter "
                           "DiskImageFormat is invalid. Valid values are: "
                           "VMDK, RAW, VHD" % p.get("DiskImageFormat"))
        if not req["image"] or not req["bucket"]:
            raise ApiError("MissingParameter", "The request must contain "
                           "the parameters ImageId and S3ExportLocation")
        ami = _ami(account, region, req["image"])
        raws = [self.disks.get(s) for s in _snapshots_of(ami)]
        if not raws or None in raws or \
                getattr(ami, "exportable", True) is False:
            raise ApiError("NotExportable", NOT_EXPORTABLE % req["image"])
        _check_bucket(account, region, req["bucket"])
        _check_export_role(account, req)
        with self.lock:
            for t in self.exports.values():
                if t.req["image"] == req["image"] and \
                        t.state()[0] == "active":
                    raise ApiError("IncorrectState", "An export task for "
                                   "image %s is already in progress (%s)"
                                   % (req["image"], t.id))
            task = ExportTask(account, region, self.vm.phase, req, raws)
            task.ttl = self.ttl
            self.exports[task.id] = task
        threading.Thread(target=task.run, name=task.id, daemon=True).start()
        return ec2_response("ExportImage", lambda r: _export_xml(r, task))

    def _DescribeExportImageTasks(self, info, account, region):
        p = info.params
        ids = [v[""] for v in indexed(p, "ExportImageTaskId")]
        now = time.time()
        with self.lock:
            mine = [t for t in self.exports.values() if t.account == account
                    and t.region == region and self._live(t, now)]
        if ids:
            mine = [t for t in mine if t.id in ids]
        for f in indexed(p, "Filters") + indexed(p, "Filter"):
            vals = [v for k, v in f.items() if k.startswith("Value")]
            mine = [t for t in mine if f.get("Name") != "task-state"
                    or t.state()[0] in vals]
        page, token = _paginate(mine, p, 500)

        def fill(r):
            s = add(r, "exportImageTaskSet", "")
            for t in page:
                _export_xml(add(s, "item", ""), t)
            add(r, "nextToken", token)
        return ec2_response("DescribeExportImageTasks", fill)

    def _CancelExportTask(self, info, account, region):
        tid = info.params.get("ExportTaskId")
        with self.lock:
            task = self.exports.get(tid or "")
        if task is None or task.account != account or \
                task.region != region or not self._live(task, time.time()):
            raise ApiError("InvalidExportTaskID.NotFound", "The export task "
                           "ID '%s' does not exist" % tid)
        status = task.state()[0]
        with task.lock:
            if status != "active":
                raise ApiError("IncorrectState", "Export task %s cannot be "
                               "cancelled because it is %s" % (tid, status))
            task.cancelled_at = time.time()
        return ec2_response("CancelExportTask",
                            lambda r: add(r, "return", "true"))

    # ------------------------------------------------------------ store --

    def _CreateStoreImageTask(self, info, account, region):
        p = info.params
        ami_id, bucket = p.get("ImageId"), p.get("Bucket")
        if not ami_id or not bucket:
            raise ApiError("MissingParameter", "The request must contain "
                           "the parameters ImageId and Bucket")
        ami = _ami(account, region, ami_id)
        _check_bucket(account, region, bucket)
        tags = [(t.get("Key", ""), t.get("Value", ""))
                for t in indexed(p, "S3ObjectTag")]
        with self.lock:
            old = self.stores.get((account, region, ami_id))
            if old is not None and old.state()[0] == "InProgress":
                raise ApiError("InvalidParameter", "A store task for %s is "
                               "already in progress" % ami_id)
            task = StoreTask(account, region, self.vm.phase, ami_id, bucket,
                             tags)
            task.ttl = self.ttl
            self.stores[(account, region, ami_id)] = task
        body = self._archive(ami)
        with task.lock:
            task.body = body
        return ec2_response("CreateStoreImageTask",
                            lambda r: add(r, "objectKey", task.key))

    def _archive(self, ami):
        snaps = _snapshots_of(ami)
        be = ec2_backends[ami.ec2_backend.account_id][
            ami.ec2_backend.region_name]
        raws = [self.disks.get(s) for s in snaps]
        meta = {"format": "amifs-store-1", "name": ami.name,
                "description": ami.description,
                "architecture": ami.architecture,
                "boot_mode": ami.boot_mode, "platform": ami.platform,
                "imported": bool(snaps) and None not in raws,
                "snapshots": []}
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            for i, (sid, raw) in enumerate(zip(snaps, raws)):
                snap = be.snapshots.get(sid)
                meta["snapshots"].append({
                    "size_gib": snap.volume.size if snap else 1,
                    "member": "disk%d.raw" % i if raw else None})
            data = json.dumps(meta, indent=1).encode()
            ti = tarfile.TarInfo(STORE_MEMBER)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
            for i, raw in enumerate(raws):
                if raw:
                    tf.add(raw, arcname="disk%d.raw" % i)
        return buf.getvalue()

    def _DescribeStoreImageTasks(self, info, account, region):
        p = info.params
        ids = [v[""] for v in indexed(p, "ImageId")]
        now = time.time()
        with self.lock:
            mine = [t for t in self.stores.values() if t.account == account
                    and t.region == region and self._live(t, now)]
        if ids:
            mine = [t for t in mine if t.ami_id in ids]
        for f in indexed(p, "Filter") + indexed(p, "Filters"):
            vals = [v for k, v in f.items() if k.startswith("Value")]
            name = f.get("Name")
            mine = [t for t in mine
                    if (name != "task-state" or t.state()[0] in vals) and
                    (name != "bucket" or t.bucket in vals)]
        page, token = _paginate(mine, p, 200)

        def fill(r):
            s = add(r, "storeImageTaskResultSet", "")
            for t in page:
                state, reason, pct = t.state()
                it = add(s, "item", "")
                add(it, "amiId", t.ami_id)
                add(it, "bucket", t.bucket)
                add(it, "progressPercentage", pct)
                add(it, "s3objectKey", t.key)
                add(it, "storeTaskFailureReason", reason)
                add(it, "storeTaskState", state)
                add(it, "taskStartTime", _iso(t.start))
            add(r, "nextToken", token)
        return ec2_response("DescribeStoreImageTasks", fill)

    def _CreateRestoreImageTask(self, info, account, region):
        p = info.params
        bucket, key = p.get("Bucket"), p.get("ObjectKey")
        if not bucket or not key:
            raise ApiError("MissingParameter", "The request must contain "
                           "the parameters Bucket and ObjectKey")
        _check_bucket(account, region, bucket)
        s3 = s3_backends[account]["aws"]
        try:
            obj = s3.get_object(bucket, key)
            data = obj.value
        except Exception:               # moto's NoSuchKey
            raise ApiError("InvalidParameter", "The specified object %s/%s "
                           "does not exist" % (bucket, key))
        name = p.get("Name") or None
        for other in list(ec2_backends[account][region].amis.values()):
            if name and getattr(other, "name", None) == name:
                raise ApiError("InvalidAMIName.Duplicate", "AMI name %s is "
                               "already in use by AMI %s" % (name, other.id))
        meta, members = self._read_archive(data, key)
        ami = self._restore(account, region, meta, members, name)
        return ec2_response("CreateRestoreImageTask",
                            lambda r: add(r, "imageId", ami.id))

    def _read_archive(self, data, key):
        bad = ApiError("InvalidParameter", "The object %s is not a stored "
                       "AMI (CreateStoreImageTask) archive" % key)
        members = {}
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
                meta = json.loads(tf.extractfile(STORE_MEMBER).read())
                for s in meta["snapshots"]:
                    if s.get("member"):
                        dest = self.disks.new_file()
                        with tf.extractfile(s["member"]) as src, \
                                open(dest, "wb") as out:
                            while True:
                                chunk = src.read(1 << 20)
                                if not chunk:
                                    break
                                out.write(chunk)
                        members[s["member"]] = dest
        except (tarfile.TarError, KeyError, ValueError, TypeError, OSError,
                EOFError):
            raise bad
        if meta.get("format") != "amifs-store-1":
            raise bad
        return meta, members

    def _restore(self, account, region, meta, members, name):
        import tasks                    # late: tasks imports this module
        be = ec2_backends[account][region]
        snaps, raws = [], []
        for s in meta["snapshots"]:
            snaps.append(tasks.make_snapshot(
                be, region, int(s["size_gib"]) << 30,
                "Created by CreateRestoreImageTask", False, None))
            raws.append(members.get(s.get("member")))
        if meta.get("imported"):
            self.disks.bind([s.id for s in snaps], raws)
        ami = tasks.ImportedAmi(
            be, random_ami_id(), snaps, name=name or meta.get("name"),
            description=meta.get("description"),
            architecture=meta.get("architecture") or "x86_64",
            virtualization_type="hvm", hypervisor="xen",
            root_device_type="ebs", root_device_name="/dev/sda1",
            platform=meta.get("platform"), region_name=region + "a",
            boot_mode=meta.get("boot_mode") or "legacy-bios")
        be.amis[ami.id] = ami
        return ami

    # ---------------------------------------------------------- summary --

    def summary(self):
        with self.lock:
            exports = list(self.exports.values())
        out = []
        for t in exports:
            status, message, progress = t.state()
            out.append({"id": t.id, "kind": "export", "region": t.region,
                        "status": status, "message": message,
                        "progress": progress, "image_id": t.req["image"],
                        "bucket": t.req["bucket"], "key": t.key,
                        "snapshot_ids": []})
        return out


# ---------------------------------------------------------------- checks --

def _ami(account, region, ami_id):
    be = ec2_backends[account][region]
    ami = be.amis.get(ami_id)
    if ami is None:
        raise ApiError("InvalidAMIID.NotFound",
                       "The image id '[%s]' does not exist" % ami_id)
    return ami


def _check_export_role(account, req):
    """The vmimport role trusts vmie and may write the export: the
    documented export statement (s3:PutObject on the keys, s3:GetBucketAcl
    and s3:GetBucketLocation on the bucket)."""
    from vmimport import _permitted, _role_policies, _trusts_vmie
    from moto.iam.models import iam_backends
    iam = iam_backends[account]["aws"]
    err = ApiError("InvalidParameter", ROLE_MSG % req["role"])
    try:
        role = iam.get_role(req["role"])
    except Exception:                   # moto's NoSuchEntity
        raise err
    if not _trusts_vmie(role.assume_role_policy_document):
        raise err
    pol = _role_policies(iam, req["role"])
    b = "arn:aws:s3:::" + req["bucket"]
    need = [("s3:PutObject", "%s/%sexport-ami-x" % (b, req["prefix"])),
            ("s3:GetBucketAcl", b), ("s3:GetBucketLocation", b)]
    if not all(_permitted(pol, a, r) for a, r in need):
        raise err


def _check_bucket(account, region, name):
    bucket = s3_backends[account]["aws"].buckets.get(name)
    if bucket is None:
        raise ApiError("InvalidParameter", BUCKET_MSG)
    if bucket.region_name != region:
        raise ApiError("InvalidParameter",
                       "The given S3 bucket is not local to the region")


def _export_tags(p):
    tags = []
    for spec in indexed(p, "TagSpecification"):
        if spec.get("ResourceType") != "export-image-task":
            raise ApiError("InvalidParameterValue", "'%s' is not a valid "
                           "taggable resource type for this operation."
                           % spec.get("ResourceType"))
        keys = {}
        for k, v in spec.items():
            if k.startswith("Tag."):
                n, _, f = k[4:].partition(".")
                keys.setdefault(int(n), {})[f] = v
        tags += [(t.get("Key", ""), t.get("Value", ""))
                 for _, t in sorted(keys.items())]
    return tags


def _paginate(tasks, p, cap):
    start = int(p.get("NextToken") or 0) if (p.get("NextToken") or "0") \
        .isdigit() else 0
    limit = int(p["MaxResults"]) if str(p.get("MaxResults", "")).isdigit() \
        else cap
    if limit < 1 or limit > cap:
        raise ApiError("InvalidParameterValue", "Value (%s) for parameter "
                       "MaxResults is invalid." % p.get("MaxResults"))
    page = tasks[start:start + limit]
    more = start + limit < len(tasks)
    return page, (str(start + limit) if more else None)


def _export_xml(el, t):
    status, message, progress = t.state()
    r = t.req
    add(el, "description", r["description"])
    add(el, "diskImageFormat", r["format"])
    add(el, "exportImageTaskId", t.id)
    add(el, "imageId", r["image"])
    add(el, "roleName", r["role"])
    add(el, "progress", progress)
    loc = add(el, "s3ExportLocation", "")
    add(loc, "s3Bucket", r["bucket"])
    add(loc, "s3Prefix", r["prefix"])
    add(el, "status", status)
    add(el, "statusMessage", message)
    ts = add(el, "tagSet", "")
    for k, v in r["tags"]:
        it = add(ts, "item", "")
        add(it, "key", k)
        add(it, "value", v)
