"""Import tasks: their phases over time, their analysis, their AMI.

A task's state is computed from its start time whenever it is asked for
(no ticking). A worker thread per task does the slow parts: it copies the
staged object out of moto's S3 backend, runs diskcheck.analyze on it, then
sleeps until the task is due to complete and registers the AMI/snapshots
in moto's EC2 backend (so describe-images shows them even if nobody polls
the task). Whichever comes first, a poll or the worker, finalizes; that is
done once, under the task's lock.
"""
import math
import os
import secrets
import shutil
import tempfile
import threading
import time

from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami
from moto.ec2.utils import random_ami_id
from moto.s3.models import s3_backends

import diskcheck

IMAGE_PHASES = [("pending", 2), ("validating", 8), ("validated", 14),
                ("converting", 28), ("updating", 42), ("updated", 52),
                ("preparing to boot", 58), ("booting", 66), ("booted", 75),
                ("preparing ami", 85)]
SNAP_PHASES = [("pending", 0), ("validating", 5), ("validated", 10),
               ("downloading/converting", 42)]
HOLD_PHASE = 1          # phases wait at "validating" until analysis is done
# Where a failure becomes visible: disk/container problems end validation;
# partition/OS problems are found while converting (before "updating").
FAIL_AT_VALIDATION = 2
FAIL_AT_OS = 4
CANCEL_MESSAGE = "User initiated task cancelation"
GIB = 1 << 30


def new_task_id(kind):
    prefix = "import-ami-" if kind == "image" else "import-snap-"
    return prefix + secrets.token_hex(9)[:17]


class ImportTask:
    """One ImportImage or ImportSnapshot task. Fields set at creation are
    read-only afterwards; verdict/cancel/finalize fields change under
    self.lock."""

    def __init__(self, kind, account, region, req, phase_seconds, work_root,
                 disks=None):
        self.kind = kind
        self.disks = disks              # exports.DiskStore or None
        self.kept = []                  # raw copies of the disks (exports)
        self.id = new_task_id(kind)
        self.account = account
        self.region = region
        self.req = req                  # validated request fields (dict)
        self.phase = phase_seconds
        self.start = time.time()
        self.work = tempfile.mkdtemp(prefix=self.id + "-", dir=work_root)
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.verdict = None
        self.verdict_time = None
        self.cancelled_at = None
        self.cancel_reason = None
        self.image_id = None
        self.snapshot_ids = []
        self.finalized = False

    @property
    def phases(self):
        return IMAGE_PHASES if self.kind == "image" else SNAP_PHASES

    # -------------------------------------------------------------- state --

    def state(self, now=None):
        """(status, statusMessage or None, progress or None). May finalize
        the task (register the AMI) when it is due."""
        now = time.time() if now is None else now
        with self.lock:
            if self.cancelled_at is not None:
                return self._ending(now, self.cancelled_at,
                                    self.cancel_reason)
            idx = self._phase_index(now)
            fail = self._fail_index()
            if fail is not None and idx >= fail:
                t_fail = self._time_of(fail)
                return self._ending(now, t_fail, self.verdict.message)
            if idx >= len(self.phases):
                self._finalize_locked()
                return "completed", None, None
            name, progress = self.phases[idx]
            return "active", name, str(progress)

    def _ending(self, now, since, message):
        if now - since < self.phase:
            return "deleting", message, None
        return "deleted", message, None

    def _delay(self):
        """Seconds the timeline was held at HOLD_PHASE waiting for the
        analysis (0 when it finished in time)."""
        hold_end = self.start + (HOLD_PHASE + 1) * self.phase
        if self.verdict_time is None:
            return None
        return max(0.0, self.verdict_time - hold_end)

    def _phase_index(self, now):
        delay = self._delay()
        if delay is None:
            return min(int((now - self.start) / self.phase), HOLD_PHASE)
        return int((now - self.start - delay) / self.phase)

    def _time_of(self, idx):
        return self.start + (self._delay() or 0.0) + idx * self.phase

    def _fail_index(self):
        if self.verdict is None or self.verdict.ok:
            return None
        msg = self.verdict.message or ""
        if "Disk validation" in msg or "Footers" in msg or \
                self.kind == "snapshot":
            return FAIL_AT_VALIDATION
        return FAIL_AT_OS

    def completion_time(self):
        with self.lock:
            if self.verdict is None or not self.verdict.ok:
                return None
            return self._time_of(len(self.phases))

    def advance(self):
        """Tests (POST /_amifs/tasks/advance): move this task on by one
        phase now, so a test can see every phase of a task started with
        long phases without racing the clock. False, and nothing moves,
        while the analysis holds it at "validating" or once it has ended
        (or is ending)."""
        with self.lock:
            idx = self._phase_index(time.time())
            if self.cancelled_at is not None or self.finalized or \
                    (self.verdict is None and idx >= HOLD_PHASE):
                return False
            fail = self._fail_index()
            if idx >= len(self.phases) or (fail is not None and idx >= fail):
                return False
            self.start -= self.phase
            if self.verdict_time is not None:   # the hold's delay stays
                self.verdict_time -= self.phase
            return True

    def cancel(self, reason):
        """Returns the previous status, or raises ValueError(status) when
        the task is not active."""
        status, _, _ = self.state()
        with self.lock:
            if status != "active":
                raise ValueError(status)
            self.cancelled_at = time.time()
            self.cancel_reason = reason or CANCEL_MESSAGE
        self.wake.set()
        return status

    # ------------------------------------------------------------- worker --

    def run(self):
        """Worker thread body: analyze, wait, finalize."""
        try:
            verdict = self._analyze()
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        with self.lock:
            self.verdict = verdict
            self.verdict_time = time.time()
        while self.cancelled_at is None and not self.finalized:
            due = self.completion_time()    # again: advance() moves it
            if due is None:
                return
            left = due - time.time()
            if left <= 0:
                self.state()            # finalizes
                return
            self.wake.wait(min(left, 1.0))

    def _analyze(self):
        path = os.path.join(self.work, "object")
        disks = self.req["disks"]
        verdict = None
        for i, d in enumerate(disks):
            if not stage_object(self.account, d["bucket"], d["key"], path):
                v = diskcheck.Verdict()
                v.message = ("ClientError: Disk validation failed [We do not "
                             "have access to the given resource. Reason 404 "
                             "Not Found]")
                return v
            v = diskcheck.analyze(path, d["format"], self.work,
                                  check_os=(i == 0 and self.kind == "image"))
            if v.ok and self.disks is not None and self.kind == "image":
                self.kept += self.disks.keep(path, d["format"], self.work)
            os.unlink(path)
            if not v.ok:
                return v
            if verdict is None:
                verdict = v
            else:
                verdict.disks += v.disks
        return verdict

    def boot_mode(self):
        """Requested boot mode, else what the partition table suggests."""
        if self.req.get("boot_mode"):
            return self.req["boot_mode"]
        if self.verdict is not None and self.verdict.boot_mode:
            return self.verdict.boot_mode
        return "legacy-bios"

    # ----------------------------------------------------------- finalize --

    def _finalize_locked(self):
        if self.finalized:
            return
        self.finalized = True
        be = ec2_backends[self.account][self.region]
        desc = "Created by AWS-VMImport service for %s" % self.id
        snaps = [make_snapshot(be, self.region, d["virtual_size"], desc,
                                self.req.get("encrypted", False),
                                self.req.get("kms_key_id"))
                 for d in self.verdict.disks]
        self.snapshot_ids = [s.id for s in snaps]
        if self.disks is not None and len(self.kept) == len(snaps):
            self.disks.bind(self.snapshot_ids, self.kept)
        if self.kind == "image":
            self.image_id = _register_ami(be, self, snaps).id


def stage_object(account, bucket, key, dest):
    """Copy the object's bytes out of moto's S3 backend into DEST (in
    chunks where moto keeps a spooled file). False when it is gone."""
    try:
        obj = s3_backends[account]["aws"].get_object(bucket, key)
    except Exception:                   # moto raises its own NoSuch* types
        return False
    if obj is None:
        return False
    buf = getattr(obj, "_value_buffer", None)
    lock = getattr(obj, "lock", None)
    with open(dest, "wb") as out:
        if buf is not None and lock is not None:
            with lock:
                buf.seek(0)
                shutil.copyfileobj(buf, out, 1 << 20)
        else:
            out.write(obj.value)
    return True


def make_snapshot(be, region, virtual_size, description, encrypted, kms):
    """An EBS snapshot as VM Import leaves it: volume vol-ffffffff, size the
    disk's virtual size rounded up to GiB."""
    size = max(1, math.ceil(virtual_size / GIB))
    vol = be.create_volume(size=size, zone_name=region + "a",
                           encrypted=bool(encrypted),
                           kms_key_id=kms if encrypted else None)
    snap = be.create_snapshot(vol.id, description)
    be.delete_volume(vol.id)
    vol.id = "vol-ffffffff"
    return snap


class ImportedAmi(Ami):
    """moto's Ami always invents one 15 GiB snapshot; an imported AMI maps
    its own snapshots (one per disk) instead."""

    # moto's model metaclass files every model under the service named by
    # the second component of its module; ours belongs with EC2's.
    __module__ = "moto.ec2.amifs_imported"

    def __init__(self, be, ami_id, snaps, **kw):
        super().__init__(be, ami_id, **kw)
        be.snapshots.pop(self.ebs_snapshot.id, None)
        self.ebs_snapshot = snaps[0]
        self._snaps = snaps

    @property
    def block_device_mappings(self):
        out = []
        for i, s in enumerate(self._snaps):
            dev = self.root_device_name if i == 0 else "/dev/sd%s" % (
                chr(ord("b") + i - 1))
            out.append({"DeviceName": dev, "Ebs": {
                "SnapshotId": s.id, "VolumeSize": s.volume.size,
                "DeleteOnTermination": True, "VolumeType": "gp2",
                "Encrypted": bool(s.encrypted)}})
        return out


def _register_ami(be, task, snaps):
    osr = task.verdict.os
    distro = osr.get("PRETTY_NAME") or osr.get("NAME") or "Linux"
    ami = ImportedAmi(
        be, random_ami_id(), snaps, name=task.id,
        description="AWS-VMImport service: Linux - %s" % distro,
        architecture=task.req.get("architecture") or "x86_64",
        virtualization_type="hvm", hypervisor="xen",
        root_device_type="ebs", root_device_name="/dev/sda1",
        image_location="%s/%s" % (task.account, task.id),
        platform=("windows" if task.req.get("platform") == "Windows"
                  else None),
        region_name=task.region + "a",
        boot_mode=task.boot_mode())
    be.amis[ami.id] = ami
    return ami
