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
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "images"))
import endpoint_fixtures as ef  # noqa: E402
import mkfolders  # noqa: E402

POLL = 1.0  # what a script sleeps between describes (amifs: the same)


def cli(ep, *args):
    p = subprocess.run([ep.clis["v1"], "--endpoint-url", ep.url,
                        "--output", "json"] + list(args),
                       capture_output=True, text=True, env=ep.env,
                       timeout=600, check=True)
    return json.loads(p.stdout) if p.stdout.strip() else None


def by_amifs(ep, build, folder, work):
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    o = "endpoint=%s,bucket=%s/bench,poll_interval=%s" % (ep.url, ep.bucket,
                                                          POLL)
    d = subprocess.Popen([os.path.join(build, "fs", "amifs"), "-f", "-o", o,
                          mnt], env=ep.env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not os.path.isdir(os.path.join(mnt, "imports")):
            if time.time() > deadline:
                raise RuntimeError("amifs did not mount")
            time.sleep(0.05)
        t0 = time.monotonic()
        subprocess.run(["cp", "-r", folder["dir"],
                        os.path.join(mnt, "imports") + "/"], check=True)
        with open(os.path.join(mnt, "tasks", "vm", "wait")) as f:
            line = f.read()
        return time.monotonic() - t0, line.strip()
    finally:
        t1 = time.monotonic()
        subprocess.run(["fusermount3", "-u", mnt])
        d.wait(120)
        print("(amifs exited %.1f s after fusermount3 -u)" %
              (time.monotonic() - t1), file=sys.stderr)


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
    tid = cli(ep, "ec2", "import-image", "--boot-mode", "uefi",
              "--disk-containers", c)["ImportTaskId"]
    while True:
        t = cli(ep, "ec2", "describe-import-image-tasks", "--import-task-ids",
                tid)["ImportImageTasks"][0]
        if t["Status"] in ("completed", "deleted"):
            break
        time.sleep(POLL)
    return time.monotonic() - t0, "%s %s" % (t["Status"], t.get("ImageId"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(os.path.dirname(TESTS),
                                                    "build"))
    ap.add_argument("--phase", type=float, default=0.5)
    ap.add_argument("--disks", type=int, default=2)
    ap.add_argument("--disk-mb", type=int, default=64)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        folder = mkfolders.make_vsphere(os.path.join(work, "src", "vm"),
                                        ndisks=a.disks, disk_mb=a.disk_mb)
        os.makedirs(os.path.join(work, "ep"))
        ep = ef.Endpoint(ef.moto_python(), os.path.join(work, "ep"))
        ep.start(phase_seconds=a.phase)
        try:
            ep.bootstrap()
            rows = [("amifs: cp -r vm/ imports/ + cat wait",
                     by_amifs(ep, a.build, folder, work)),
                    ("script: tar to OVA, aws s3 cp, import-image, poll",
                     by_script(ep, folder, work))]
        finally:
            ep.stop()
    print("| how (%d disks of %d MiB) | first byte to completed | result |"
          % (a.disks, a.disk_mb))
    print("|---|---|---|")
    for name, (secs, line) in rows:
        print("| %s | %.1f s | %s |" % (name, secs, line.split()[0]))


if __name__ == "__main__":
    main()
