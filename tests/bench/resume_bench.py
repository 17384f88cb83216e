"""Section `resume` of tests/bench/bench.py: a copy that failed at 90 %,
copied again (doc/design/resume.md).

On the WAN profile (fasts3 behind the shaped link, wan.py), each round:
  1. amifs: a full `cp` of the file into buckets/ (the reference);
  2. amifs: a copy to another key that writes the first 90 % of the
     parts and stops, the daemon killed (kill -9) once S3 holds them
     (ListParts of the upload the journal names: exactly 90 %); remount;
     the same `cp` of the whole file, timed: it reads the whole file (every
     byte is checked) and sends only the parts S3 lacks;
  3. the scripted alternative: `aws s3 cp` has no resume, so its copy
     after a failure sends everything again: a full `aws s3 cp`, timed.
The rows are medians; the goal row checks re-copy <= 20 % of the full
amifs copy. The resumed object is checked: its size, and its ETag equal to
the full copy's (the same parts' MD5s: the same bytes).
"""
import glob
import json
import math
import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET

MiB = 1 << 20
PART = 8 * MiB  # amifs's default first part


def _mount(b, srv, state):
    env = dict(srv.env, XDG_STATE_HOME=state)
    o = "endpoint=%s,bucket=%s,lazy_checks" % (srv.url, srv.bucket)
    mnt = os.path.join(b.CTX.work, "mnt-resume-%d" % time.monotonic_ns())
    return b.Fuse("amifs", [b.amifs_bin(), "-f", "-o", o, mnt], env,
                  mnt).start()


def _dst(srv, m, key):
    d = os.path.join(m.mnt, "buckets", srv.bucket, key)
    os.makedirs(os.path.dirname(d), exist_ok=True)
    return d


def _etag(srv, key):
    st, h, _ = srv.s3.request("HEAD", srv.bucket, key)
    h = {k.lower(): v for k, v in h.items()}
    return h.get("etag", "").strip('"') if st == 200 else None


def _upload_id(state):
    for p in glob.glob(os.path.join(state, "amifs", "uploads", "*.json")):
        try:
            with open(p) as f:
                return json.load(f)["upload_id"]
        except (OSError, ValueError, KeyError):
            pass
    return None


def _parts_held(srv, key, uid):
    st, _, body = srv.s3.request("GET", srv.bucket, key,
                                 [("uploadId", uid)])
    if st != 200:
        return 0
    return sum(1 for e in ET.fromstring(body).iter()
               if e.tag.endswith("PartNumber"))


def full_copy(b, srv, src, key, state):
    m = _mount(b, srv, state)
    try:
        r = b.run(["cp", src, _dst(srv, m, key)], srv.env, b.CTX.timeout)
    finally:
        m.stop()
    return r.wall if r.rc == 0 else None


# The failed copy's writer: the first HELD parts and one byte more (so
# the last of them is sent too), then it waits, the file open, to be
# killed with the daemon.
WRITER = r"""
import os, sys, time
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
fi, fo = os.open(src, os.O_RDONLY), os.open(dst, os.O_WRONLY | os.O_CREAT |
                                            os.O_TRUNC, 0o644)
left = n
while left:
    b = os.read(fi, min(left, 1 << 20))
    os.write(fo, b)
    left -= len(b)
print("written", flush=True)
time.sleep(3600)
"""


def kill_at(b, srv, src, size, key, state, frac=0.9):
    """Copy SRC to KEY until S3 holds FRAC of its parts, then kill -9 the
    daemon (a crash at 90 %): exactly round(FRAC x parts) parts are held.
    Returns that number."""
    held_want = round(frac * math.ceil(size / PART))
    m = _mount(b, srv, state)
    w = subprocess.Popen(["python3", "-c", WRITER, src, _dst(srv, m, key),
                          str(held_want * PART + 1)], env=srv.env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    held = 0
    try:
        end = time.monotonic() + b.CTX.timeout
        while held < held_want and w.poll() is None and \
                time.monotonic() < end:
            uid = _upload_id(state)
            held = _parts_held(srv, key, uid) if uid else 0
            time.sleep(0.02)
    finally:
        m.proc.kill()
        m.proc.wait()
        subprocess.run(["fusermount3", "-u", "-z", m.mnt],
                       capture_output=True)
        m.proc = None
        w.kill()
        w.wait()
    uid = _upload_id(state)
    held = _parts_held(srv, key, uid) if uid else 0
    if held != held_want:
        raise RuntimeError("S3 holds %d parts after the kill, not %d"
                           % (held, held_want))
    return held


def recopy(b, srv, src, size, key, state):
    """(seconds, parts sent, note) of the same cp after the kill."""
    m = _mount(b, srv, state)
    try:
        r = b.run(["cp", src, _dst(srv, m, key)], srv.env, b.CTX.timeout)
        time.sleep(0.2)
        log = m.log()
    finally:
        m.stop()
    got = re.search(r"resumed: (\d+) parts \((\d+) MiB\) were already in S3 "
                    r"and not sent again, (\d+) parts sent", log)
    if r.rc != 0 or not got:
        return None, None, "re-copy failed or did not resume: " + r.why()
    if srv.s3.size(srv.bucket, key) != size:
        return None, None, "wrong size after the re-copy"
    return r.wall, int(got.group(3)), ""


def aws_copy(b, srv, src, size, key):
    exe = b.aws_cli("v1")
    if not exe:
        return None
    r = b.run([exe, "--endpoint-url", srv.url, "s3", "cp",
               "--only-show-errors", src, "s3://%s/%s" % (srv.bucket, key)],
              srv.env, b.CTX.timeout)
    ok = r.rc == 0 and srv.s3.size(srv.bucket, key) == size
    srv.s3.delete(srv.bucket, key)
    return r.wall if ok else None


def one_round(b, srv, src, size, i):
    state = os.path.join(b.CTX.work, "resume-state-%d" % i)
    os.makedirs(state, exist_ok=True)
    kf, kr = "resume/full-%d" % i, "resume/again-%d" % i
    b.warm(src)
    full = full_copy(b, srv, src, kf, state)
    held = kill_at(b, srv, src, size, kr, state)
    b.warm(src)
    again, sent, note = recopy(b, srv, src, size, kr, state)
    if again is not None and _etag(srv, kr) != _etag(srv, kf):
        again, note = None, "the resumed object differs from the full copy"
    b.warm(src)
    aws = aws_copy(b, srv, src, size, "resume/aws-%d" % i)
    for k in (kf, kr):
        srv.s3.delete(srv.bucket, k)
    return full, again, aws, held, sent, note


def _med(vals):
    vals = sorted(v for v in vals if v is not None)
    return vals[len(vals) // 2] if vals else None


def section(b, srv, size, repeat, extra):
    src = b.ensure_random(os.path.join(b.CTX.cache, "rand-%d" % size), size)
    nparts = math.ceil(size / PART)
    rounds = [one_round(b, srv, src, size, i) for i in range(repeat)]
    full, again, aws = (_med([r[k] for r in rounds]) for k in (0, 1, 2))
    held = [r[3] for r in rounds]
    sent = [r[4] for r in rounds]
    notes = "; ".join(r[5] for r in rounds if r[5])
    t = b.Table(
        "resume. Copy %s again after a failure at 90 %%%s" % (
            b.human(size), extra),
        ["what", "seconds", "× full amifs copy", "parts sent", "note"],
        "Median of %d rounds. amifs: 8 MiB parts (%d); a copy written up "
        "to 90 %% of them, the daemon killed (kill -9) once S3 held them "
        "(%s parts), remounted, then the `cp` of the whole file timed (it "
        "reads every byte and checks each part against ListParts). The "
        "scripted "
        "alternative re-sends everything: `aws s3 cp` has no resume."
        % (repeat, nparts, ", ".join(map(str, held))))
    t.add("amifs: full `cp`", full, b.ratio(full, full), nparts, "")
    t.add("amifs: the same `cp` again after the failure", again,
          b.ratio(again, full), "/".join(str(s) for s in sent), notes)
    t.add("script: `aws s3 cp` again (v1; no resume: all of it)", aws,
          b.ratio(aws, full), nparts, "")
    ok = again is not None and full and again <= 0.2 * full
    t.add("goal: re-copy <= 20 % of a full copy", "", "", "",
          "PASS" if ok else "FAIL")
    return full, again, aws
