"""imports/: an OVA whose manifest comes after its disks.

The OVF standard lets the manifest come right after the descriptor (what
ovftool, vSphere and VirtualBox write) or at the end. amifs hashes a member
only when a manifest already asks for it, so the disks before a manifest at
the end pass unhashed and are read back from the staged object with ranged
GETs before anything is imported (doc/design/perf.md). These tests prove the
read-back happens before ImportImage, that a killed daemon or an unreadable
object leaves nothing imported and nothing half-done, and that copying again
imports once.
"""
import os
import re
import tarfile

from shared_fixtures import (cp, killed_at_held_get, poll_until, read,
                             start_mount, uploads_left)


def ranges_read(reqs):
    """Bytes the ranged GETs of REQS asked for."""
    total = 0
    for r in reqs:
        m = re.match(r"bytes=(\d+)-(\d+)$", r.get("range") or "")
        assert m, r
        total += int(m.group(2)) - int(m.group(1)) + 1
    return total


def staged(endpoint, prefix, fname):
    out = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                       endpoint.bucket, "--prefix", prefix)
    return [o["Key"] for o in out.get("Contents", [])
            if o["Key"].endswith("/" + fname)]


def disk_bytes(path):
    """Bytes of the .vmdk members (the test's own reading of the tar)."""
    with tarfile.open(path) as t:
        return sum(i.size for i in t.getmembers()
                   if i.name.endswith(".vmdk"))


def test_manifest_at_the_end_is_read_back_before_the_import(
        endpoint, images, tmp_path):
    """A SHA-1 manifest after the disk (refused before amifs read members
    back): cp succeeds, the disk's bytes were read back from the staged
    object, all before ImportImage was called."""
    e = images["ova-mf-last-sha1"]
    m = start_mount(endpoint, str(tmp_path))
    try:
        mark = endpoint.mark()
        r = cp(e["path"], os.path.join(m.path, "imports"))
        assert r.returncode == 0, r.stderr + m.log()[-3000:]
        imp = endpoint.requests(op="ImportImage", since=mark)
        assert len(imp) == 1, imp
        gets = [g for g in endpoint.requests(op="GetObject", since=mark)
                if g["t"] < imp[0]["t"] and g["status"] in (200, 206)]
        assert ranges_read(gets) >= disk_bytes(e["path"])
        assert all(g.get("if_match") for g in gets), gets
        assert "the manifest comes after the members it lists" in m.log()
        status = read(os.path.join(m.path, "tasks", e["file"], "status"))
        assert not status.startswith("failed"), status
    finally:
        m.unmount()


def test_killed_while_reading_the_disks_back(endpoint, images, tmp_path):
    """SIGKILL of the daemon while a read-back GET is held: no ImportImage,
    no multipart upload left; after a remount the same copy imports once."""
    e = images["ova-mf-last"]
    m = start_mount(endpoint, str(tmp_path))
    mark = endpoint.mark()

    def reading_back():
        status = read(os.path.join(m.path, "tasks", e["file"], "status"))
        assert "verifying the manifest at the end of the OVA" in status, \
            status
    killed_at_held_get(endpoint, m, e["path"],
                       os.path.join(m.path, "imports", e["file"]),
                       reading_back)
    assert endpoint.requests(op="ImportImage", since=mark) == []
    assert uploads_left(endpoint, m.prefix) == []
    m2 = start_mount(endpoint, str(tmp_path))
    try:
        r = cp(e["path"], os.path.join(m2.path, "imports"))
        assert r.returncode == 0, r.stderr + m2.log()[-3000:]
        assert len(endpoint.requests(op="ImportImage", since=mark)) == 1
        assert "the manifest comes after the members it lists" in m2.log()
    finally:
        m2.unmount()


def test_unreadable_staged_object_imports_nothing(endpoint, images,
                                                   tmp_path):
    """Every read-back GET fails: the copy fails with a sentence that says
    so, nothing is imported, and the staged object is deleted."""
    e = images["ova-mf-last"]
    m = start_mount(endpoint, str(tmp_path))
    try:
        mark = endpoint.mark()
        endpoint.set_faults([{"service": "s3", "op": "GetObject",
                              "action": "drop"}])
        try:
            r = cp(e["path"], os.path.join(m.path, "imports"))
        finally:
            endpoint.clear_faults()
        assert r.returncode != 0
        sfile = os.path.join(m.path, "tasks", e["file"], "status")
        status = poll_until(lambda: (lambda s: s if s.startswith("failed")
                                     else None)(read(sfile)), timeout=10)
        assert "the manifest at the end of the OVA could not be verified: " \
               "reading s3://%s/" % endpoint.bucket in status, status
        assert "nothing was imported" in status
        assert endpoint.requests(op="ImportImage", since=mark) == []
        assert uploads_left(endpoint, m.prefix) == []
        assert staged(endpoint, m.prefix, e["file"]) == []
    finally:
        m.unmount()
