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
import resource
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
    label = "fasts3 (tests/bench/fasts3.py: a throughput sink, no signature checks)"

    def __init__(self, work, netns=None, host="127.0.0.1"):
        self.dir = os.path.join(work, "fasts3")
        self.netns, self.host, self.bucket = netns, host, "bench"
        self.proc = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        pf = os.path.join(self.dir, "port")
        if os.path.exists(pf):
            os.unlink(pf)
        argv = [sys.executable, os.path.join(HERE, "fasts3.py"), "--host",
                self.host, "--port", "0", "--port-file", pf, "--dir",
                os.path.join(self.dir, "data"), "--bucket", self.bucket]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns] + argv
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

    def stop(self):
        self.ep.stop()


# ----------------------------------------------------------------- clients --

def amifs_bin():
    return os.path.join(CTX.build, "fs", "amifs")


def amifs_mount(srv, opts=""):
    o = "endpoint=%s,bucket=%s" % (srv.url, srv.bucket) + (
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


# --------------------------------------------------------------- section 1 --

def write_rows(srv, size, tag):
    """[(tool, MB/s, cpu s/GiB, peak RSS MiB, note)] for one size."""
    src = ensure_random(os.path.join(CTX.cache, "rand-%d" % size), size)
    warm(src)
    rows = []
    gib = size / GiB

    def fuse_write(name, mountfn, after=None):
        key = "w/%s-%s" % (name.replace(" ", "_"), tag)
        try:
            m = mountfn()
        except Exception as e:  # noqa: BLE001 — a peer that cannot run
            rows.append((name, None, None, None, str(e)[:160]))
            return
        try:
            root = os.path.join(m.mnt, "buckets", srv.bucket) \
                if name == "amifs" else m.mnt
            os.makedirs(os.path.join(root, "w"), exist_ok=True)
            c0 = m.cpu()
            r = run(["cp", src, os.path.join(root, key)], srv.env,
                    CTX.timeout)
            wall = r.wall
            if r.rc == 0 and after:
                wall = after(key, r.wall)
            cpu = m.cpu() - c0 + r.cpu
            note = "" if r.rc == 0 else r.why()
            if r.rc == 0 and srv.s3.size(srv.bucket, key) != size:
                note = "object missing or wrong size after cp"
            rows.append((name, mbs(size, wall) if not note else None,
                         cpu / gib, m.hwm() / MiB, note))
        finally:
            m.stop()
        if not name.startswith("amifs"):
            srv.s3.delete(srv.bucket, key)

    def wait_visible(key, t_cp):
        # rclone writes mode: cp ends at the local cache; the upload follows
        t0 = time.monotonic() - t_cp
        end = time.monotonic() + CTX.timeout
        while time.monotonic() < end:
            if srv.s3.size(srv.bucket, key) == size:
                return time.monotonic() - t0
            time.sleep(0.1)
        return float("inf")

    def cli_write(name, exe, key):
        if not exe:
            rows.append((name, None, None, None, "not installed"))
            return
        r = run([exe, "--endpoint-url", srv.url, "s3", "cp",
                 "--only-show-errors", src, "s3://%s/%s" % (srv.bucket, key)],
                srv.env, CTX.timeout)
        ok = r.rc == 0 and srv.s3.size(srv.bucket, key) == size
        rows.append((name, mbs(size, r.wall) if ok else None, r.cpu / gib,
                     r.rss / MiB, "" if ok else r.why()))
        srv.s3.delete(srv.bucket, key)

    fuse_write("amifs", lambda: amifs_mount(srv))
    cli_write("aws s3 cp (pip CLI v1)", aws_cli("v1"), "w/awsv1-" + tag)
    cli_write("aws s3 cp (/usr/bin/aws v2)", aws_cli("v2"), "w/awsv2-" + tag)
    fuse_write("s3fs", lambda: s3fs_mount(srv))
    fuse_write("rclone mount, cache off", lambda: rclone_mount(srv, "off"))
    fuse_write("rclone mount, cache writes", lambda: rclone_mount(
        srv, "writes"), after=wait_visible)
    # the ceiling: raw parallel UploadParts from this process
    for conc in (4, 8):
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        try:
            secs = s3util.upload_parallel(srv.s3, srv.bucket, "w/raw-" + tag,
                                          src, conc=conc)
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
            rows.append(("ceiling: raw parallel UploadPart (%d conns, 16 MiB)"
                         % conc, mbs(size, secs), cpu / gib, None,
                         "in-process client"))
        except Exception as e:  # noqa: BLE001
            rows.append(("ceiling: raw parallel UploadPart", None, None, None,
                         str(e)[:160]))
        srv.s3.delete(srv.bucket, "w/raw-" + tag)
    ex = os.path.join(CTX.build, "examples", "s3-upload")
    if os.access(ex, os.X_OK):
        r = run([ex, "-c", "8", "-p", "16", src,
                 "s3://%s/w/s3upload-%s" % (srv.bucket, tag)],
                dict(srv.env, AWS_ENDPOINT_URL=srv.url), CTX.timeout)
        rows.append(("ceiling: examples/s3-upload -c 8 -p 16",
                     mbs(size, r.wall) if r.rc == 0 else None, r.cpu / gib,
                     r.rss / MiB, "" if r.rc == 0 else r.why()))
        srv.s3.delete(srv.bucket, "w/s3upload-" + tag)
    return rows


def section_write(srv, title_extra=""):
    sizes = [CTX.size] + ([4 * GiB] if CTX.big else [])
    for size in sizes:
        tag = "%dm" % (size >> 20)
        t = Table("1. Write %s from a local file into S3%s" % (
            human(size), title_extra),
            ["client", "MB/s", "× amifs", "CPU s/GiB", "× amifs",
             "peak RSS MiB", "× amifs", "note"],
            "Server: %s. CPU = the FUSE daemon's utime+stime (plus cp) or "
            "the CLI's rusage; RSS = daemon VmHWM or CLI max RSS."
            % srv.label)
        rows = write_rows(srv, size, tag)
        ref = rows[0]
        for name, tp, cpu, rss, note in rows:
            t.add(name, tp, ratio(tp, ref[1]), cpu, ratio(cpu, ref[2]), rss,
                  ratio(rss, ref[3]), note)
        if ref[3] is not None:
            t.add("amifs peak RSS < 200 MiB", "", "", "", "", ref[3], "",
                  "PASS" if ref[3] < 200 else "FAIL")


def human(n):
    return "%d GiB" % (n >> 30) if n >= GiB else "%d MiB" % (n >> 20)


# --------------------------------------------------------------- section 2 --

def section_read(srv):
    size = CTX.size
    key = "w/amifs-%dm" % (size >> 20)
    t = Table("2. Read the %s object back" % human(size),
              ["client", "MB/s", "× amifs cat", "CPU s/GiB", "peak RSS MiB",
               "note"], "Server: %s." % srv.label)
    if srv.s3.size(srv.bucket, key) != size:
        srcp = os.path.join(CTX.cache, "rand-%d" % size)
        ensure_random(srcp, size)
        s3util.upload_parallel(srv.s3, srv.bucket, key, srcp)
    gib = size / GiB
    ref = None
    for how in ("cat > /dev/null", "cp to local disk"):
        m = amifs_mount(srv)
        try:
            c0 = m.cpu()
            path = os.path.join(m.mnt, "buckets", srv.bucket, key)
            if how.startswith("cat"):
                r = run(["cat", path], srv.env, CTX.timeout)
            else:
                dst = os.path.join(CTX.work, "readback")
                r = run(["cp", path, dst], srv.env, CTX.timeout)
                os.unlink(dst) if os.path.exists(dst) else None
            tp = mbs(size, r.wall) if r.rc == 0 else None
            ref = ref or tp
            t.add("amifs " + how, tp, ratio(tp, ref),
                  (m.cpu() - c0 + r.cpu) / gib, m.hwm() / MiB,
                  "" if r.rc == 0 else r.why())
        finally:
            m.stop()
    for name, which in (("aws s3 cp s3://… - (pip v1)", "v1"),
                        ("aws s3 cp s3://… - (/usr/bin/aws v2)", "v2")):
        exe = aws_cli(which)
        if not exe:
            t.add(name, "", "", "", "", "not installed")
            continue
        r = run([exe, "--endpoint-url", srv.url, "s3", "cp",
                 "s3://%s/%s" % (srv.bucket, key), "-"], srv.env, CTX.timeout)
        tp = mbs(size, r.wall) if r.rc == 0 else None
        t.add(name, tp, ratio(tp, ref), r.cpu / gib, r.rss / MiB,
              "" if r.rc == 0 else r.why())
    for name, mk in (("s3fs cat", lambda: s3fs_mount(srv)),
                     ("rclone mount (off) cat",
                      lambda: rclone_mount(srv, "off"))):
        try:
            m = mk()
        except Exception as e:  # noqa: BLE001
            t.add(name, "", "", "", "", str(e)[:160])
            continue
        try:
            c0 = m.cpu()
            r = run(["cat", os.path.join(m.mnt, key)], srv.env, CTX.timeout)
            tp = mbs(size, r.wall) if r.rc == 0 else None
            t.add(name, tp, ratio(tp, ref), (m.cpu() - c0 + r.cpu) / gib,
                  m.hwm() / MiB, "" if r.rc == 0 else r.why())
        finally:
            m.stop()


# --------------------------------------------------------------- section 3 --

def section_ls(srv, nkeys=10000):
    prefix = "many/"
    keys = ["%sk%05d" % (prefix, i) for i in range(nkeys)]
    t0 = time.monotonic()
    n = s3util.put_many(srv.s3, srv.bucket, keys, conc=32,
                        deadline=CTX.timeout)
    made = time.monotonic() - t0
    t = Table("3. `ls -l` of a prefix with %d keys" % nkeys,
              ["client", "cold s", "× amifs", "warm s", "× amifs", "entries",
               "note"],
              "Server: %s. Keys made with %d parallel PUTs in %.1f s (%d/s)."
              % (srv.label, 32, made, n / made if made else 0))
    ref = None
    for name, mk in (("amifs", lambda: amifs_mount(srv)),
                     ("s3fs", lambda: s3fs_mount(srv)),
                     ("rclone mount", lambda: rclone_mount(srv, "off"))):
        try:
            m = mk()
        except Exception as e:  # noqa: BLE001
            t.add(name, "", "", "", "", "", str(e)[:160])
            continue
        try:
            d = os.path.join(m.mnt, "buckets", srv.bucket, "many") \
                if name == "amifs" else os.path.join(m.mnt, "many")
            out = os.path.join(CTX.work, "ls.out")
            res = []
            for _ in ("cold", "warm"):
                with open(out, "w") as f:
                    r = run(["ls", "-l", d], srv.env, CTX.ls_timeout,
                            stdout=f)
                with open(out) as f:
                    cnt = sum(1 for l in f if not l.startswith("total"))
                res.append((r, cnt))
            (rc, cc), (rw, cw) = res
            cold = rc.wall if rc.rc == 0 else None
            warm_ = rw.wall if rw.rc == 0 else None
            if ref is None:
                ref = (cold, warm_)
            note = "" if rc.rc == 0 and rw.rc == 0 else (
                rc.why() if rc.rc != 0 else rw.why())
            t.add(name, cold, ratio(cold, ref[0]), warm_,
                  ratio(warm_, ref[1]), "%d / %d" % (cc, cw), note)
        finally:
            m.stop()


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
    sizes = [64 * MiB, CTX.size]
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
    if len(times) == 2 and times[0] > 0:
        t.add("ratio big/small", "%.2f×" % (times[1] / times[0]), "", "",
              "should be ≈1× (does not grow with size)")


def human_bytes(n):
    return "%.1f MiB" % (n / MiB) if n >= MiB else "%d B" % n


# --------------------------------------------------------------- section 6 --

def section_validation_cost(srv):
    size = CTX.size
    ova = ensure_big_ova(size)
    warm(ova)
    osz = os.path.getsize(ova)
    t = Table("6b. Validation's cost: the %s OVA into imports/ vs buckets/"
              % human(osz),
              ["target", "MB/s", "× buckets/", "daemon CPU s/GiB",
               "peak RSS MiB", "note"], "Server: %s." % srv.label)
    ref = None
    for target in ("buckets", "imports"):
        m = amifs_mount(srv)
        try:
            dst = os.path.join(m.mnt, "buckets", srv.bucket, "v/vm.ova") \
                if target == "buckets" else os.path.join(m.mnt, "imports",
                                                         "vc-vm.ova")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            c0 = m.cpu()
            r = run(["cp", ova, dst], srv.env, CTX.timeout)
            tp = mbs(osz, r.wall) if r.rc == 0 else None
            ref = ref or tp
            t.add(target + "/", tp, ratio(tp, ref),
                  (m.cpu() - c0) / (osz / GiB), m.hwm() / MiB,
                  "cp ends after ImportImage answered" if target == "imports"
                  and r.rc == 0 else ("" if r.rc == 0 else r.why()))
        finally:
            m.stop()


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
    t = Table("0. moto's own ceiling (why the throughput rows use fasts3)",
              ["client", "MB/s", "moto peak RSS MiB", "note"],
              "Server: %s." % moto.label)
    try:
        secs = s3util.upload_parallel(moto.s3, moto.bucket, "ceiling/raw",
                                      src, conc=8)
        t.add("raw parallel UploadPart, %s, 8 conns" % human(size),
              mbs(size, secs), moto.rss() / MiB, "")
    except Exception as e:  # noqa: BLE001
        t.add("raw parallel UploadPart", None, moto.rss() / MiB, str(e)[:160])
    moto.s3.delete(moto.bucket, "ceiling/raw")


# ------------------------------------------------------------------- main --

class Ctx:
    tables = []


CTX = Ctx()


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


def main():
    ap = argparse.ArgumentParser(prog="tests/bench/run.sh",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--server", choices=["fast", "moto"], default="fast",
                    help="server for the throughput rows (default fast)")
    ap.add_argument("--big", action="store_true", help="also write 4 GiB")
    ap.add_argument("--wan", action="store_true",
                    help="shaped link in a network namespace (see wan.py)")
    ap.add_argument("--size-mib", type=int, default=1024,
                    help="the big file (default 1024 = 1 GiB)")
    ap.add_argument("--moto-mib", type=int, default=1024,
                    help="size for moto's ceiling row")
    ap.add_argument("--sections", default="0,1,2,3,4,5,6",
                    help="comma list of sections to run")
    ap.add_argument("--phase", type=float, default=1.0,
                    help="VM Import phase seconds for section 6")
    ap.add_argument("--poll", type=int, default=5,
                    help="the script's describe polling interval")
    ap.add_argument("--timeout", type=int, default=900,
                    help="bound on every single operation (s)")
    ap.add_argument("--work", default="/tmp/amifs-bench")
    ap.add_argument("--out", default=None, help="Markdown file")
    a = ap.parse_args()
    CTX.size, CTX.big, CTX.timeout = a.size_mib * MiB, a.big, a.timeout
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
    wan = None
    try:
        if a.wan:
            import wan as wanmod
            wan = wanmod.Wan(CTX.work).up()
        run_sections(a, secs, wan)
    finally:
        if wan:
            wan.down()
        shutil.rmtree(CTX.work, ignore_errors=True)
    report(a, started)


def run_sections(a, secs, wan):
    moto = None
    need_moto = a.server == "moto" or secs & {"0", "4", "6"}
    try:
        if need_moto and not a.wan:
            moto = MotoServer(CTX.work).start(phase_seconds=a.phase)
            if "0" in secs:
                section_moto_ceiling(moto)
        if a.server == "moto" and not a.wan:
            srv = moto
        else:
            srv = FastServer(CTX.work, *((wan.ns, wan.server_ip)
                                         if wan else ())).start()
            if wan:
                srv = wan.front(srv)
        try:
            extra = " — WAN profile: %s" % wan.describe() if wan else ""
            if "1" in secs:
                section_write(srv, extra)
            if "2" in secs:
                section_read(srv)
            if "3" in secs and not wan:
                section_ls(srv)
            if "5" in secs and not wan:
                section_bad_ova(srv)
            if "6" in secs and not wan:
                section_validation_cost(srv)
        finally:
            if srv is not moto:
                srv.stop()
        if moto and "4" in secs:
            section_status_load(moto)
        if moto and "6" in secs:
            section_time_to_task(moto)
    finally:
        if moto:
            moto.stop()


def report(a, started):
    head = ["# amifs benchmark — %s" % started.strftime("%Y-%m-%d %H:%M"),
            "", "Machine: %s. " % machine(),
            "Command: `tests/bench/run.sh %s`." % " ".join(sys.argv[1:]), ""]
    text = "\n".join(head) + "\n" + "\n".join(t.markdown() for t in CTX.tables)
    print(text)
    out = a.out or os.path.join(HERE, "results-%s%s.md" % (
        started.strftime("%Y-%m-%d"), "-wan" if a.wan else ""))
    with open(out, "w") as f:
        f.write(text)
    log("wrote " + out)


if __name__ == "__main__":
    main()
