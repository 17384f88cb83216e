#!/usr/bin/python3
"""Bench: an image ImportImage refuses, from the first byte to `completed`.

Row 1, amifs route=auto: `cp` into imports/, then `cat tasks/NAME/wait`.
Row 2, the script a user writes today (AWS CLI v1): s3 cp, import-image,
poll until it fails, import-snapshot, poll, register-image, create-tags.
Both against one local endpoint (tests/endpoint/server.py) with the same
phase length, on the same image (mkimages' vmdk-kernel6).

    tests/bench/snaproute_bench.py [--build DIR] [--phase SECONDS]
"""
import os
import subprocess
import tempfile
import time

import importbench as ib
import mkimages  # on sys.path through importbench

POLL = 1.0  # what a script sleeps between describes (amifs: 2 s active)


def cli(ep, *args):
    return ib.cli(ep, *args, timeout=300)


def by_amifs(ep, build, image, work):
    with ib.mounted(ep, build, work, POLL) as mnt:
        t0 = time.monotonic()
        subprocess.run(["cp", image, os.path.join(mnt, "imports",
                                                  "k6.vmdk")], check=True)
        return ib.wait_task(mnt, "k6.vmdk", t0)


def wait_for(fn):
    while True:
        v = fn()
        if v:
            return v
        time.sleep(POLL)


def by_script(ep, image):
    t0 = time.monotonic()
    key = "script/k6.vmdk"
    subprocess.run([ep.clis["v1"], "--endpoint-url", ep.url, "s3", "cp",
                    image, "s3://%s/%s" % (ep.bucket, key)], env=ep.env,
                   check=True, capture_output=True)
    c = "Format=vmdk,UserBucket={S3Bucket=%s,S3Key=%s}" % (ep.bucket, key)
    tid = cli(ep, "ec2", "import-image", "--disk-containers", c)[
        "ImportTaskId"]

    def image_end():
        t = cli(ep, "ec2", "describe-import-image-tasks", "--import-task-ids",
                tid)["ImportImageTasks"][0]
        return t if t["Status"] in ("completed", "deleted") else None
    wait_for(image_end)
    sid = cli(ep, "ec2", "import-snapshot", "--disk-container", c)[
        "ImportTaskId"]

    def snap_end():
        t = cli(ep, "ec2", "describe-import-snapshot-tasks",
                "--import-task-ids", sid)["ImportSnapshotTasks"][0]
        d = t["SnapshotTaskDetail"]
        return d if d["Status"] in ("completed", "deleted") else None
    snap = wait_for(snap_end)["SnapshotId"]
    ami = cli(ep, "ec2", "register-image", "--name", "script-k6",
              "--architecture", "x86_64", "--root-device-name", "/dev/sda1",
              "--block-device-mappings",
              "DeviceName=/dev/sda1,Ebs={SnapshotId=%s}" % snap)["ImageId"]
    cli(ep, "ec2", "create-tags", "--resources", ami, snap, "--tags",
        "Key=Name,Value=k6.vmdk")
    return time.monotonic() - t0, "completed " + ami


def main():
    a = ib.arguments().parse_args()
    with tempfile.TemporaryDirectory() as work:
        imgs = os.path.join(work, "img")
        os.makedirs(imgs)
        subprocess.run(["/usr/bin/python3", mkimages.__file__, imgs,
                        "--only", "vmdk-kernel6"], check=True,
                       capture_output=True)
        image = os.path.join(imgs, "vm-kernel6.vmdk")
        with ib.endpoint(work, a.phase) as ep:
            rows = [("amifs route=auto (cp + cat wait)",
                     by_amifs(ep, a.build, image, work)),
                    ("script: ImportImage, fail, ImportSnapshot, "
                     "RegisterImage, tag", by_script(ep, image))]
    ib.print_table("how", rows)


if __name__ == "__main__":
    main()
