#!/usr/bin/python3
"""Bench: an exported OVF folder (vSphere shape, tests/images/mkfolders.py)
from the first byte to `completed`.

Row 1, amifs: `cp -r vm/ MNT/imports/`, then `cat tasks/vm/wait`.
Row 2, the script a user writes today without ovftool: tar the folder into
an OVA (the .ovf first), `aws s3 cp`, `aws ec2 import-image`, poll
describe-import-image-tasks until completed.
Both against one local endpoint (tests/endpoint/server.py) with the same
phase length, on the same folder.

    tests/bench/ovffolder_bench.py [--build DIR] [--phase SECONDS]
                                   [--disks N] [--disk-mb MB]
"""
import os
import re
import subprocess
import tempfile
import time

import importbench as ib
import mkfolders  # on sys.path through importbench

POLL = 1.0  # what a script sleeps between describes (amifs: the same)


def by_amifs(ep, build, folder, work):
    with ib.mounted(ep, build, work, POLL) as mnt:
        t0 = time.monotonic()
        subprocess.run(["cp", "-r", folder["dir"],
                        os.path.join(mnt, "imports") + "/"], check=True)
        return ib.wait_task(mnt, "vm", t0)


def eject(ovf):
    """What `govc device.cdrom.eject` + a re-export does: the CD-ROM no
    longer points at the ISO that was not exported (VM Import refuses an
    OVA whose OVF names an absent file). The .mf, now stale, is left out."""
    with open(ovf) as f:
        text = f.read()
    iso = re.search(r'<File ovf:href="[^"]*\.iso" ovf:id="([^"]+)"[^>]*/>\n',
                    text)
    text = text.replace(iso.group(0), "").replace(
        "ovf:/file/" + iso.group(1), "")
    with open(ovf, "w") as f:
        f.write(text)


def by_script(ep, folder, work):
    t0 = time.monotonic()
    ova = os.path.join(work, "vm.ova")
    eject(os.path.join(folder["dir"], folder["ovf"]))
    members = [folder["ovf"]] + [f for f in folder["files"]
                                 if f != folder["ovf"] and
                                 not f.endswith(".mf")]
    subprocess.run(["tar", "--format=ustar", "-cf", ova] + members,
                   cwd=folder["dir"], check=True)
    key = "script/vm.ova"
    subprocess.run([ep.clis["v1"], "--endpoint-url", ep.url, "s3", "cp",
                    ova, "s3://%s/%s" % (ep.bucket, key)], env=ep.env,
                   check=True, capture_output=True)
    c = "Format=ova,UserBucket={S3Bucket=%s,S3Key=%s}" % (ep.bucket, key)
    tid = ib.cli(ep, "ec2", "import-image", "--boot-mode", "uefi",
              "--disk-containers", c)["ImportTaskId"]
    while True:
        t = ib.cli(ep, "ec2", "describe-import-image-tasks", "--import-task-ids",
                tid)["ImportImageTasks"][0]
        if t["Status"] in ("completed", "deleted"):
            break
        time.sleep(POLL)
    return time.monotonic() - t0, "%s %s" % (t["Status"], t.get("ImageId"))


def main():
    ap = ib.arguments()
    ap.add_argument("--disks", type=int, default=2)
    ap.add_argument("--disk-mb", type=int, default=64)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        folder = mkfolders.make_vsphere(os.path.join(work, "src", "vm"),
                                        ndisks=a.disks, disk_mb=a.disk_mb)
        with ib.endpoint(work, a.phase) as ep:
            rows = [("amifs: cp -r vm/ imports/ + cat wait",
                     by_amifs(ep, a.build, folder, work)),
                    ("script: tar to OVA, aws s3 cp, import-image, poll",
                     by_script(ep, folder, work))]
    ib.print_table("how (%d disks of %d MiB)" % (a.disks, a.disk_mb), rows)


if __name__ == "__main__":
    main()
