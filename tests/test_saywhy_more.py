"""Say why, continued (issue 14): the refusals that still gave a bare errno
now leave their sentence in MOUNT/.amifs/errors; a copy is followed under its
final name whatever the writer does; tasks/ housekeeping (rm -r of an ended
task, each task's own time, by-name/ from the file name, a second drop of a
name); doctor's and diagnosis's advice, each printed fix run and checked."""
import os
import shutil
import subprocess
import time

import pytest

from shared_fixtures import make_ami, poll_until, read, wait_status, write


def errors(m):
    return read(os.path.join(m.path, ".amifs", "errors"))


def last_error(m, needle):
    lines = [x for x in errors(m).splitlines() if needle in x]
    assert lines, errors(m)
    return lines[-1]


def no_upload_started(ep, mark):
    assert not ep.requests("CreateMultipartUpload", since=mark)
    assert not ep.requests("PutObject", since=mark)
    assert not ep.requests("ImportImage", since=mark)


# ---- refusals with their sentence (item 7) ---------------------------------

def test_sidecar_unknown_key_fails_its_own_close(mount):
    name = "sc-%d.ova.json" % os.getpid()
    p = os.path.join(mount.path, "imports", name)
    r = subprocess.run(["sh", "-c", "echo '{\"Bootmode\":\"uefi\"}' > " + p],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, r.stderr  # the shell saw its write() fail
    line = last_error(mount, name)
    assert " write: Invalid argument: " in line, line
    assert 'unknown key "Bootmode" (did you mean "BootMode"?)' in line, line
    # the refused sidecar is gone: it cannot silently apply (or not)
    assert name not in os.listdir(os.path.join(mount.path, "imports"))


def test_sidecar_wrong_type_says_which_type(mount):
    name = "sc2-%d.vmdk.json" % os.getpid()
    p = os.path.join(mount.path, "imports", name)
    with pytest.raises(OSError):
        write(p, '{"Encrypted": "yes"}')
    assert '"Encrypted" has the wrong type (true or false)' in \
        last_error(mount, name)


def test_over_long_name_fails_at_create_with_the_reason(mount):
    """A name longer than S3 and AWS take is refused at create(), not cut
    (a cut name lost its .ova and waited for a rename forever)."""
    ep = mount.endpoint
    mark = ep.mark()
    imports = os.path.join(mount.path, "imports")
    for n in (1104, 256):
        stem = "L%d-" % os.getpid()
        name = stem + "x" * (n - len(stem) - 4) + ".ova"
        assert len(name.encode()) == n
        r = subprocess.run(["cp", "/etc/hostname", os.path.join(imports,
                                                                name)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert "File name too long" in r.stderr, r.stderr
    assert not [x for x in os.listdir(imports) if x.startswith("L%d-"
                                                              % os.getpid())]
    line = last_error(mount, "L%d-" % os.getpid())
    assert "create: File name too long: " in line, line
    assert "the name is 256 bytes" in line and "at most 255" in line, line
    assert "the name is 1104 bytes" in errors(mount), errors(mount)
    no_upload_started(ep, mark)


def test_launch_permissions_bad_account_says_why(endpoint, images,
                                                  mount_factory):
    ami, _ = make_ami(endpoint, images["vmdk"]["path"],
                      "perm-%d" % os.getpid())
    m = mount_factory("cache_ttl=0")
    f = os.path.join(m.path, "amis", ami, "launch-permissions")
    with pytest.raises(OSError):
        write(f, "12345\n")
    line = last_error(m, ami + "/launch-permissions")
    assert "write: Invalid argument: '12345' is not an account id " \
        "(12 digits) or 'all'" in line, line


def amifs_wait(m, name, timeout=120):
    from mount_fixtures import amifs_binary
    return subprocess.run([amifs_binary(), "wait",
                           os.path.join(m.path, "tasks", name)],
                          capture_output=True, text=True, timeout=timeout)


def task_tags(ep, tid):
    t = ep.aws("ec2", "describe-import-image-tasks", "--import-task-ids",
               tid)["ImportImageTasks"][0]
    return {x["Key"]: x["Value"] for x in t.get("Tags", [])}


# ---- tasks/ housekeeping (items 2-5) ----------------------------------------

def test_a_name_imported_twice_times_by_name_and_rm_r_hides(
        endpoint, images, mount_factory):
    """One file dropped twice: each task's own start time in ls -l tasks/,
    by-name/ under the file's name (the newest AMI), the second drop warns
    in its status, and rm -r of the ended tasks hides them in this mount
    and the next one (the amifs:hidden tag)."""
    ep = endpoint
    name = "twice-%d.vmdk" % os.getpid()
    m = mount_factory("poll_interval=0.5,cache_ttl=0")
    tasks = os.path.join(m.path, "tasks")
    time.sleep(2.1)                    # the mount time is now in the past
    amis, tids, starts = [], [], []
    for round_ in range(2):
        t0 = int(time.time())
        shutil.copyfile(images["vmdk"]["path"],
                        os.path.join(m.path, "imports", name))
        r = amifs_wait(m, name)
        assert r.returncode == 0 and r.stdout.startswith("completed ami-"), \
            (r.stdout, r.stderr)
        amis.append(r.stdout.split()[1])
        tids.append(os.readlink(os.path.join(tasks, name)))
        for p in (os.path.join(tasks, name), os.path.join(tasks, tids[-1]),
                  os.path.join(tasks, tids[-1], "status")):
            st = os.lstat(p)
            assert t0 - 1 <= st.st_mtime <= t0 + 2, (p, st.st_mtime, t0)
        starts.append(os.stat(os.path.join(tasks, tids[-1])).st_mtime)
        if round_ == 0:
            # by-name/ names the AMI after the file (its Name tag)
            link = os.path.join(m.path, "amis", "by-name", name)
            poll_until(lambda: os.path.islink(link))
            assert os.readlink(link) == "../" + amis[0]
            time.sleep(1.1)            # the second task starts later
    assert starts[0] < starts[1]
    status = read(os.path.join(tasks, name, "status"))
    assert status.startswith("completed " + amis[1]), status
    assert ("warning: %s was already imported from this name" % amis[0]) \
        in status, status
    assert "warning" not in read(os.path.join(tasks, tids[0], "status"))
    link = os.path.join(m.path, "amis", "by-name", name)
    poll_until(lambda: os.readlink(link) == "../" + amis[1])

    # rm -r of ended tasks: 0, and gone from the listing
    subprocess.run(["rm", "-r", os.path.join(tasks, tids[0])], check=True,
                   timeout=30)
    assert tids[0] not in os.listdir(tasks)
    assert "warning" not in read(os.path.join(tasks, name, "status"))
    subprocess.run(["rm", "-r", os.path.join(tasks, name)], check=True,
                   timeout=30)
    listing = os.listdir(tasks)
    assert name not in listing and tids[1] not in listing, listing
    assert "amifs:hidden" in task_tags(ep, tids[0])
    assert "amifs:hidden" in task_tags(ep, tids[1])
    # the AMIs stay: hiding a task is not deregistering its AMI
    assert amis[1] in os.listdir(os.path.join(m.path, "amis"))
    m.unmount()
    m2 = mount_factory("poll_interval=0.5")
    listing = os.listdir(os.path.join(m2.path, "tasks"))
    assert not {name, tids[0], tids[1]} & set(listing), listing


def test_active_name_busy_then_cancelled_then_hidden(endpoint, images,
                                                      mount):
    """Copying a name whose import is active says why (EACCES + sentence);
    rm -r cancels it; rm -r of the cancelled task hides it (was EPERM). A
    failed upload (no task) is forgotten by rm -r too."""
    ep = endpoint
    name = "busy-%d.vmdk" % os.getpid()
    dst = os.path.join(mount.path, "imports", name)
    old = ep.set_phase_seconds(30)
    try:
        shutil.copyfile(images["vmdk"]["path"], dst)
    finally:
        ep.set_phase_seconds(old)
    r = subprocess.run(["cp", images["vmdk"]["path"], dst],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr
    line = last_error(mount, "imports/" + name)
    assert "open: Permission denied: the import of this name is still " \
        "active" in line and "amifs wait" in line, line
    task = os.path.join(mount.path, "tasks", name)
    tid = os.readlink(task)
    subprocess.run(["rm", "-r", task], check=True, timeout=30)   # cancels
    poll_until(lambda: read(os.path.join(mount.path, "tasks", tid,
                                         "status")).startswith("cancelled"))
    r = subprocess.run(["rm", "-r", os.path.join(mount.path, "tasks", tid)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert tid not in os.listdir(os.path.join(mount.path, "tasks"))
    # a copy the validator refused has no task: rm -r forgets it
    bad = "junk-%d.ova" % os.getpid()
    with pytest.raises(OSError):
        write(os.path.join(mount.path, "imports", bad), "not an ova\n" * 99)
    assert read(os.path.join(mount.path, "tasks", bad, "status")) \
        .startswith("failed")
    subprocess.run(["rm", "-r", os.path.join(mount.path, "tasks", bad)],
                   check=True, timeout=30)
    assert bad not in os.listdir(os.path.join(mount.path, "tasks"))


# ---- following a copy by its final name (item 1) ---------------------------

def test_rsync_is_followed_under_the_final_name_from_the_first_byte(
        endpoint, images, mount, tmp_path):
    """rsync writes .NAME.XXXXXX, then renames it: tasks/NAME is there (and
    listed) while rsync still writes, and is the same upload after."""
    if not shutil.which("rsync"):
        pytest.skip("rsync not installed (tests/setup-debian.sh)")
    ep = endpoint
    name = "rs-%d.ova" % os.getpid()
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(images["ova-ustar"]["path"], str(src / name))
    status = os.path.join(mount.path, "tasks", name, "status")
    ep.set_faults([{"service": "s3", "op": "UploadPart", "action": "delay",
                    "delay_ms": 4000, "count": 1}])
    try:
        p = subprocess.Popen(["rsync", str(src / name),
                              os.path.join(mount.path, "imports") + "/"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        seen = poll_until(lambda: os.path.exists(status) and read(status),
                          timeout=30, step=0.05)
        during = p.poll() is None
        listed = name in os.listdir(os.path.join(mount.path, "tasks"))
        out, err = p.communicate(timeout=120)
    finally:
        ep.clear_faults()
    assert p.returncode == 0, err
    assert during, "rsync ended before tasks/%s answered" % name
    assert seen.split()[0] in ("uploading", "validating"), seen
    assert listed
    final = wait_status(mount, name)
    assert final.startswith("completed ami-"), final



# ---- doctor's and diagnosis's advice (item 6) -------------------------------

def amifs_cli(ep, *args, env=None):
    from mount_fixtures import amifs_binary
    return subprocess.run([amifs_binary()] + list(args), capture_output=True,
                          text=True, env=env or ep.env, timeout=120)


def test_doctor_with_the_endpoint_down_does_not_blame_the_keys(endpoint):
    p = amifs_cli(endpoint, "doctor", "--endpoint", "http://127.0.0.1:9",
                  "--region", endpoint.region, "--bucket", endpoint.bucket)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "error: cannot reach AWS (STS in %s)" % endpoint.region \
        in p.stdout, p.stdout
    assert "--endpoint http://127.0.0.1:9 (is it up?)" in p.stdout
    assert "AWS_ACCESS_KEY_ID" not in p.stdout, p.stdout


def test_doctor_without_a_region_says_which_default_it_used(endpoint,
                                                             tmp_path):
    env = {k: v for k, v in endpoint.env.items()
           if k not in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE")}
    (tmp_path / "config").write_text("")
    env.update(AWS_CONFIG_FILE=str(tmp_path / "config"),
               AWS_EC2_METADATA_DISABLED="true")
    p = amifs_cli(endpoint, "doctor", "--endpoint", endpoint.url,
                  "--bucket", endpoint.bucket, env=env)
    assert "warning: region 'us-east-1' is a default: no --region, " \
        "AWS_REGION, AWS_DEFAULT_REGION or profile region is set" \
        in p.stdout, p.stdout
    assert "ok: region" not in p.stdout


def test_every_fix_command_a_diagnosis_prints_works(endpoint, images,
                                                    mount_factory):
    """A missing role: the diagnosis prints `amifs doctor …` and `amifs
    setup … --bucket B --yes` for this mount; each runs as printed (against
    the local endpoint), doctor then passes, and the import then works."""
    import re
    import shlex
    from mount_fixtures import amifs_binary
    ep = endpoint
    role = "missing-role-%d" % os.getpid()
    m = mount_factory("role=%s,poll_interval=0.5" % role)
    name = "norole-%d.vmdk" % os.getpid()
    with pytest.raises(OSError):
        shutil.copyfile(images["vmdk"]["path"],
                        os.path.join(m.path, "imports", name))
    diag = read(os.path.join(m.path, "tasks", name, "diagnosis"))
    assert "does not exist or does not have sufficient permissions" in diag
    cmds = re.findall(r"`(amifs [^`]*)`", diag)
    assert [c.split()[1] for c in cmds] == ["doctor", "setup"], diag
    for c in cmds:
        assert "--bucket %s" % ep.bucket in c and "--role %s" % role in c \
            and "--endpoint %s" % ep.url in c and "--region us-east-1" in c, c
    for doc in re.findall(r"doc/[\w./-]+\.md", diag):   # only our own docs
        assert os.path.exists(os.path.join(os.path.dirname(__file__), "..",
                                           doc)), doc
    run = [[amifs_binary()] + shlex.split(c)[1:] for c in cmds]
    before = subprocess.run(run[0], capture_output=True, text=True,
                            env=ep.env, timeout=120)
    assert before.returncode == 1 and ("role '%s' does not exist" % role) \
        in before.stdout, before.stdout
    setup = subprocess.run(run[1], capture_output=True, text=True,
                           env=ep.env, timeout=120)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    after = subprocess.run(run[0], capture_output=True, text=True,
                           env=ep.env, timeout=120)
    assert after.returncode == 0, after.stdout
    shutil.copyfile(images["vmdk"]["path"],
                    os.path.join(m.path, "imports", name))
    assert wait_status(m, name).startswith("completed ami-")
