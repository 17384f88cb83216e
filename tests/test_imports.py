"""imports/: copying VM images into a real mount against the local endpoint.

Good images (tests/images/mkimages.py) must end `completed` with an AMI whose
tags include Name (checked with the AWS CLI); bad ones must fail the copy
early with EINVAL, a precise status, no ImportImage call and no multipart
upload left. Real clients (cp -p, rsync, gio, .part + mv, shell
redirection, install, dd) must work. Shared helpers: tests/shared_fixtures.py.
"""
import errno
import json
import os
import shutil
import subprocess

import pytest

from shared_fixtures import (cp, full_run, import_tasks, kill_dead_mount,
                             mount_at, poll_until, read, start_mount,
                             uploads_left, wait_status)


# ---- helpers ----------------------------------------------------------------

def tags_of(endpoint, *resources):
    """{resource: {key: value}} with one DescribeTags call."""
    out = endpoint.aws("ec2", "describe-tags", "--filters",
                       "Name=resource-id,Values=" + ",".join(resources))
    res = {r: {} for r in resources}
    for t in out["Tags"]:
        res.setdefault(t["ResourceId"], {})[t["Key"]] = t["Value"]
    return res


# ---- fixtures -------------------------------------------------------------

GOOD = ["ova-ustar", "ova-pax", "ova-gnu", "ova-bsdtar", "ova-2disks",
        "ova-mf-sha1", "ova-mf-sha256", "ova-mf-last", "ova-mf-last-sha1",
        "ova-big", "ova-efi", "vmdk", "vhd", "vhd-fixed", "vhdx", "raw",
        "raw-gpt", "img", "raw-efi"]
# Variants of an image kind whose own differences are the validator's
# (tar dialect, manifest digest, VHD subtype, partition table, the .img
# name): tests/test_inspect.py checks each of them through the same
# streaming validator, so the default run imports one of each kind through
# a mount and --full all of them.
GOOD_FULL = {"ova-pax", "ova-gnu", "ova-bsdtar", "ova-mf-sha256",
             "ova-mf-last-sha1", "vhd-fixed", "raw-gpt", "img"}
# Two mounts, each importing half of the images; each half is an xdist
# group of its own (imports-good-a, -b), so two workers share what was the
# longest chain of the run (tests/parallel_fixtures.py). Balanced by kind.
HALVES = {"a": ["ova-ustar", "ova-mf-sha1", "ova-efi", "vhd", "raw",
                "ova-pax", "ova-bsdtar", "vhd-fixed", "img",
                "ova-mf-last-sha1"],
          "b": ["ova-2disks", "ova-mf-last", "ova-big", "vmdk", "vhdx",
                "raw-efi",
                "ova-gnu", "ova-mf-sha256", "raw-gpt"]}
assert sorted(HALVES["a"] + HALVES["b"]) == sorted(GOOD)
BAD = ["bad-not-tar", "bad-empty", "bad-empty-vmdk", "bad-ovf-not-first",
       "bad-xml", "bad-xml-entities", "bad-missing-disk", "bad-absent-cdrom",
       "bad-manifest", "bad-manifest-last", "bad-big-truncated",
       "bad-big-no-eos", "bad-path-dotdot",
       "bad-path-absolute", "bad-chunked", "bad-truncated",
       "bad-too-many-disks", "bad-ova-sparse", "bad-qcow2-as-vmdk",
       "bad-vmdk-sparse", "bad-raw-no-table", "bad-vhd-footer",
       "bad-vhdx-sig", "bad-tar-sparse", "bad-pax-sparse",
       "bad-vmdk-truncated", "bad-vhd-truncated"]


# Refused only once stored: a manifest at the end of the OVA whose digest
# is wrong (members before a manifest are checked by reading them back).
READ_BACK = {"bad-manifest-last"}


def staged_objects(endpoint, prefix):
    out = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                       endpoint.bucket, "--prefix", prefix)
    return [o["Key"] for o in out.get("Contents", [])]


def half_of(name):
    return "a" if name in HALVES["a"] else "b"


def in_half(half, value=None, full=False):
    """A parameter (value, default half) run in half's xdist group."""
    marks = [pytest.mark.xdist_group("imports-good-" + half)]
    return pytest.param(half if value is None else value, id=value or half,
                        marks=marks + ([pytest.mark.full] if full else []))


@pytest.fixture(scope="module")
def good_runs(endpoint, images, tmp_path_factory):
    """good_runs(HALF): that half's mount, made on first use, with each
    good image of the half that this run tests copied in (imports run in
    parallel on the endpoint): (mount, {name: CompletedProcess of cp})."""
    images.all()        # built in one mkimages run, before the mounts
    runs = {}

    def get(half):
        if half not in runs:
            m = start_mount(endpoint, str(tmp_path_factory.mktemp("mnt")))
            m.mark = endpoint.mark()
            runs[half] = (m, {})
            for name in HALVES[half]:
                if full_run() or name not in GOOD_FULL:
                    runs[half][1][name] = cp(images[name]["path"],
                                             os.path.join(m.path, "imports"))
        return runs[half]
    try:
        yield get
    finally:
        for m, _ in runs.values():
            m.unmount()


# ---- good images ----------------------------------------------------------

@pytest.mark.parametrize("name", [in_half(half_of(n), n, n in GOOD_FULL)
                                  for n in GOOD])
def test_good_image_ends_completed_with_tagged_ami(endpoint, images,
                                                   good_runs, name):
    m, results = good_runs(half_of(name))
    fname = images[name]["file"]
    r = results[name]
    assert r.returncode == 0, "cp failed: %s\n%s" % (r.stderr, m.log()[-3000:])
    final = wait_status(m, fname)
    assert final.startswith("completed ami-"), final
    ami = final.split()[1]
    tdir = os.path.join(m.path, "tasks", fname)
    assert os.readlink(os.path.join(tdir, "ami")) == "../../amis/" + ami
    assert read(os.path.join(tdir, "progress")) == "100\n"
    src = read(os.path.join(tdir, "source")).splitlines()
    assert src[0].startswith("s3://%s/%s/" % (endpoint.bucket, m.prefix))
    assert src[0].endswith("/" + fname) and src[1] == fname
    # amifs tags the AMI and every snapshot on the first refresh that sees
    # the task completed, then marks the task (amifs:ami-tagged), so no
    # later mount tags them again: wait for the mark on the endpoint's
    # control API (no CLI start-up per poll), then check it all with the CLI.
    task_id = os.readlink(tdir)
    poll_until(lambda: endpoint.tasks(task_id)[0]["tags"].get(
        "amifs:ami-tagged") == ami, timeout=10)
    # The task carries Name and the alias tag (it survives a remount).
    task = import_tasks(endpoint)[task_id]
    ttags = {t["Key"]: t["Value"] for t in task.get("Tags", [])}
    assert ttags["Name"] == fname and ttags["amifs:name"] == fname
    assert ttags["amifs:ami-tagged"] == ami
    assert fname in task["Description"]
    # The AMI and every snapshot got the tags (before the mark).
    img = endpoint.aws("ec2", "describe-images", "--image-ids",
                       ami)["Images"][0]
    snaps = [b["Ebs"]["SnapshotId"] for b in img["BlockDeviceMappings"]
             if "Ebs" in b]
    assert snaps
    tagged = tags_of(endpoint, ami, *snaps)
    assert all(v.get("Name") == fname for v in tagged.values()), tagged
    assert all(v["amifs:name"] == fname for v in tagged.values())
    assert all("amifs:ami-tagged" not in v for v in tagged.values())
    # Once the task has ended the file leaves imports/.
    poll_until(lambda: fname not in os.listdir(
        os.path.join(m.path, "imports")), timeout=10)


@pytest.mark.parametrize("half", [in_half(h) for h in sorted(HALVES)])
def test_import_image_used_a_client_token(endpoint, good_runs, half):
    m, results = good_runs(half)
    reqs = endpoint.requests(op="ImportImage", since=m.mark)
    assert len(reqs) >= len([r for r in results.values()
                             if r.returncode == 0])
    tokens = [r.get("client_token") for r in reqs]
    assert all(tokens) and len(set(tokens)) == len(tokens), tokens


@pytest.mark.parametrize("half", [in_half(half_of("ova-efi"))])
def test_efi_image_imports_with_uefi_boot_mode(endpoint, images, good_runs,
                                               half):
    m, results = good_runs(half)
    fname = images["ova-efi"]["file"]
    tdir = os.path.join(m.path, "tasks", fname)
    wait_status(m, fname)
    task = import_tasks(endpoint)[os.readlink(tdir)]
    assert task.get("BootMode") == "uefi"


# ---- bad images -----------------------------------------------------------

@pytest.fixture(scope="module")
def bad_mount(endpoint, tmp_path_factory):
    m = start_mount(endpoint, str(tmp_path_factory.mktemp("badmnt")))
    yield m
    m.unmount()


@pytest.mark.parametrize("name", BAD)
def test_bad_image_fails_early_and_cleanly(endpoint, images, bad_mount,
                                           name):
    m = bad_mount
    e = images[name]
    mark = endpoint.mark()
    r = cp(e["path"], os.path.join(m.path, "imports"))
    if e["expect"] != "empty":
        assert r.returncode != 0
        assert "Invalid argument" in r.stderr, r.stderr
    # else: cp writes nothing, so no write() or flush can fail; the refusal
    # happens at release, which reports to nobody: the status has it.
    sfile = os.path.join(m.path, "tasks", e["file"], "status")
    status = poll_until(lambda: (lambda s: s if s.startswith("failed")
                                 else None)(read(sfile)), timeout=10)
    assert status.startswith("failed invalid %s: " % e["kind"]), status
    assert "(%s)" % e["expect"] in status, status
    diag = read(os.path.join(m.path, "tasks", e["file"], "diagnosis"))
    assert "Cause: " in diag and "Fix: " in diag
    assert endpoint.requests(op="ImportImage", since=mark) == []
    assert uploads_left(endpoint, m.prefix) == []
    done = [r for r in endpoint.requests(since=mark)
            if r.get("op") in ("PutObject", "CompleteMultipartUpload")]
    if name in READ_BACK:
        # the disks passed before the manifest unhashed: they were read
        # back from the stored object (one PUT, or a multipart upload
        # completed), which is then deleted
        assert len(done) == 1, done
        assert endpoint.requests(op="GetObject", since=mark)
        assert endpoint.requests(op="DeleteObject", since=mark)
        assert [k for k in staged_objects(endpoint, m.prefix)
                if k.endswith("/" + e["file"])] == []
    else:
        # nothing was completed or PUT for it (the endpoint's log)
        assert done == [], done
    assert e["file"] not in os.listdir(os.path.join(m.path, "imports"))


def test_killed_while_the_validator_skips_a_big_disk(endpoint, images,
                                                     tmp_path):
    """ova-big's disk is skipped by the validator after its head (nothing
    to learn from its middle, no manifest). The test writes the first
    10 MiB itself, waits for the first 8 MiB part to be stored and SIGKILLs
    the daemon with the descriptor open: inside the skipped part of the
    disk. No ImportImage; copying again after a remount (which continues
    the kept upload, doc/design/resume.md) validates the whole OVA again,
    imports once and leaves no upload."""
    e = images["ova-big"]
    m = start_mount(endpoint, str(tmp_path))
    mark = endpoint.mark()
    with open(e["path"], "rb") as f:
        head = f.read(10 << 20)
    fd = os.open(os.path.join(m.path, "imports", e["file"]),
                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, head)
        assert poll_until(lambda: endpoint.requests(op="UploadPart",
                                                    since=mark), timeout=30)
        kill_dead_mount(m)
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    assert endpoint.requests(op="ImportImage", since=mark) == []
    assert endpoint.requests(op="CompleteMultipartUpload", since=mark) == []
    m2 = mount_at(endpoint, str(tmp_path), m.opts)  # the same staging
    try:
        r = cp(e["path"], os.path.join(m2.path, "imports"))
        assert r.returncode == 0, r.stderr + m2.log()[-3000:]
        assert len(endpoint.requests(op="ImportImage", since=mark)) == 1
        assert uploads_left(endpoint, m.prefix) == []
    finally:
        m2.unmount()


def test_refusal_comes_before_the_end_of_a_big_copy(endpoint, images,
                                                    bad_mount, tmp_path):
    """An OVA whose first member is not the OVF, followed by 40 MiB: the
    write that revealed it fails, long before close; nothing is left."""
    m = bad_mount
    big = str(tmp_path / "late.ova")
    with open(images["bad-ovf-not-first"]["path"], "rb") as f:
        head = f.read()
    with open(big, "wb") as f:
        f.write(head)
        f.write(b"\0" * (40 << 20))
    dst = os.path.join(m.path, "imports", "late.ova")
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    written, err = 0, None
    try:
        with open(big, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                try:
                    written += os.write(fd, chunk)
                except OSError as ex:
                    err = ex.errno
                    break
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    assert err == errno.EINVAL
    assert written < (8 << 20)
    assert uploads_left(endpoint, m.prefix) == []


# ---- a task the endpoint fails --------------------------------------------

def test_image_without_os_fails_with_diagnosis(endpoint, images, bad_mount):
    m = bad_mount
    e = images["vmdk-no-os"]
    # route=image: with the default (auto) the snapshot route would go on
    with open(os.path.join(m.path, "imports", e["file"] + ".json"), "w") as f:
        f.write('{"Route": "image"}')
    r = cp(e["path"], os.path.join(m.path, "imports"))
    assert r.returncode == 0, r.stderr  # valid image: the import starts
    final = wait_status(m, e["file"])
    assert final == "failed ClientError: Unknown OS / Missing OS files.\n"
    diag = read(os.path.join(m.path, "tasks", e["file"], "diagnosis"))
    assert "Unknown OS / Missing OS files." in diag
    assert "ImportSnapshot" in diag  # the usual fix
    assert not os.path.lexists(os.path.join(m.path, "tasks", e["file"],
                                            "ami"))


# ---- client patterns ------------------------------------------------------

@pytest.fixture
def imp(endpoint, tmp_path):
    m = start_mount(endpoint, str(tmp_path))
    yield m
    m.unmount()


def assert_started(m, name):
    st = read(os.path.join(m.path, "tasks", name, "status"))
    assert st.split()[0] in ("active", "completed"), st
    assert os.path.islink(os.path.join(m.path, "tasks", name))


def test_cp_p_and_install(imp, images):
    src = images["vmdk"]["path"]
    r = cp(src, os.path.join(imp.path, "imports", "p.vmdk"), "-p")
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["install", "-m", "644", src,
                        os.path.join(imp.path, "imports", "i.vmdk")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for n in ("p.vmdk", "i.vmdk"):
        assert_started(imp, n)
    # metadata calls succeed after close, also once the import started
    p = os.path.join(imp.path, "imports", "p.vmdk")
    os.chmod(p, 0o644)
    os.utime(p, (1, 1))


def test_rsync_temp_name_then_rename(imp, images, tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    shutil.copy(images["ova-ustar"]["path"], str(d / "rs.ova"))
    r = subprocess.run(["rsync", "-a", str(d / "rs.ova"),
                        os.path.join(imp.path, "imports") + "/"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert_started(imp, "rs.ova")
    assert wait_status(imp, "rs.ova").startswith("completed ami-")


def test_part_file_renamed_to_final_name(imp, images):
    part = os.path.join(imp.path, "imports", "k.ova.part")
    r = cp(images["ova-ustar"]["path"], part)
    assert r.returncode == 0, r.stderr
    # staged, complete, waiting for its final name; stays readable
    st = read(os.path.join(imp.path, "tasks", "k.ova.part", "status"))
    assert st.startswith("uploading ") and "waiting for a rename" in st
    with open(part, "rb") as f, open(images["ova-ustar"]["path"], "rb") as g:
        assert f.read() == g.read()
    os.chmod(part, 0o600)
    os.rename(part, os.path.join(imp.path, "imports", "k.ova"))
    assert_started(imp, "k.ova")


def test_temp_name_whose_content_is_another_kind(imp, images):
    """A fixed VHD looks like a raw disk until its name says .vhd: the
    staged object is re-validated as VHD at the rename."""
    part = os.path.join(imp.path, "imports", ".vm-fixed.vhd.XYZ123")
    r = cp(images["vhd-fixed"]["path"], part)
    assert r.returncode == 0, r.stderr
    os.rename(part, os.path.join(imp.path, "imports", "fx.vhd"))
    assert_started(imp, "fx.vhd")


def test_shell_redirection_and_dd(imp, images):
    src = images["vmdk"]["path"]
    dst = os.path.join(imp.path, "imports", "sh.vmdk")
    r = subprocess.run(["sh", "-c", 'cat "$1" > "$2"', "sh", src, dst],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert_started(imp, "sh.vmdk")
    dst = os.path.join(imp.path, "imports", "dd.vmdk")
    r = subprocess.run(["dd", "if=" + src, "of=" + dst, "bs=64k"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert_started(imp, "dd.vmdk")


def test_gio_copy(imp, images):
    if not shutil.which("gio"):
        pytest.skip("gio not installed")
    r = subprocess.run(["gio", "copy", images["vmdk"]["path"],
                        os.path.join(imp.path, "imports", "g.vmdk")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert_started(imp, "g.vmdk")


def test_imported_file_is_read_only_and_reads_the_staged_object(imp,
                                                                 images):
    src = images["vmdk"]["path"]
    dst = os.path.join(imp.path, "imports", "ro.vmdk")
    assert cp(src, dst).returncode == 0
    st = os.stat(dst)
    assert st.st_size == os.path.getsize(src)
    assert not st.st_mode & 0o222
    with open(dst, "rb") as f, open(src, "rb") as g:
        assert f.read() == g.read()
    with pytest.raises(OSError) as ex:
        open(dst, "r+b")
    assert ex.value.errno in (errno.EACCES, errno.EBUSY, errno.EPERM)


# ---- parameters -----------------------------------------------------------

def test_xattrs_and_sidecar_set_import_parameters(imp, images, endpoint):
    side = os.path.join(imp.path, "imports", "px.vmdk.json")
    with open(side, "w") as f:
        json.dump({"Description": "web server", "Platform": "Linux",
                   "Tags": {"Owner": "ops", "Team": "infra"}}, f)
    assert json.loads(read(side))["Description"] == "web server"
    dst = os.path.join(imp.path, "imports", "px.vmdk")
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        # xattrs beat the sidecar; set before the first write
        os.setxattr(dst, "user.amifs.tag.Owner", b"alice")
        os.setxattr(dst, "user.amifs.boot_mode", b"legacy-bios")
        assert os.getxattr(dst, "user.amifs.tag.Owner") == b"alice"
        with pytest.raises(OSError) as ex:
            os.setxattr(dst, "user.other", b"x")
        assert ex.value.errno == errno.ENOTSUP
        with open(images["vmdk"]["path"], "rb") as f:
            os.write(fd, f.read())
    finally:
        os.close(fd)
    final = wait_status(imp, "px.vmdk")
    assert final.startswith("completed ami-"), final
    task = import_tasks(endpoint)[os.readlink(
        os.path.join(imp.path, "tasks", "px.vmdk"))]
    tags = {t["Key"]: t["Value"] for t in task["Tags"]}
    assert tags["Owner"] == "alice" and tags["Team"] == "infra"
    assert tags["Name"] == "px.vmdk"
    assert task["Description"] == "web server"
    assert task.get("BootMode") == "legacy-bios"
    ami = final.split()[1]
    poll_until(lambda: tags_of(endpoint, ami)[ami].get("Team") == "infra",
               timeout=10)


def test_bad_sidecar_fails_its_close(imp):
    p = subprocess.run(["cp", "/dev/stdin",
                        os.path.join(imp.path, "imports", "b.ova.json")],
                       input="not json", capture_output=True, text=True)
    assert p.returncode != 0 and "Invalid argument" in p.stderr


# ---- rm of an upload in flight --------------------------------------------

def test_rm_of_an_upload_in_flight_aborts_it(imp, images, endpoint):
    dst = os.path.join(imp.path, "imports", "fl.raw")
    with open(images["raw"]["path"], "rb") as f:
        data = f.read()
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data[:12 << 20])  # more than a part: the MPU exists
        assert os.stat(dst).st_size == 12 << 20  # ls -l shows the size
        st = read(os.path.join(imp.path, "tasks", "fl.raw", "status"))
        assert st.startswith("uploading 12.0 MiB received, "), st
        doc = json.loads(read(os.path.join(imp.path, "tasks", "fl.raw",
                                           "status.json")))
        assert doc["Upload"]["Phase"] == "writing"
        assert doc["Upload"]["BytesReceived"] == 12 << 20
        os.unlink(dst)
        with pytest.raises(OSError):
            os.write(fd, data[12 << 20:])
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    st = read(os.path.join(imp.path, "tasks", "fl.raw", "status"))
    assert st.startswith("cancelled "), st
    assert uploads_left(endpoint, imp.prefix) == []
    assert "fl.raw" not in os.listdir(os.path.join(imp.path, "imports"))


# ---- ImportImage refusing, cleanup ----------------------------------------

def test_import_image_refusal_fails_the_close(endpoint, images, tmp_path):
    m = start_mount(endpoint, str(tmp_path), opts="role=no-such-role")
    try:
        r = cp(images["vmdk"]["path"],
               os.path.join(m.path, "imports", "norole.vmdk"))
        assert r.returncode != 0 and "failed to close" in r.stderr, r.stderr
        st = read(os.path.join(m.path, "tasks", "norole.vmdk", "status"))
        assert st.startswith("failed ImportImage refused: InvalidParameter"), st
        assert "does not exist or does not have sufficient" in st
        diag = read(os.path.join(m.path, "tasks", "norole.vmdk",
                                 "diagnosis"))
        assert "amifs doctor" in diag
        assert "norole.vmdk" not in os.listdir(os.path.join(m.path,
                                                            "imports"))
    finally:
        m.unmount()


def test_cleanup_deletes_the_staged_object_after_success(endpoint, images,
                                                         tmp_path):
    m = start_mount(endpoint, str(tmp_path), opts="cleanup")
    try:
        assert cp(images["vmdk"]["path"],
                  os.path.join(m.path, "imports", "cl.vmdk")).returncode == 0
        tdir = os.path.join(m.path, "tasks", "cl.vmdk")
        url = read(os.path.join(tdir, "source")).splitlines()[0]
        key = url.split("/", 3)[3]
        assert wait_status(m, "cl.vmdk").startswith("completed ami-")

        def gone():
            out = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                               endpoint.bucket, "--prefix", key)
            return not (out or {}).get("Contents")
        poll_until(gone, timeout=10)
    finally:
        m.unmount()


# --- audit (session 2) ---------------------------------------------------
# doc/CONTRACT.md "imports/" and doc/CONTRACT.md "Real clients" checked against a live mount: empty
# files, touch, mktemp-style temporaries, a writer whose children close
# the fd first.

def s3_writes_under(endpoint, mark, prefix):
    """S3 requests since `mark` that touched keys under `prefix`/."""
    return [r for r in endpoint.requests(since=mark)
            if r.get("service") == "s3" and ("/%s/" % prefix) in
            (r.get("path") or "") and r.get("method") != "GET"]


def test_cp_of_an_empty_image_fails_and_leaves_nothing(imp, endpoint,
                                                       tmp_path):
    src = tmp_path / "empty.ova"
    src.write_bytes(b"")
    mark = endpoint.mark()
    r = cp(str(src), os.path.join(imp.path, "imports"))
    assert r.returncode != 0, "cp of an empty image succeeded"
    assert "failed to close" in r.stderr and "Invalid argument" in r.stderr, \
        r.stderr
    # close() answers EINVAL at the flush; the refusal is recorded by the
    # release that follows it, asynchronously (fs/imports.c imp_flush).
    status = os.path.join(imp.path, "tasks", "empty.ova", "status")
    poll_until(lambda: read(status).startswith("failed"), timeout=15)
    st = read(status)
    assert st == "failed invalid OVA: the file is empty (empty)\n", st
    assert "empty.ova" not in os.listdir(os.path.join(imp.path, "imports"))
    assert s3_writes_under(endpoint, mark, imp.prefix) == []
    assert endpoint.requests(op="ImportImage", since=mark) == []
    assert uploads_left(endpoint, imp.prefix) == []


def test_dd_and_touch_of_nothing_fail_but_a_second_open_writes(imp,
                                                                images):
    dst = os.path.join(imp.path, "imports", "later.vmdk")
    r = subprocess.run(["touch", dst], capture_output=True, text=True)
    assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr
    r = subprocess.run(["dd", "if=/dev/null", "of=" + dst],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr
    assert read(os.path.join(imp.path, "tasks", "later.vmdk",
                             "status")).startswith("failed invalid VMDK: ")
    # the same name right away (the kernel may still know the old entry)
    r = subprocess.run(["sh", "-c", 'cat "$1" >> "$2"', "sh",
                        images["vmdk"]["path"], dst],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # the status answers at once, also through the kernel's stale entry
    # (tasks/later.vmdk was the failed upload's directory a moment ago)
    st = read(os.path.join(imp.path, "tasks", "later.vmdk", "status"))
    assert st.split()[0] in ("active", "completed"), st
    poll_until(lambda: os.path.islink(os.path.join(imp.path, "tasks",
                                                   "later.vmdk")), timeout=5)
    assert_started(imp, "later.vmdk")


def test_empty_temporary_file_stays_until_written_or_removed(imp, images,
                                                             endpoint):
    d = os.path.join(imp.path, "imports")
    mark = endpoint.mark()
    r = subprocess.run(["mktemp", "-p", d], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tmp = r.stdout.strip()
    assert os.path.basename(tmp) in os.listdir(d)
    assert os.stat(tmp).st_size == 0
    # an empty temporary name is a file, not an upload: nothing sent yet
    assert s3_writes_under(endpoint, mark, imp.prefix) == []
    r = subprocess.run(["sh", "-c", 'cat "$1" > "$2" && mv "$2" "$3"', "sh",
                        images["vmdk"]["path"], tmp,
                        os.path.join(d, "mk.vmdk")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert_started(imp, "mk.vmdk")
    # renaming an empty one onto a final name is refused, the file stays
    part = os.path.join(d, "e.ova.part")
    open(part, "wb").close()
    r = subprocess.run(["mv", part, os.path.join(d, "e.ova")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "No data available" in r.stderr, r.stderr
    assert "e.ova.part" in os.listdir(d) and "e.ova" not in os.listdir(d)
    # rm leaves no record behind (there never was an upload)
    mark = endpoint.mark()
    os.unlink(part)
    assert "e.ova.part" not in os.listdir(d)
    assert "e.ova.part" not in os.listdir(os.path.join(imp.path, "tasks"))
    assert s3_writes_under(endpoint, mark, imp.prefix) == []


def test_children_closing_the_fd_do_not_end_the_upload(imp, images,
                                                       endpoint):
    """`{ head -c N f; tail -c +N+1 f; } > imports/x`: the first child's
    exit flushes the shared fd; the import must get the whole file."""
    src = images["vmdk"]["path"]
    size = os.path.getsize(src)
    dst = os.path.join(imp.path, "imports", "split.vmdk")
    script = '{ head -c 70000 "$1"; sleep 0.3; tail -c +70001 "$1"; } > "$2"'
    r = subprocess.run(["bash", "-c", script, "sh", src, dst],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert_started(imp, "split.vmdk")
    url = read(os.path.join(imp.path, "tasks", "split.vmdk",
                            "source")).splitlines()[0]
    head = endpoint.aws("s3api", "head-object", "--bucket", endpoint.bucket,
                        "--key", url.split("/", 3)[3])
    assert head["ContentLength"] == size


def test_bad_parameter_values_are_refused_where_given(imp):
    """An xattr or sidecar value ImportImage would refuse fails at once,
    not after the upload (doc/CONTRACT.md "Errors")."""
    d = os.path.join(imp.path, "imports")
    p = subprocess.run(["cp", "/dev/stdin", os.path.join(d, "bm.ova.json")],
                       input='{"BootMode": "bios"}', capture_output=True,
                       text=True)
    assert p.returncode != 0 and "Invalid argument" in p.stderr, p.stderr
    assert "BootMode must be legacy-bios, uefi or uefi-preferred" in imp.log()
    dst = os.path.join(d, "xa.vmdk")
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with pytest.raises(OSError) as ex:
            os.setxattr(dst, "user.amifs.platform", b"Solaris")
        assert ex.value.errno == errno.EINVAL
        os.setxattr(dst, "user.amifs.platform", b"Linux")
        assert os.getxattr(dst, "user.amifs.platform") == b"Linux"
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def test_rename_refused_by_validation_leaves_no_staged_object(imp, images,
                                                              endpoint):
    """A staged temporary whose bytes are not what the final name says:
    the rename fails with EINVAL, the status says why, and the staged
    object is gone (no task will ever point at it)."""
    d = os.path.join(imp.path, "imports")
    part = os.path.join(d, "w.part")
    assert cp(images["vhd-fixed"]["path"], part).returncode == 0
    url = read(os.path.join(imp.path, "tasks", "w.part",
                            "source")).splitlines()[0]
    key = url.split("/", 3)[3]
    with pytest.raises(OSError) as ex:
        os.rename(part, os.path.join(d, "w.ova"))
    assert ex.value.errno == errno.EINVAL
    st = read(os.path.join(imp.path, "tasks", "w.ova", "status"))
    assert st.startswith("failed invalid OVA: ") and "(not-tar)" in st, st
    out = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                       endpoint.bucket, "--prefix", key)
    assert not (out or {}).get("Contents"), out
    assert uploads_left(endpoint, imp.prefix) == []
