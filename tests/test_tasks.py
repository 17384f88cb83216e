"""tasks/: status files, wait, cancel, aliases across a remount, tasks
started elsewhere, and the shared poller (one DescribeImportImageTasks per
interval whatever the number of readers)."""
import json
import os
import signal
import subprocess
import time

import pytest

from shared_fixtures import (import_tasks, poll_until, read, start_mount,
                             wait_status)


@pytest.fixture
def tm(endpoint, tmp_path):
    m = start_mount(endpoint, str(tmp_path))
    yield m
    m.unmount()


def copy_in(m, images, name, as_name):
    r = subprocess.run(["cp", images[name]["path"],
                        os.path.join(m.path, "imports", as_name)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + m.log()[-2000:]


FIRST_WORDS = ("uploading", "validating", "active", "completed", "failed",
               "cancelled")


def test_status_files_while_active_and_after(tm, images):
    copy_in(tm, images, "ova-ustar", "st.ova")
    tdir = os.path.join(tm.path, "tasks", "st.ova")
    task_id = os.readlink(tdir)
    assert task_id.startswith("import-ami-")
    assert task_id in os.listdir(os.path.join(tm.path, "tasks"))
    # guest, guest.json: the guest check before ImportImage (test_guest.py)
    assert sorted(os.listdir(tdir)) == sorted(
        ["status", "status.json", "progress", "wait", "source", "guest",
         "guest.json"])
    seen = set()
    progress = []
    for _ in range(40):  # like `watch -n0.1 cat status`
        line = read(os.path.join(tdir, "status"))
        assert line.endswith("\n") and line.count("\n") == 1
        seen.add(line.split()[0])
        p = int(read(os.path.join(tdir, "progress")))
        assert 0 <= p <= 100
        progress.append(p)
        if line.startswith("completed"):
            break
        time.sleep(0.1)
    assert seen <= set(FIRST_WORDS) and "active" in seen
    assert progress == sorted(progress)  # never goes back
    # head works on a direct_io file whose size may lag
    h = subprocess.run(["head", "-c", "6", os.path.join(tdir, "status")],
                       capture_output=True, text=True)
    assert h.stdout in ("active", "comple")
    final = wait_status(tm, "st.ova")
    doc = json.loads(read(os.path.join(tdir, "status.json")))
    assert doc["ImportTaskId"] == task_id
    assert doc["Status"] == "completed" and doc["AmifsStatus"] == "completed"
    assert doc["ImageId"] == final.split()[1]
    assert doc["Upload"]["Name"] == "st.ova"
    assert doc["SnapshotDetails"][0]["UserBucket"]["S3Key"].endswith(
        "/st.ova")
    assert os.readlink(os.path.join(tdir, "ami")).endswith(final.split()[1])
    assert "diagnosis" not in os.listdir(tdir)


def test_wait_blocks_until_the_end_and_is_interruptible(tm, images):
    copy_in(tm, images, "vmdk", "w1.vmdk")
    wfile = os.path.join(tm.path, "tasks", "w1.vmdk", "wait")
    # Ctrl-C's SIGINT, with its default action even when this test runs
    # as a background job (which starts with SIGINT ignored).
    p = subprocess.Popen(["cat", wfile], stdout=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                          signal.SIG_DFL))
    time.sleep(0.5)
    assert p.poll() is None  # still waiting: the task is not over
    p.send_signal(signal.SIGINT)
    t0 = time.time()
    p.wait(timeout=5)
    assert time.time() - t0 < 3
    assert p.returncode != 0
    # a full wait returns the final status line
    start = time.time()
    out = wait_status(tm, "w1.vmdk")
    assert out.startswith("completed ami-")
    assert out == read(os.path.join(tm.path, "tasks", "w1.vmdk", "status"))
    assert time.time() - start < 30


def test_failed_task_has_a_diagnosis(tm, images):
    # route=image: with the default (auto) the snapshot route would go on
    with open(os.path.join(tm.path, "imports", "noos.vmdk.json"), "w") as f:
        f.write('{"Route": "image"}')
    copy_in(tm, images, "vmdk-no-os", "noos.vmdk")
    out = wait_status(tm, "noos.vmdk")
    assert out.startswith("failed ClientError: Unknown OS"), out
    tdir = os.path.join(tm.path, "tasks", "noos.vmdk")
    assert "diagnosis" in os.listdir(tdir)
    diag = read(os.path.join(tdir, "diagnosis"))
    assert diag.startswith("Message: ClientError: Unknown OS")
    assert "Cause: " in diag and "Fix: " in diag
    assert json.loads(read(os.path.join(tdir, "status.json")))[
        "AmifsStatus"] == "failed"


def test_rm_r_of_an_active_task_cancels_it(tm, images, endpoint):
    copy_in(tm, images, "vmdk", "cx.vmdk")
    task_id = os.readlink(os.path.join(tm.path, "tasks", "cx.vmdk"))
    r = subprocess.run(["rm", "-r", os.path.join(tm.path, "tasks", task_id)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert endpoint.requests(op="CancelImportTask")
    out = wait_status(tm, "cx.vmdk")
    assert out.startswith("cancelled "), out
    state = import_tasks(endpoint)[task_id]["Status"]
    assert state in ("deleting", "deleted")
    # a task that has ended is hidden by rmdir (doc/CONTRACT.md "Saying
    # why, continued"), no longer refused
    r = subprocess.run(["rmdir", os.path.join(tm.path, "tasks", task_id)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert task_id not in os.listdir(os.path.join(tm.path, "tasks"))


def test_task_started_with_the_aws_cli_appears(tm, images, endpoint):
    key = tm.prefix + "/cli/cli.vmdk"
    endpoint.aws("s3", "cp", images["vmdk"]["path"],
                 "s3://%s/%s" % (endpoint.bucket, key), json=False)
    out = endpoint.aws("ec2", "import-image", "--disk-containers",
                       "Format=vmdk,UserBucket={S3Bucket=%s,S3Key=%s}"
                       % (endpoint.bucket, key))
    task_id = out["ImportTaskId"]
    tasks = os.path.join(tm.path, "tasks")
    poll_until(lambda: task_id in os.listdir(tasks), timeout=15)
    src = read(os.path.join(tasks, task_id, "source"))
    assert src == "s3://%s/%s\n" % (endpoint.bucket, key)
    final = read(os.path.join(tasks, task_id, "wait"))
    assert final.startswith("completed ami-")


def test_alias_survives_a_remount(endpoint, images, tmp_path):
    m = start_mount(endpoint, str(tmp_path))
    try:
        copy_in(m, images, "vmdk", "again.vmdk")
        task_id = os.readlink(os.path.join(m.path, "tasks", "again.vmdk"))
    finally:
        m.unmount()
    m2 = start_mount(endpoint, str(tmp_path))
    try:
        link = os.path.join(m2.path, "tasks", "again.vmdk")
        assert os.readlink(link) == task_id
        assert "again.vmdk" in os.listdir(os.path.join(m2.path, "tasks"))
        assert read(os.path.join(link, "wait")).startswith("completed ami-")
    finally:
        m2.unmount()


def test_readers_share_one_poller(endpoint, images, tmp_path):
    """50 readers in 2 s cost about 2 s / interval refreshes, not 50."""
    m = start_mount(endpoint, str(tmp_path), opts="poll_interval=1")
    try:
        copy_in(m, images, "vmdk", "sh.vmdk")
        status = os.path.join(m.path, "tasks", "sh.vmdk", "status")
        mark = endpoint.mark()
        t0 = time.time()
        for _ in range(50):
            assert read(status).split()[0] in FIRST_WORDS
            time.sleep(0.04)
        elapsed = time.time() - t0
        n = len(endpoint.requests(op="DescribeImportImageTasks", since=mark))
        assert n <= elapsed / 1.0 + 2, n
    finally:
        m.unmount()


# --- audit (session 2) ---------------------------------------------------
# doc/CONTRACT.md "Errors": the diagnosis of each refusal names its real cause.
# Sentences quoting the image ("… which is not in the OVA") once matched
# the catalogue's bucket-region entry.

@pytest.mark.parametrize("name,cause", [
    ("bad-missing-disk", "references a disk that is not in the archive"),
    ("bad-absent-cdrom", "CD-ROM/floppy"),
    ("bad-chunked", "split into chunks"),
    ("bad-empty", "The file is empty"),
    ("bad-not-tar", "must be a tar archive"),
    ("bad-vhd-footer", "differencing (child) VHD"),
])
def test_diagnosis_of_each_refusal_names_its_cause(tm, images, name,
                                                   cause):
    e = images[name]
    r = subprocess.run(["cp", e["path"], os.path.join(tm.path, "imports")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr
    diag = read(os.path.join(tm.path, "tasks", e["file"], "diagnosis"))
    assert diag.startswith("Message: invalid "), diag
    assert "(%s)" % e["expect"] in diag.splitlines()[0]
    assert cause in diag.splitlines()[1], diag
    assert "region" not in diag, diag


# --- shutdown with a reader blocked in wait (session 2) ------------------
# libfuse joins every worker before it calls destroy: a `cat wait` that
# blocks on a task still converting once kept a SIGTERMed daemon (systemd
# stop, kill) alive until the task ended.

def test_sigterm_ends_the_daemon_while_a_wait_is_blocked(endpoint, tmp_path,
                                                         images):
    endpoint.set_phase_seconds(30)  # the task stays active for minutes
    m = start_mount(endpoint, str(tmp_path))
    reader = None
    try:
        copy_in(m, images, "vmdk", "term.vmdk")
        wfile = os.path.join(m.path, "tasks", "term.vmdk", "wait")
        reader = subprocess.Popen(["cat", wfile], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        assert reader.poll() is None  # blocked: the task is converting
        proc = m.proc
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        took = time.monotonic() - t0
        reader.wait(timeout=30)
        assert reader.returncode != 0  # the wait was cut short, not answered
        assert took < 10, "the daemon took %.1f s to exit" % took
    finally:
        endpoint.set_phase_seconds(0.3)
        if reader is not None and reader.poll() is None:
            reader.kill()
        if m.proc is not None and m.proc.poll() is not None:
            m.proc = None  # it exited on SIGTERM: nothing left to unmount
            subprocess.run(["fusermount3", "-u", "-z", m.path])
        m.unmount()


# --- tagging once per task, not once per mount (session 2) -----------------
# The AMI and snapshots get the task's tags when it completes; the task then
# carries amifs:ami-tagged, so a later mount neither re-tags every import
# the account ever made nor puts back a tag the user removed.

def test_a_remount_does_not_tag_the_ami_again(fresh_endpoint, images,
                                               tmp_path):
    ep = fresh_endpoint
    ep.bootstrap()
    m = start_mount(ep, str(tmp_path))
    try:
        copy_in(m, images, "vmdk", "once.vmdk")
        task_id = os.readlink(os.path.join(m.path, "tasks", "once.vmdk"))
        ami = wait_status(m, "once.vmdk").split()[1]
        poll_until(lambda: {t["Key"]: t["Value"] for t in import_tasks(ep)[
            task_id].get("Tags", [])}.get("amifs:ami-tagged") == ami,
            timeout=10)
    finally:
        m.unmount()
    # The user drops a tag amifs put on the AMI; a remount leaves it gone.
    ep.aws("ec2", "delete-tags", "--resources", ami, "--tags", "Key=Name",
           json=False)
    mark = ep.mark()
    m2 = start_mount(ep, str(tmp_path))
    try:
        assert read(os.path.join(m2.path, "tasks", "once.vmdk",
                                 "status")).startswith("completed " + ami)
        time.sleep(1.5)  # several refreshes at poll_interval=0.3
        assert ep.requests(op="CreateTags", since=mark) == []
    finally:
        m2.unmount()
    tags = ep.aws("ec2", "describe-tags", "--filters",
                  "Name=resource-id,Values=" + ami)["Tags"]
    assert "Name" not in {t["Key"] for t in tags}
