#!/usr/bin/python3
"""amifs benchmark: amifs side by side with the AWS CLIs, s3fs and rclone.

Run through tests/bench/run.sh (see --help). Every row is measured in the
same run against the same local server. Standard library only (plus the
repo's tests/endpoint_fixtures.py and tests/images/mkimages.py).
"""
import argparse
import concurrent.futures
import datetime
import glob
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "images"))
sys.path.insert(0, HERE)
import endpoint_fixtures as ef  # noqa: E402
import mkimages  # noqa: E402
import s3util  # noqa: E402

MiB, GiB = 1 << 20, 1 << 30
CLK = os.sysconf("SC_CLK_TCK")
FAST_AK, FAST_SK = "AKIAFASTS3BENCH", "fasts3-does-not-check-this"
CEIL_CONC = 8          # the ceiling's parallel connections (amifs's default)


def log(*a):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr,
          flush=True)


# ------------------------------------------------------------ measurement --

class Run:
    """One child process: wall seconds, CPU seconds (rusage, includes its
    waited-for children), max RSS bytes, exit code, stderr tail."""
    def __init__(self, rc, wall, cpu, rss, err):
        self.rc, self.wall, self.cpu, self.rss, self.err = rc, wall, cpu, rss, err

    def why(self):
        lines = [l for l in self.err.strip().splitlines() if l.strip()]
        return "exit %s: %s" % (self.rc, lines[-1][:150] if lines else "")


def run(argv, env, timeout, stdout=subprocess.DEVNULL, stdin=None, cwd=None):
    errf = open(os.path.join(CTX.work, "child.stderr"), "w+")
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=env, stdout=stdout, stderr=errf,
                         stdin=stdin, cwd=cwd)
    hwm = 0
    while True:
        # ru_maxrss would include this process's own peak (Linux carries the
        # parent's high-water mark across fork+exec), so sample the child's
        # VmHWM instead; it only grows, the last sample before exit is it.
        try:
            hwm = max(hwm, proc_hwm(p.pid))
        except OSError:
            pass
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - t0 > timeout:
            p.kill()
            pid, status, ru = os.wait4(p.pid, 0)
            status = -999
            break
        time.sleep(0.005)
    wall = time.monotonic() - t0
    p.returncode = 0  # reaped by wait4; keep Popen from waiting again
    errf.seek(0)
    err = errf.read()[-4000:]
    errf.close()
    rc = "timeout %ds" % timeout if status == -999 else \
        os.waitstatus_to_exitcode(status)
    return Run(rc, wall, ru.ru_utime + ru.ru_stime, hwm, err)


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_hwm(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(l.split()[4] == path for l in f)


class Fuse:
    """A FUSE daemon we start in the foreground (-f) and unmount."""
    def __init__(self, name, argv, env, mnt):
        self.name, self.argv, self.env, self.mnt = name, argv, env, mnt
        self.proc = None

    def start(self, timeout=30):
        os.makedirs(self.mnt, exist_ok=True)
        self.errpath = self.mnt + ".stderr"
        with open(self.errpath, "wb") as err:
            self.proc = subprocess.Popen(self.argv, env=self.env,
                                         stdout=err, stderr=err)
        end = time.monotonic() + timeout
        while not is_mounted(self.mnt):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise RuntimeError("%s did not mount: %s" % (
                    self.name, self.log()[-300:].strip()))
            time.sleep(0.05)
        return self

    def log(self):
        try:
            with open(self.errpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def hwm(self):
        return proc_hwm(self.proc.pid)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            subprocess.run(["fusermount3", "-u", self.mnt],
                           capture_output=True)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if is_mounted(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", self.mnt],
                           capture_output=True)
        self.proc = None


# ---------------------------------------------------------------- servers --

def base_env(state_dir, region="us-east-1"):
    env = dict(os.environ)
    for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(k, None)
    nowhere = os.path.join(state_dir, "no-such-aws-config")
    env.update({"AWS_DEFAULT_REGION": region, "AWS_REGION": region,
                "AWS_PAGER": "", "AWS_CONFIG_FILE": nowhere,
                "AWS_SHARED_CREDENTIALS_FILE": nowhere,
                "AWS_EC2_METADATA_DISABLED": "true"})
    return env


class FastServer:
    kind = "fast"
    label = ("fasts3 --discard (tests/bench/fasts3.py: a throughput sink; "
             "no signature checks; bodies are MD5-hashed for real ETags and "
             "dropped, GETs stream zeros of the object's length)")

    def __init__(self, work, netns=None, host="127.0.0.1", discard=True):
        # In a netns the server listens on the namespace's loopback: only
        # the delay proxy (wan.py) reaches it, so nothing bypasses the RTT.
        self.dir = os.path.join(work, "fasts3" + ("-" + netns if netns
                                                  else ""))
        self.netns, self.host, self.bucket = netns, host, "bench"
        self.discard, self.proc = discard, None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        pf = os.path.join(self.dir, "port")
        if os.path.exists(pf):
            os.unlink(pf)
        argv = [sys.executable, os.path.join(HERE, "fasts3.py"), "--host",
                self.host, "--port", "0", "--port-file", pf, "--dir",
                os.path.join(self.dir, "data"), "--bucket", self.bucket] + (
                    ["--discard"] if self.discard else [])
        if self.netns:
            # the netns's network only (wan.Wan.enter: no mount namespace)
            argv = ["nsenter", "--net=/run/netns/" + self.netns] + argv
        self.proc = subprocess.Popen(argv, stderr=open(
            os.path.join(self.dir, "log"), "ab"))
        end = time.monotonic() + 20
        while not os.path.exists(pf):
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("fasts3 did not start")
            time.sleep(0.05)
        with open(pf) as f:
            self.port = int(f.read())
        self.url = "http://%s:%d" % (self.host, self.port)
        self.env = base_env(self.dir)
        self.env.update(AWS_ACCESS_KEY_ID=FAST_AK, AWS_SECRET_ACCESS_KEY=FAST_SK)
        self.s3 = s3util.S3(self.url, FAST_AK, FAST_SK)
        return self

    def rss(self):
        return proc_hwm(self.proc.pid)

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(os.path.join(self.dir, "data"), ignore_errors=True)


class MotoServer:
    kind = "moto"
    label = "moto 5.2.1 + the VM Import layer (tests/endpoint/server.py)"

    def __init__(self, work):
        self.dir = os.path.join(work, "moto")

    def start(self, phase_seconds=0.5):
        py = ef.moto_python()
        if py is None:
            raise RuntimeError("no python3 with moto")
        os.makedirs(self.dir, exist_ok=True)
        self.ep = ef.Endpoint(py, self.dir)
        self.ep.start(phase_seconds=phase_seconds)
        self.ep.bootstrap()
        self.url, self.bucket, self.env = self.ep.url, self.ep.bucket, \
            self.ep.env
        self.s3 = s3util.S3(self.url, self.env["AWS_ACCESS_KEY_ID"],
                            self.env["AWS_SECRET_ACCESS_KEY"])
        return self

    def rss(self):
        return proc_hwm(self.ep.proc.pid)

    def cpu(self):
        return proc_cpu(self.ep.proc.pid)

    def stop(self):
        self.ep.stop()


# ----------------------------------------------------------------- clients --

def amifs_bin():
    return os.path.join(CTX.build, "fs", "amifs")


def amifs_mount(srv, opts=""):
    # lazy_checks: fasts3 answers no STS GetCallerIdentity (the mount-time
    # credential check); the first request checks them instead.
    o = "endpoint=%s,bucket=%s,lazy_checks" % (srv.url, srv.bucket) + (
        "," + opts if opts else "")
    mnt = os.path.join(CTX.work, "mnt-amifs-%d" % time.monotonic_ns())
    return Fuse("amifs", [amifs_bin(), "-f", "-o", o, mnt], srv.env,
                mnt).start()


def s3fs_mount(srv):
    pw = os.path.join(CTX.work, "s3fs.passwd")
    with open(pw, "w") as f:
        f.write("%s:%s\n" % (srv.env["AWS_ACCESS_KEY_ID"],
                             srv.env["AWS_SECRET_ACCESS_KEY"]))
    os.chmod(pw, 0o600)
    mnt = os.path.join(CTX.work, "mnt-s3fs-%d" % time.monotonic_ns())
    argv = ["s3fs", srv.bucket, mnt, "-f", "-o", "url=" + srv.url,
            "-o", "use_path_request_style", "-o", "passwd_file=" + pw,
            "-o", "sigv4", "-o", "endpoint=us-east-1", "-o", "dbglevel=err"]
    return Fuse("s3fs", argv, srv.env, mnt).start()


def rclone_env(srv):
    env = dict(srv.env)
    env.update({"RCLONE_CONFIG_BENCHS3_TYPE": "s3",
                "RCLONE_CONFIG_BENCHS3_PROVIDER": "Other",
                "RCLONE_CONFIG_BENCHS3_ENDPOINT": srv.url,
                "RCLONE_CONFIG_BENCHS3_REGION": "us-east-1",
                "RCLONE_CONFIG_BENCHS3_FORCE_PATH_STYLE": "true",
                "RCLONE_CONFIG_BENCHS3_ACCESS_KEY_ID":
                    srv.env["AWS_ACCESS_KEY_ID"],
                "RCLONE_CONFIG_BENCHS3_SECRET_ACCESS_KEY":
                    srv.env["AWS_SECRET_ACCESS_KEY"],
                "RCLONE_CONFIG": os.path.join(CTX.work, "rclone-none.conf")})
    env.pop("AWS_CA_BUNDLE", None)   # rclone refuses the bundle; we use http
    return env


def rclone_mount(srv, mode):
    mnt = os.path.join(CTX.work, "mnt-rclone-%d" % time.monotonic_ns())
    argv = ["rclone", "mount", "benchs3:" + srv.bucket, mnt,
            "--vfs-cache-mode", mode, "--cache-dir",
            os.path.join(CTX.work, "rclone-cache"), "--log-level", "ERROR",
            "--vfs-write-back", "0s"]
    return Fuse("rclone", argv, rclone_env(srv), mnt).start()


def aws_cli(which):
    return ef.cli_paths(ef.moto_python())[which]


# -------------------------------------------------------------- the files --

def ensure_random(path, size):
    if os.path.exists(path) and os.path.getsize(path) == size:
        return path
    log("making %s (%d MiB of random bytes)" % (path, size >> 20))
    with open(path + ".tmp", "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MiB)
            f.write(os.urandom(n))
            left -= n
    os.rename(path + ".tmp", path)
    return path


def warm(path):
    with open(path, "rb") as f:
        while f.read(16 * MiB):
            pass


def ensure_bad_ova(size):
    """A tar whose first member is a disk, not the OVF (refused at once by
    a streaming validator), SIZE bytes of random payload."""
    path = os.path.join(CTX.cache, "bad-%dm.ova" % (size >> 20))
    if os.path.exists(path):
        return path
    src = ensure_random(os.path.join(CTX.cache, "rand-%d" % size), size)
    with tarfile.open(path + ".tmp", "w", format=tarfile.USTAR_FORMAT) as t:
        t.add(src, arcname="disk1.vmdk")
        ovf = os.path.join(CTX.work, "bad.ovf")
        with open(ovf, "w") as f:
            f.write("<Envelope/>")
        t.add(ovf, arcname="bad.ovf")
    os.rename(path + ".tmp", path)
    return path


def ensure_big_ova(size):
    """A good OVA of about SIZE bytes: a stream-optimized VMDK of an ext4
    root with OS files plus SIZE bytes of random data (incompressible)."""
    path = os.path.join(CTX.cache, "vm-%dm.ova" % (size >> 20))
    if os.path.exists(path):
        return path
    src = ensure_random(os.path.join(CTX.cache, "rand-%d" % size), size)
    log("making %s (mkfs.ext4 + qemu-img streamOptimized; slow once)" % path)
    orig = mkimages._rootfs_tree

    def tree(d, os_files):
        orig(d, os_files)
        os.makedirs(os.path.join(d, "var"), exist_ok=True)
        shutil.copyfile(src, os.path.join(d, "var", "payload.bin"))
    mkimages._rootfs_tree = tree
    try:
        vmdk = os.path.join(CTX.work, "bench-disk1.vmdk")
        mkimages.make_disk(vmdk, "vmdk", size_mb=(size >> 20) * 9 // 8 + 96)
    finally:
        mkimages._rootfs_tree = orig
    mkimages.make_ova(path + ".tmp.ova", [vmdk])
    os.unlink(vmdk)
    os.rename(path + ".tmp.ova", path)
    return path


def ensure_small_ova():
    path = os.path.join(CTX.cache, "small-vm.ova")
    if not os.path.exists(path):
        vmdk = os.path.join(CTX.work, "small-disk1.vmdk")
        mkimages.make_disk(vmdk, "vmdk", size_mb=24)
        mkimages.make_ova(path + ".tmp.ova", [vmdk])
        os.rename(path + ".tmp.ova", path)
    return path


# ------------------------------------------------------------------ table --

class Table:
    def __init__(self, title, headers, note=""):
        self.title, self.headers, self.note, self.rows = title, headers, note, []
        CTX.tables.append(self)

    def add(self, *cells):
        self.rows.append([c if isinstance(c, str) else fmt(c) for c in cells])
        log("%s | %s" % (self.title[:30], " | ".join(self.rows[-1])))

    def markdown(self):
        out = ["### " + self.title, ""]
        if self.note:
            out += [self.note, ""]
        out.append("| " + " | ".join(self.headers) + " |")
        out.append("|" + "|".join("---" for _ in self.headers) + "|")
        for r in self.rows:
            r = r + [""] * (len(self.headers) - len(r))
            out.append("| " + " | ".join(c.replace("|", "/") for c in r) + " |")
        return "\n".join(out) + "\n"


def fmt(v):
    if v is None:
        return "–"
    if isinstance(v, float):
        return "%.3g" % v if abs(v) < 100 else "%.0f" % v
    return str(v)


def ratio(v, ref):
    if v is None or not ref:
        return "–"
    return "%.2f×" % (v / ref)


def mbs(nbytes, secs):
    return nbytes / secs / 1e6 if secs > 0 else None


# ---------------------------------------------------------------- repeats --

class Sample:
    """One measurement of one client: MB/s (None = failed), client CPU
    s/GiB, peak RSS MiB, server CPU s/GiB, note (why it failed)."""
    def __init__(self, tp=None, cpu=None, rss=None, scpu=None, note=""):
        self.tp, self.cpu, self.rss, self.scpu, self.note = \
            tp, cpu, rss, scpu, note


def median(vals):
    vals = sorted(v for v in vals if v is not None)
    if not vals:
        return None
    k = len(vals) // 2
    return vals[k] if len(vals) % 2 else (vals[k - 1] + vals[k]) / 2


class Agg:
    """The median of a client's samples, with the MB/s spread as a note."""
    def __init__(self, name, samples):
        self.name, self.n = name, len(samples)
        ok = [s for s in samples if s.tp is not None]
        self.tp = median(s.tp for s in ok)
        self.cpu = median(s.cpu for s in ok)
        self.rss = median(s.rss for s in ok)
        self.scpu = median(s.scpu for s in ok)
        fails = [s.note for s in samples if s.tp is None and s.note]
        notes = []
        if len(ok) > 1:
            notes.append("%s–%s MB/s over %d runs" % (
                fmt(min(s.tp for s in ok)), fmt(max(s.tp for s in ok)),
                len(ok)))
        if fails:
            notes.append("%d/%d failed: %s" % (len(fails), self.n, fails[-1]))
        notes += sorted({s.note for s in ok if s.note})
        self.note = "; ".join(notes)


def rounds(clients, repeat):
    """Run every client REPEAT times, interleaved (round 1 of all, then
    round 2...) so a burst of load from elsewhere hits every client alike.
    CLIENTS: [(name, fn -> Sample)]. Returns [Agg] in CLIENTS order."""
    got = {name: [] for name, _ in clients}
    for r in range(repeat):
        for name, fn in clients:
            try:
                s = fn()
            except Exception as e:  # noqa: BLE001 — one failing peer
                s = Sample(note=str(e)[:160])
            got[name].append(s)
            log("round %d/%d %s: %s MB/s %s" % (r + 1, repeat, name,
                                                fmt(s.tp), s.note))
    return [Agg(name, got[name]) for name, _ in clients]


# ---------------------------------------------------------- the ceiling --

def ensure_parts(size, part=16 * MiB):
    """The random file of SIZE split into PART-sized files (curl uploads
    whole files, so a part is a file)."""
    src = ensure_random(os.path.join(CTX.cache, "rand-%d" % size), size)
    d = os.path.join(CTX.cache, "parts-%d-%d" % (size, part))
    n = (size + part - 1) // part
    if not (os.path.isdir(d) and len(os.listdir(d)) == n):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d + ".tmp", exist_ok=True)
        subprocess.run(["split", "-b", str(part), "-d", "-a", "5", src,
                        os.path.join(d + ".tmp", "p")], check=True)
        os.rename(d + ".tmp", d)
    return [os.path.join(d, f) for f in sorted(os.listdir(d))]


def curl_parallel(srv, size, key, conc):
    """The server's ceiling: CreateMultipartUpload, then every 16 MiB part
    as an UploadPart by one curl process with CONC parallel connections,
    then Complete. curl costs almost no CPU, so this is what the server
    (and the link) can take. fasts3 does not check signatures, so the
    parts go unsigned."""
    parts = ensure_parts(size)
    for p in parts:
        warm(p)
    base = "%s/%s/%s" % (srv.url, srv.bucket, key)
    cfg = os.path.join(CTX.work, "curl.cfg")
    s0, t0 = srv.cpu(), time.monotonic()
    st, _, body = srv.s3.request("POST", srv.bucket, key, [("uploads", "")])
    uid = body.split(b"<UploadId>")[1].split(b"<")[0].decode()
    with open(cfg, "w") as f:
        for i, p in enumerate(parts):
            f.write('upload-file = "%s"\nurl = "%s?partNumber=%d&uploadId=%s"'
                    '\noutput = "/dev/null"\n' % (p, base, i + 1, uid))
    out = os.path.join(CTX.work, "curl.out")
    with open(out, "w") as o:
        r = run(["curl", "-sS", "--parallel", "--parallel-max", str(conc),
                 "-K", cfg, "-w", "%{http_code} %{url_effective} "
                 "%header{etag}\\n"], srv.env, CTX.timeout, stdout=o)
    etags = {}
    with open(out) as o:
        for line in o:
            code, url, etag = (line.split() + ["", "", ""])[:3]
            if code == "200":
                n = int(url.split("partNumber=")[1].split("&")[0])
                etags[n] = etag
    if r.rc != 0 or len(etags) != len(parts):
        return Sample(note="curl: %s, %d/%d parts" % (r.why(), len(etags),
                                                      len(parts)))
    xml = "<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(
        "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (n, e)
        for n, e in sorted(etags.items()))
    st, _, b = srv.s3.request("POST", srv.bucket, key, [("uploadId", uid)],
                              body=xml.encode())
    wall = time.monotonic() - t0
    scpu = srv.cpu() - s0
    ok = st == 200 and srv.s3.size(srv.bucket, key) == size
    srv.s3.delete(srv.bucket, key)
    if not ok:
        return Sample(note="Complete: HTTP %d" % st)
    gib = size / GiB
    return Sample(mbs(size, wall), r.cpu / gib, r.rss / MiB, scpu / gib)


def curl_single(srv, size, key):
    """One PutObject of the whole file over one connection (curl -T)."""
    src = os.path.join(CTX.cache, "rand-%d" % size)
    warm(src)
    s0 = srv.cpu()
    r = run(["curl", "-sS", "-f", "-o", "/dev/null", "-T", src,
             "%s/%s/%s" % (srv.url, srv.bucket, key)], srv.env, CTX.timeout)
    scpu = srv.cpu() - s0
    ok = r.rc == 0 and srv.s3.size(srv.bucket, key) == size
    srv.s3.delete(srv.bucket, key)
    gib = size / GiB
    return Sample(mbs(size, r.wall) if ok else None, r.cpu / gib,
                  r.rss / MiB, scpu / gib, "" if ok else r.why())


def ceiling_clients(srv, size, tag, concs):
    return [("ceiling: curl, %d parallel UploadParts of 16 MiB" % c,
             (lambda c=c: curl_parallel(srv, size, "c/par%d-%s" % (c, tag),
                                        c))) for c in concs] + [
            ("ceiling: curl, one PutObject stream",
             lambda: curl_single(srv, size, "c/one-" + tag))]


def section_ceiling(srv, sizes, repeat, title_extra="", concs=(CEIL_CONC,)):
    """Section 0: what the server takes from a client that costs nothing.
    Measured before any client so the write table can show it."""
    t = Table("0. The server's ceiling%s" % title_extra,
              ["size", "client", "MB/s", "curl CPU s/GiB",
               "server CPU s/GiB", "note"],
              "Server: %s. Median of %d; both cores are shared by curl and "
              "the server, so this is the most any client can get here."
              % (srv.label, repeat))
    for size in sizes:
        tag = "%dm" % (size >> 20)
        for a in rounds(ceiling_clients(srv, size, tag, concs), repeat):
            CTX.ceiling[(srv.kind, size, a.name)] = a
            t.add(human(size), a.name, a.tp, a.cpu, a.scpu, a.note)


# --------------------------------------------------------------- section 1 --

def fuse_write_sample(srv, name, mountfn, src, size, key, after=None):
    m = mountfn()
    try:
        root = os.path.join(m.mnt, "buckets", srv.bucket) \
            if name.startswith("amifs") else m.mnt
        os.makedirs(os.path.join(root, os.path.dirname(key)), exist_ok=True)
        c0, s0 = m.cpu(), srv.cpu()
        r = run(["cp", src, os.path.join(root, key)], srv.env, CTX.timeout)
        wall = r.wall
        if r.rc == 0 and after:
            wall = after(key, r.wall)
        cpu, scpu = m.cpu() - c0 + r.cpu, srv.cpu() - s0
        hwm = m.hwm()
    finally:
        m.stop()
    note = "" if r.rc == 0 else r.why()
    if r.rc == 0 and srv.s3.size(srv.bucket, key) != size:
        note = "object missing or wrong size after cp"
    gib = size / GiB
    return Sample(mbs(size, wall) if not note else None, cpu / gib,
                  hwm / MiB, scpu / gib, note)


def cli_write_sample(srv, exe, src, size, key):
    if not exe:
        return Sample(note="not installed")
    s0 = srv.cpu()
    r = run([exe, "--endpoint-url", srv.url, "s3", "cp", "--only-show-errors",
             src, "s3://%s/%s" % (srv.bucket, key)], srv.env, CTX.timeout)
    scpu = srv.cpu() - s0
    ok = r.rc == 0 and srv.s3.size(srv.bucket, key) == size
    srv.s3.delete(srv.bucket, key)
    gib = size / GiB
    return Sample(mbs(size, r.wall) if ok else None, r.cpu / gib,
                  r.rss / MiB, scpu / gib, "" if ok else r.why())


def write_clients(srv, size, tag, wide=False):
    src = ensure_random(os.path.join(CTX.cache, "rand-%d" % size), size)

    def wait_visible(key, t_cp):
        # rclone writes mode: cp ends at the local cache; the upload follows
        t0 = time.monotonic() - t_cp
        end = time.monotonic() + CTX.timeout
        while time.monotonic() < end:
            if srv.s3.size(srv.bucket, key) == size:
                return time.monotonic() - t0
            time.sleep(0.05)
        return float("inf")

    def fuse(name, mk, key, after=None, keep=False):
        def fn():
            warm(src)
            s = fuse_write_sample(srv, name, mk, src, size, key, after)
            if not keep:
                srv.s3.delete(srv.bucket, key)
            return s
        return name, fn

    def cli(name, which, key):
        return name, lambda: (warm(src), cli_write_sample(
            srv, aws_cli(which), src, size, key))[1]

    return [fuse("amifs", lambda: amifs_mount(srv), "w/amifs-" + tag,
                 keep=True),
            cli("aws s3 cp (pip CLI v1)", "v1", "w/awsv1-" + tag),
            cli("aws s3 cp (/usr/bin/aws v2)", "v2", "w/awsv2-" + tag),
            fuse("s3fs", lambda: s3fs_mount(srv), "w/s3fs-" + tag),
            fuse("rclone mount, cache off", lambda: rclone_mount(srv, "off"),
                 "w/rcoff-" + tag),
            fuse("rclone mount, cache writes",
                 lambda: rclone_mount(srv, "writes"), "w/rcw-" + tag,
                 after=wait_visible)] + ([
            fuse("amifs -o upload_concurrency=16", lambda: amifs_mount(
                srv, "upload_concurrency=16"), "w/amifs16-" + tag)]
                if wide else [])


def section_write(srv, sizes, repeat, title_extra="", wide=False):
    for size in sizes:
        tag = "%dm" % (size >> 20)
        t = Table("1. Write %s from a local file into S3%s" % (
            human(size), title_extra),
            ["client", "MB/s", "× amifs", "CPU s/GiB", "× amifs",
             "peak RSS MiB", "× amifs", "server CPU s/GiB", "note"],
            "Server: %s. Median of %d runs, interleaved. MB/s = size / wall "
            "time of `cp` (CLIs: of the command; rclone writes: until the "
            "object is in the bucket). CPU = the FUSE daemon's utime+stime "
            "plus cp's, or the CLI's; RSS = the daemon's or the CLI's "
            "VmHWM; server CPU = the server process's utime+stime."
            % (srv.label, repeat))
        aggs = rounds(write_clients(srv, size, tag, wide), repeat)
        CTX.results[("write", srv.kind, size)] = aggs
        ref = aggs[0]
        for a in aggs:
            t.add(a.name, a.tp, ratio(a.tp, ref.tp), a.cpu,
                  ratio(a.cpu, ref.cpu), a.rss, ratio(a.rss, ref.rss),
                  a.scpu, a.note)
        for (kind, sz, name), a in CTX.ceiling.items():
            if kind == srv.kind and sz == size:
                t.add(name + " (section 0)", a.tp, ratio(a.tp, ref.tp), a.cpu,
                      ratio(a.cpu, ref.cpu), a.rss, ratio(a.rss, ref.rss),
                      a.scpu, a.note)
        if ref.rss is not None:
            t.add("amifs peak RSS < 200 MiB", "", "", "", "", ref.rss, "", "",
                  "PASS" if ref.rss < 200 else "FAIL")


def human(n):
    return "%d GiB" % (n >> 30) if n >= GiB else "%d MiB" % (n >> 20)


# --------------------------------------------------------------- section 2 --

def read_clients(srv, size, key):
    gib = size / GiB

    def amifs_read(how):
        def fn():
            m = amifs_mount(srv)
            try:
                c0, s0 = m.cpu(), srv.cpu()
                path = os.path.join(m.mnt, "buckets", srv.bucket, key)
                dst = os.path.join(CTX.work, "readback")
                r = run(["cat", path] if how == "cat" else
                        ["cp", path, dst], srv.env, CTX.timeout)
                if os.path.exists(dst):
                    os.unlink(dst)
                cpu, scpu, hwm = m.cpu() - c0 + r.cpu, srv.cpu() - s0, m.hwm()
            finally:
                m.stop()
            return Sample(mbs(size, r.wall) if r.rc == 0 else None, cpu / gib,
                          hwm / MiB, scpu / gib, "" if r.rc == 0 else r.why())
        return fn

    def cli(which):
        def fn():
            exe = aws_cli(which)
            if not exe:
                return Sample(note="not installed")
            s0 = srv.cpu()
            r = run([exe, "--endpoint-url", srv.url, "s3", "cp",
                     "s3://%s/%s" % (srv.bucket, key), "-"], srv.env,
                    CTX.timeout)
            return Sample(mbs(size, r.wall) if r.rc == 0 else None,
                          r.cpu / gib, r.rss / MiB, (srv.cpu() - s0) / gib,
                          "" if r.rc == 0 else r.why())
        return fn

    def peer(mk):
        def fn():
            m = mk()
            try:
                c0, s0 = m.cpu(), srv.cpu()
                r = run(["cat", os.path.join(m.mnt, key)], srv.env,
                        CTX.timeout)
                cpu, scpu, hwm = m.cpu() - c0 + r.cpu, srv.cpu() - s0, m.hwm()
            finally:
                m.stop()
            return Sample(mbs(size, r.wall) if r.rc == 0 else None, cpu / gib,
                          hwm / MiB, scpu / gib, "" if r.rc == 0 else r.why())
        return fn

    return [("amifs cat > /dev/null", amifs_read("cat")),
            ("amifs cp to local disk", amifs_read("cp")),
            ("aws s3 cp s3://… - (pip v1)", cli("v1")),
            ("aws s3 cp s3://… - (/usr/bin/aws v2)", cli("v2")),
            ("s3fs cat", peer(lambda: s3fs_mount(srv))),
            ("rclone mount (off) cat", peer(lambda: rclone_mount(srv, "off")))]


def section_read(srv, sizes, repeat):
    for size in sizes:
        key = "w/amifs-%dm" % (size >> 20)
        t = Table("2. Read the %s object back" % human(size),
                  ["client", "MB/s", "× amifs cat", "× pip CLI",
                   "CPU s/GiB", "peak RSS MiB", "server CPU s/GiB", "note"],
                  "Server: %s. The object amifs wrote in section 1. Median "
                  "of %d runs; each run mounts afresh (nothing cached). "
                  "amifs reads with its defaults: up to 8 ranged GETs of "
                  "8 MiB in flight (read_concurrency), whole-file reads "
                  "verified against the object's CRC32C when it has one "
                  "(fasts3 keeps none, so its zeros are not checked)."
                  % (srv.label, repeat))
        if srv.s3.size(srv.bucket, key) != size:
            srcp = ensure_random(os.path.join(CTX.cache, "rand-%d" % size),
                                 size)
            s3util.upload_parallel(srv.s3, srv.bucket, key, srcp)
        aggs = rounds(read_clients(srv, size, key), repeat)
        CTX.results[("read", srv.kind, size)] = aggs
        ref, cli = aggs[0], aggs[2]
        for a in aggs:
            t.add(a.name, a.tp, ratio(a.tp, ref.tp), ratio(a.tp, cli.tp),
                  a.cpu, a.rss, a.scpu, a.note)


# --------------------------------------------------------------- section 3 --

def ls_sample(srv, name, mk):
    """One fresh mount: `ls -l` twice (cold, then warm). Sample.tp holds
    the cold seconds, .cpu the warm seconds (the table says which)."""
    m = mk()
    try:
        d = os.path.join(m.mnt, "buckets", srv.bucket, "many") \
            if name == "amifs" else os.path.join(m.mnt, "many")
        out = os.path.join(CTX.work, "ls.out")
        res = []
        for _ in ("cold", "warm"):
            with open(out, "w") as f:
                r = run(["ls", "-l", d], srv.env, CTX.ls_timeout, stdout=f)
            with open(out) as f:
                cnt = sum(1 for line in f if not line.startswith("total"))
            res.append((r, cnt))
    finally:
        m.stop()
    (rc, cc), (rw, cw) = res
    bad = [r.why() for r in (rc, rw) if r.rc != 0]
    if cc != CTX.nkeys or cw != CTX.nkeys:
        bad.append("%d / %d entries" % (cc, cw))
    return Sample(None if bad else rc.wall, rw.wall if not bad else None,
                  note="; ".join(bad))


def cli_ls_sample(srv, exe):
    """`aws s3 ls` of the prefix twice; it keeps nothing, so "warm" is
    just the second run."""
    if not exe:
        return Sample(note="not installed")
    out = os.path.join(CTX.work, "ls.out")
    res = []
    for _ in ("cold", "warm"):
        with open(out, "w") as f:
            r = run([exe, "--endpoint-url", srv.url, "s3", "ls",
                     "s3://%s/many/" % srv.bucket], srv.env, CTX.ls_timeout,
                    stdout=f)
        with open(out) as f:
            res.append((r, sum(1 for _ in f)))
    (rc, cc), (rw, cw) = res
    bad = [r.why() for r in (rc, rw) if r.rc != 0]
    if cc != CTX.nkeys or cw != CTX.nkeys:
        bad.append("%d / %d entries" % (cc, cw))
    return Sample(None if bad else rc.wall, rw.wall if not bad else None,
                  note="; ".join(bad))


def section_ls(srv, repeat, nkeys=10000):
    prefix = "many/"
    CTX.nkeys = nkeys
    keys = ["%sk%05d" % (prefix, i) for i in range(nkeys)]
    t0 = time.monotonic()
    n = s3util.put_many(srv.s3, srv.bucket, keys, conc=32,
                        deadline=CTX.timeout)
    made = time.monotonic() - t0
    t = Table("3. `ls -l` of a prefix with %d keys" % nkeys,
              ["client", "cold s", "× amifs", "warm s", "× amifs", "note"],
              "Server: %s. Keys made with %d parallel PUTs in %.1f s (%d/s). "
              "Each run mounts afresh: cold = the first `ls -l`, warm = the "
              "second right after. Median of %d; lower is better."
              % (srv.label, 32, made, n / made if made else 0, repeat))
    clients = [(name, (lambda name=name, mk=mk: ls_sample(srv, name, mk)))
               for name, mk in (("amifs", lambda: amifs_mount(srv)),
                                ("s3fs", lambda: s3fs_mount(srv)),
                                ("rclone mount", lambda: rclone_mount(
                                    srv, "off")))]
    clients += [("aws s3 ls (pip CLI v1)",
                 lambda: cli_ls_sample(srv, aws_cli("v1")))]
    aggs = rounds(clients, repeat)
    CTX.results[("ls", srv.kind, nkeys)] = aggs
    ref = aggs[0]
    for a in aggs:
        note = a.note.replace("MB/s", "s cold")
        t.add(a.name, a.tp, ratio(a.tp, ref.tp), a.cpu, ratio(a.cpu, ref.cpu),
              note)


# --------------------------------------------------------------- section 5 --

def write_until_error(path, src, limit):
    """Write SRC into PATH 1 MiB at a time. Returns (seconds from the first
    write to the error, bytes accepted, error text or None)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sent, t0, err = 0, None, None
    try:
        with open(src, "rb") as f:
            while True:
                buf = f.read(MiB)
                if not buf:
                    break
                if t0 is None:
                    t0 = time.monotonic()
                os.write(fd, buf)
                sent += len(buf)
                if time.monotonic() - t0 > limit:
                    err = "no error after %ds" % limit
                    break
    except OSError as e:
        err = "write: " + os.strerror(e.errno)
    finally:
        try:
            os.close(fd)
        except OSError as e:
            err = err or "close: " + os.strerror(e.errno)
    return time.monotonic() - t0, sent, err


def section_bad_ova(srv):
    t = Table("5. Bad OVA: time from the first byte to the error",
              ["file size", "s to error", "bytes accepted", "error",
               "tasks/NAME/status"],
              "A tar whose first member is a disk, not the OVF. Server: %s."
              % srv.label)
    sizes = sorted({64 * MiB, *CTX.sizes})
    times = []
    for size in sizes:
        src = ensure_bad_ova(size)
        m = amifs_mount(srv)
        try:
            name = "bad-%dm.ova" % (size >> 20)
            secs, sent, err = write_until_error(
                os.path.join(m.mnt, "imports", name), src, CTX.timeout)
            try:
                with open(os.path.join(m.mnt, "tasks", name, "status")) as f:
                    status = f.read().strip()[:120]
            except OSError as e:
                status = "(%s)" % os.strerror(e.errno)
            times.append(secs)
            t.add(human(os.path.getsize(src)), secs, human_bytes(sent),
                  err or "NO ERROR", status)
        finally:
            m.stop()
    if len(times) >= 2 and times[0] > 0:
        t.add("ratio %s/%s" % (human(sizes[-1]), human(sizes[0])),
              "%.2f×" % (times[-1] / times[0]), "", "",
              "should be ≈1× (does not grow with size)")


def human_bytes(n):
    return "%.1f MiB" % (n / MiB) if n >= MiB else "%d B" % n


# --------------------------------------------------------------- section 6 --

def section_validation_cost(srv, repeat):
    size = CTX.size
    ova = ensure_big_ova(size)
    osz = os.path.getsize(ova)
    t = Table("6b. Validation's cost: the %s OVA into imports/ vs buckets/"
              % human(osz),
              ["target", "MB/s", "× buckets/", "daemon CPU s/GiB",
               "peak RSS MiB", "note"],
              "Server: %s. Median of %d. imports/ validates the OVA as it "
              "streams and its `cp` ends after ImportImage answered. "
              "Mounted with no_guest_check: fasts3's GETs are zeros, which "
              "the guest check rightly refuses (no partition table) and "
              "whose snapshot route needs UploadPartCopy, which fasts3 "
              "lacks; on a real image the check reads about 1 MiB."
              % (srv.label, repeat))

    def one(target):
        warm(ova)
        m = amifs_mount(srv, "no_guest_check")
        try:
            dst = os.path.join(m.mnt, "buckets", srv.bucket, "v/vm.ova") \
                if target == "buckets" else os.path.join(
                    m.mnt, "imports", "vc-%d.ova" % time.monotonic_ns())
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            c0 = m.cpu()
            r = run(["cp", ova, dst], srv.env, CTX.timeout)
            cpu, hwm = m.cpu() - c0, m.hwm()
        finally:
            m.stop()
        return Sample(mbs(osz, r.wall) if r.rc == 0 else None,
                      cpu / (osz / GiB), hwm / MiB,
                      note="" if r.rc == 0 else r.why())

    aggs = rounds([(tg + "/", lambda tg=tg: one(tg))
                   for tg in ("buckets", "imports")], repeat)
    CTX.results[("imports", srv.kind, size)] = aggs
    for a in aggs:
        t.add(a.name, a.tp, ratio(a.tp, aggs[0].tp), a.cpu, a.rss, a.note)


def section_time_to_task(moto):
    size = CTX.size
    ova = ensure_big_ova(size)
    warm(ova)
    t = Table("6. %s OVA: time to task start and to the end, vs the usual "
              "script" % human(os.path.getsize(ova)),
              ["way", "s to task start", "× amifs", "s to task end",
               "end state", "note"], "Server: %s (phase %gs)." % (
                  moto.label, CTX.phase))
    m = amifs_mount(moto)
    try:
        r = run(["cp", ova, os.path.join(m.mnt, "imports", "e2e-vm.ova")],
                moto.env, CTX.timeout)
        t_start = r.wall
        t0 = time.monotonic() - r.wall
        if r.rc != 0:
            t.add("amifs: cp + cat tasks/NAME/wait", None, "", None, "",
                  r.why())
            amifs_start = None
        else:
            w = run(["cat", os.path.join(m.mnt, "tasks", "e2e-vm.ova",
                                         "wait")], moto.env, CTX.timeout,
                    stdout=subprocess.PIPE)
            end = time.monotonic() - t0
            try:
                with open(os.path.join(m.mnt, "tasks", "e2e-vm.ova",
                                       "status")) as f:
                    state = f.read().strip()[:60]
            except OSError:
                state = "?"
            amifs_start = t_start
            t.add("amifs: cp + cat tasks/NAME/wait", t_start, "1.00×", end,
                  state, "" if w.rc == 0 else w.why())
    finally:
        m.stop()
    script = os.path.join(HERE, "import_script.sh")
    r = run(["bash", script, aws_cli("v1"), moto.url, ova, moto.bucket,
             "script/vm.ova", str(CTX.poll)], moto.env, CTX.timeout,
            stdout=subprocess.PIPE)
    marks = {}
    for line in r.err.splitlines():
        if line.startswith("MARK "):
            k, v = line.split()[1:3]
            marks[k] = float(v)
    s = marks.get("started", 0) - marks.get("begin", 0) if "started" in \
        marks else None
    e = marks.get("ended", 0) - marks.get("begin", 0) if "ended" in \
        marks else None
    t.add("script: aws s3 cp + ec2 import-image + describe poll (%ds) + "
          "create-tags" % CTX.poll, s, ratio(s, amifs_start), e,
          next((l[6:60] for l in r.err.splitlines()
                if l.startswith("STATE ")), "?"),
          "" if r.rc == 0 else r.why())


# --------------------------------------------------------------- section 4 --

def section_status_load(moto, readers=50):
    size = CTX.size
    src = ensure_random(os.path.join(CTX.cache, "rand-%d" % size), size)
    small = ensure_small_ova()
    old = moto.ep.set_phase_seconds(120)   # keep the task active throughout
    m = amifs_mount(moto)
    t = Table("4. `cat tasks/*/status` with %d concurrent readers during a "
              "%s upload" % (readers, human(size)),
              ["metric", "value", "note"], "Server: %s." % moto.label)
    try:
        r = run(["cp", small, os.path.join(m.mnt, "imports", "st-vm.ova")],
                moto.env, 300)
        if r.rc != 0:
            t.add("setup", "", "cp of a small OVA failed: " + r.why())
            return
        mark = moto.ep.mark()
        os.makedirs(os.path.join(m.mnt, "buckets", moto.bucket, "st"),
                    exist_ok=True)
        bg = subprocess.Popen(["cp", src, os.path.join(
            m.mnt, "buckets", moto.bucket, "st/big")], env=moto.env,
            stderr=subprocess.DEVNULL)
        lat, errors = [], []
        lock = threading.Lock()
        t0 = time.monotonic()
        stop_at = t0 + CTX.timeout

        def reader():
            mine = []
            while bg.poll() is None and time.monotonic() < stop_at:
                for p in glob.glob(os.path.join(m.mnt, "tasks", "*",
                                                "status")):
                    a = time.monotonic()
                    try:
                        with open(p, "rb") as f:
                            f.read()
                    except OSError as e:
                        errors.append(os.strerror(e.errno))
                    mine.append(time.monotonic() - a)
            with lock:
                lat.extend(mine)

        with concurrent.futures.ThreadPoolExecutor(readers) as ex:
            for f in [ex.submit(reader) for _ in range(readers)]:
                f.result()
        dur = time.monotonic() - t0
        if bg.poll() is None:
            bg.kill()
        bg.wait()
        calls = len(moto.ep.requests("DescribeImportImageTasks", since=mark))
        lat.sort()
        pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 \
            if lat else None  # noqa: E731
        t.add("upload duration s", dur, "cp exit %s" % bg.returncode)
        t.add("status reads", len(lat), "%.0f reads/s" % (len(lat) / dur))
        t.add("latency p50 ms", pct(0.5), "")
        t.add("latency p99 ms", pct(0.99), "")
        t.add("latency max ms", lat[-1] * 1000 if lat else None, "")
        t.add("read errors", len(errors), ", ".join(sorted(set(errors)))[:80])
        t.add("DescribeImportImageTasks calls", calls,
              "%.2f per second; %.4f per read" % (
                  calls / dur, calls / max(1, len(lat))))
    finally:
        m.stop()
        moto.ep.set_phase_seconds(old)
        moto.s3.delete(moto.bucket, "st/big")


def section_moto_ceiling(moto):
    size = CTX.moto_mib * MiB
    src = ensure_random(os.path.join(CTX.cache, "rand-%d" % size), size)
    t = Table("0m. moto's own ceiling (why the throughput rows use fasts3)",
              ["client", "MB/s", "moto CPU s/GiB", "moto peak RSS MiB",
               "note"],
              "Server: %s. Client: s3util.upload_parallel (this process, "
              "SigV4-signed, parts sent from an mmap)." % moto.label)
    c0 = moto.cpu()
    try:
        secs = s3util.upload_parallel(moto.s3, moto.bucket, "ceiling/raw",
                                      src, conc=8)
        t.add("raw parallel UploadPart, %s, 8 conns" % human(size),
              mbs(size, secs), (moto.cpu() - c0) / (size / GiB),
              moto.rss() / MiB, "moto (one Python process) is the limit")
    except Exception as e:  # noqa: BLE001
        t.add("raw parallel UploadPart", None, None, moto.rss() / MiB,
              str(e)[:160])
    moto.s3.delete(moto.bucket, "ceiling/raw")


# ------------------------------------------------------------------- main --

class Ctx:
    tables = []
    ceiling = {}        # (server kind, size, row name) -> Agg, from section 0
    results = {}        # (section, server kind, size) -> [Agg], for goals


CTX = Ctx()
# ------------------------------------------------------------ section mem --

def proc_io_wchar(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def section_memory(srv, gib, opts=""):
    """Stream GIB GiB from /dev/zero into buckets/ (fasts3 --discard) and
    sample the daemon's VmHWM as the parts grow (aws/mpu.h: one memory
    budget per mount; parts over a quarter of it are staged in files)."""
    t = Table("mem. Peak RSS while streaming %d GiB from /dev/zero%s" % (
        gib, " (-o %s)" % opts if opts else ""),
        ["GiB written", "part size MiB (schedule)", "daemon VmHWM MiB",
         "daemon RSS now MiB", "MB/s so far", "note"],
        "Server: %s. `dd if=/dev/zero bs=1M count=%d` into the mount; the "
        "daemon's /proc status sampled every second, a row every ~%d GiB. "
        "Not part of the test suite (tests/bench only)." % (
            srv.label, gib << 10, max(1, gib // 16)))
    m = amifs_mount(srv, opts)
    rows, every = [], max(1, gib // 16) * GiB
    try:
        dst = os.path.join(m.mnt, "buckets", srv.bucket, "mem-%d" % gib)
        t0 = time.monotonic()
        dd = subprocess.Popen(["dd", "if=/dev/zero", "of=" + dst, "bs=1M",
                               "count=%d" % (gib << 10)],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        nxt, hwm = every, 0
        while dd.poll() is None:
            time.sleep(1)
            try:
                done = proc_io_wchar(dd.pid)
            except OSError:
                break
            hwm = max(hwm, m.hwm())
            if done >= nxt:
                nxt += every
                rows.append((done, hwm, proc_rss(m.proc.pid),
                             time.monotonic() - t0))
        hwm = max(hwm, m.hwm())
        wall = time.monotonic() - t0
        rows.append((gib * GiB, hwm, proc_rss(m.proc.pid), wall))
        note = "dd exit %d" % dd.returncode
    finally:
        m.stop()
    for done, h, rss, el in rows:
        t.add("%.1f" % (done / GiB), part_mib(done), h / MiB, rss / MiB,
              done / el / 1e6 if el else None, "")
    t.add("peak < 200 MiB", "", max(r[1] for r in rows) / MiB, "", "",
          ("PASS" if max(r[1] for r in rows) < 200 * MiB else "FAIL") +
          "; " + note)


def proc_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def part_mib(offset):
    """The part size at byte OFFSET (aws/mpu.c's schedule for 8 MiB first
    parts and a 5 TiB maximum: 1089 parts per doubling)."""
    size, n, at = 8 * MiB, 0, 0
    while at + size <= offset:
        at += size
        n += 1
        if n % 1089 == 0 and size < 5 * GiB:
            size *= 2
    return size // MiB


ALL_SECTIONS = "0,1,2,3,4,5,6,wan,resume,mem"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / (1 << 20)
    return "nproc %d, %.1f GiB RAM, CPU %s, kernel %s" % (
        os.cpu_count(), mem, cpu, platform.release())


def parse_args():
    ap = argparse.ArgumentParser(
        prog="tests/bench/run.sh", description=__doc__.split("\n")[0],
        epilog="Sections: 0 server ceiling (curl), 1 write, 2 read, 3 ls -l "
        "of 10,000 keys, 4 status readers during an upload (moto), 5 bad "
        "OVA, 6 validation cost + time to task (moto), wan the shaped-link "
        "profile (ceiling + write), resume a re-copy after a failure at 90 % "
        "on the shaped link (tests/bench/resume_bench.py), mem peak RSS while streaming --mem-gib "
        "GiB from /dev/zero. Default: all of them.")
    ap.add_argument("--sections", default=ALL_SECTIONS,
                    help="comma list of sections (default %(default)s)")
    ap.add_argument("--sizes", default="1024,4096",
                    help="write/read sizes in MiB (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per row on fasts3; the median is reported "
                    "(default 3)")
    ap.add_argument("--big-repeat", type=int, default=3,
                    help="runs per write/read row for sizes over 1 GiB "
                    "(default 3; a 4 GiB round of every client takes ~5 "
                    "min here)")
    ap.add_argument("--moto-repeat", type=int, default=1,
                    help="runs of the slow moto sections (default 1)")
    ap.add_argument("--quick", action="store_true",
                    help="1 GiB only, one run per row, small WAN file")
    ap.add_argument("--wan-mib", type=int, default=256,
                    help="file size for the WAN rows (default 256)")
    ap.add_argument("--wan-repeat", type=int, default=3,
                    help="runs per WAN row (default 3)")
    ap.add_argument("--wan-rate", default="100mbit",
                    help="per-TCP-connection rate (default 100mbit)")
    ap.add_argument("--wan-delay-ms", type=int, default=15,
                    help="added delay each way (default 15 = 30 ms RTT)")
    ap.add_argument("--moto-mib", type=int, default=1024,
                    help="size for moto's ceiling row")
    ap.add_argument("--phase", type=float, default=1.0,
                    help="VM Import phase seconds for section 6")
    ap.add_argument("--poll", type=int, default=5,
                    help="the script's describe polling interval")
    ap.add_argument("--timeout", type=int, default=900,
                    help="bound on every single operation (s)")
    ap.add_argument("--mem-gib", type=int, default=300,
                    help="GiB streamed by section mem (default 300; "
                    "~1 h at 100 MB/s)")
    ap.add_argument("--work", default="/tmp/amifs-bench")
    ap.add_argument("--out", default=None, help="Markdown file")
    a = ap.parse_args()
    if a.quick:
        a.sizes, a.wan_mib = "1024", min(a.wan_mib, 128)
        a.repeat = a.big_repeat = a.wan_repeat = 1
    a.sizes = [int(x) * MiB for x in a.sizes.split(",") if x]
    return a


def main():
    a = parse_args()
    CTX.size, CTX.sizes, CTX.timeout = a.sizes[0], a.sizes, a.timeout
    CTX.ls_timeout = min(a.timeout, 600)
    CTX.moto_mib, CTX.phase, CTX.poll = a.moto_mib, a.phase, a.poll
    CTX.build = os.environ.get("AMIFS_BUILD_DIR", os.path.join(ROOT, "build"))
    CTX.work = os.path.join(a.work, "run-%d" % os.getpid())
    CTX.cache = os.path.join(a.work, "cache")
    os.makedirs(CTX.work)
    os.makedirs(CTX.cache, exist_ok=True)
    secs = set(a.sections.split(","))
    if not os.access(amifs_bin(), os.X_OK):
        sys.exit("amifs is not built: %s" % amifs_bin())
    started = datetime.datetime.now()
    t0 = time.monotonic()
    CTX.load_before = other_load()
    try:
        run_local(a, secs)
        run_moto(a, secs)
        if secs & {"wan", "resume"}:
            run_wan(a, secs)
    finally:
        shutil.rmtree(CTX.work, ignore_errors=True)
    report(a, started, time.monotonic() - t0)


def run_local(a, secs):
    if not secs & {"0", "1", "2", "3", "5", "6", "mem"}:
        return
    srv = FastServer(CTX.work).start()
    try:
        if "0" in secs:
            section_ceiling(srv, a.sizes, a.repeat)
        for size in a.sizes:
            n = a.repeat if size <= GiB else a.big_repeat
            if "1" in secs:
                section_write(srv, [size], n)
            if "2" in secs:
                section_read(srv, [size], n)
        if "3" in secs:
            section_ls(srv, a.repeat)
        if "5" in secs:
            section_bad_ova(srv)
        if "6" in secs:
            section_validation_cost(srv, a.repeat)
        if "mem" in secs:
            section_memory(srv, a.mem_gib)
    finally:
        srv.stop()


def run_moto(a, secs):
    if not secs & {"0", "4", "6"}:
        return
    moto = MotoServer(CTX.work).start(phase_seconds=a.phase)
    try:
        if "0" in secs:
            section_moto_ceiling(moto)
        for _ in range(a.moto_repeat):
            if "4" in secs:
                section_status_load(moto)
            if "6" in secs:
                section_time_to_task(moto)
    finally:
        moto.stop()


def run_wan(a, secs):
    import wan as wanmod
    size = a.wan_mib * MiB
    w = wanmod.Wan(CTX.work, rate=a.wan_rate, delay_ms=a.wan_delay_ms).up()
    srv = None
    try:
        srv = w.front(FastServer(CTX.work, w.ns).start())
        srv.kind = "wan"    # its own goals (section_goals)
        rtt = w.rtt(srv)
        extra = " — WAN profile (%s; measured RTT of one small request: " \
            "%s)" % (w.describe(), rtt)
        if "wan" in secs:
            section_ceiling(srv, [size], a.wan_repeat, extra, (4, 8, 16))
            section_write(srv, [size], a.wan_repeat, extra, wide=True)
        if "resume" in secs:
            import resume_bench
            resume_bench.section(sys.modules[__name__], srv, size,
                                 a.wan_repeat, extra)
    finally:
        if srv:
            srv.stop()
        w.down()


def _agg(section, kind, size, name_start):
    for a in CTX.results.get((section, kind, size), []):
        if a.name.startswith(name_start):
            return a
    return None


def _goal(t, goal, value, ref, want, higher=True, unit=""):
    """One row: the goal, amifs's value, the peer's, the ratio and
    whether it is met (ratio >= want, or <= want when lower is better)."""
    if value is None or not ref:
        t.add(goal, fmt(value) + unit, fmt(ref) + unit, "–", "not measured")
        return
    r = value / ref
    ok = r >= want if higher else r <= want
    t.add(goal, fmt(value) + unit, fmt(ref) + unit, "%.2f×" % r,
          "PASS" if ok else "FAIL")


def _goals_wan(t, kind):
    """The WAN profile's one goal: amifs with default options against the
    best curl ceiling of the same shaped link."""
    for (sec, k, size) in sorted(CTX.results):
        if k != "wan" or kind != "wan" or sec != "write":
            continue
        am = _agg("write", k, size, "amifs")
        ceil = [a for (kk, sz, n), a in CTX.ceiling.items()
                if kk == k and sz == size and "parallel" in n]
        if am and ceil:
            _goal(t, "WAN write, defaults ≥ 0.9× best curl ceiling (%s)"
                  % human(size), am.tp, max(c.tp or 0 for c in ceil), 0.9)


def _goals_imports(t, kind):
    """imports/ against buckets/ with the same file (section 6b)."""
    for (sec, k, size) in sorted(CTX.results):
        if k != kind or sec != "imports":
            continue
        bk = _agg("imports", k, size, "buckets/")
        im = _agg("imports", k, size, "imports/")
        if bk and im:
            _goal(t, "imports/ ≥ 0.9× buckets/ (%s, %s)" % (k, human(size)),
                  im.tp, bk.tp, 0.9)


def section_goals():
    """The goals of doc/design/perf.md as ratios against the peers
    measured in this same run (only what this run measured)."""
    t = Table("Goals: amifs against the peers of this run",
              ["goal", "amifs", "peer", "ratio", "verdict"],
              "Ratios of medians from the tables above (same server, same "
              "run). CPU = daemon + cp.")
    kinds = sorted({k[1] for k in CTX.results})
    for kind in kinds:
        _goals_wan(t, kind)
        _goals_imports(t, kind)
        for (sec, k, size) in sorted(CTX.results):
            if k != kind or sec != "write" or kind == "wan":
                continue
            am, v1 = _agg("write", kind, size, "amifs"), \
                _agg("write", kind, size, "aws s3 cp (pip")
            ceil = [a for (kk, sz, n), a in CTX.ceiling.items()
                    if kk == kind and sz == size and "parallel" in n]
            tag = "%s, %s" % (kind, human(size))
            if am and v1:
                _goal(t, "write MB/s ≥ 1.5× pip CLI (%s)" % tag, am.tp,
                      v1.tp, 1.5)
                _goal(t, "write CPU ≤ 0.5× pip CLI (%s)" % tag, am.cpu,
                      v1.cpu, 0.5, higher=False, unit=" s/GiB")
            if am:
                _goal(t, "write CPU ≤ 1.25 s/GiB (%s)" % tag, am.cpu, 1.25,
                      1.0, higher=False, unit=" s/GiB")
                _goal(t, "peak RSS ≤ 128 MiB (%s)" % tag, am.rss, 128, 1.0,
                      higher=False, unit=" MiB")
            if am and ceil:
                _goal(t, "write ≥ 0.8× curl multipart ceiling (%s)" % tag,
                      am.tp, max(c.tp or 0 for c in ceil), 0.8)
        for (sec, k, size) in sorted(CTX.results):
            if k != kind or sec != "read":
                continue
            am = _agg("read", kind, size, "amifs cat")
            v1 = _agg("read", kind, size, "aws s3 cp s3://… - (pip")
            if am and v1:
                _goal(t, "read ≥ 1.2× aws s3 cp - (%s, %s)" % (
                    kind, human(size)), am.tp, v1.tp, 1.2)
        for (sec, k, n) in sorted(CTX.results):
            if k != kind or sec != "ls":
                continue
            am = _agg("ls", kind, n, "amifs")
            rc = _agg("ls", kind, n, "rclone")
            if am:
                _goal(t, "warm ls -l of %d keys ≤ 0.2 s" % n, am.cpu, 0.2,
                      1.0, higher=False, unit=" s")
            cli = _agg("ls", kind, n, "aws s3 ls (pip")
            if am and cli:
                _goal(t, "cold ls -l ≤ 0.8× aws s3 ls", am.tp, cli.tp, 0.8,
                      higher=False, unit=" s")
            if am and rc:
                _goal(t, "warm ls -l ≤ rclone's", am.cpu, rc.cpu, 1.0,
                      higher=False, unit=" s")
                _goal(t, "cold ls -l ≤ rclone's", am.tp, rc.tp, 1.0,
                      higher=False, unit=" s")


def report(a, started, secs):
    if CTX.results:
        section_goals()
    others = other_load()
    head = ["# amifs benchmark — %s" % started.strftime("%Y-%m-%d %H:%M"),
            "", "Machine: %s. " % machine(),
            "Command: `tests/bench/run.sh %s` (took %.0f min)." % (
                " ".join(sys.argv[1:]), secs / 60),
            "Load before the run (others only): %s." % CTX.load_before,
            "Load at the end (this run included): %s." % others, ""]
    text = "\n".join(head) + "\n" + "\n".join(t.markdown() for t in CTX.tables)
    print(text)
    out = a.out or os.path.join(HERE, "results-%s.md" % (
        started.strftime("%Y-%m-%d")))
    with open(out, "w") as f:
        f.write(text)
    log("wrote " + out)


def other_load():
    """The load average and the busiest other processes: on a shared
    machine the reader must know whether the numbers were disturbed."""
    with open("/proc/loadavg") as f:
        la = " ".join(f.read().split()[:3])
    p = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"],
                       capture_output=True, text=True)
    top = [l.split(None, 1) for l in p.stdout.splitlines()[:4]]
    return "loadavg %s; busiest processes (ps %%CPU, lifetime) %s" % (
        la, ", ".join(
        "%s %s%%" % (c[1].strip(), c[0]) for c in top if len(c) == 2))


if __name__ == "__main__":
    main()
