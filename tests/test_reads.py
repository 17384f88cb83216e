"""Reads out of buckets/ (doc/design/perf.md, "Reads"): a sequential reader
keeps several ranged GETs in flight, each with If-Match on the ETag seen at
open, and hands the bytes out in order; random reads fetch small ranges;
an object replaced during a read fails the read with ESTALE instead of
mixing versions; a corrupted range fails the whole-file read with EIO; a
reader killed or closed with ranges in flight leaves nothing running."""
import errno
import os
import random
import signal
import subprocess
import time

import pytest
from shared_fixtures import key_of

MiB = 1 << 20


def _put(endpoint, tmp_path, key, data):
    src = tmp_path / ("src-%d" % random.getrandbits(32))
    src.write_bytes(data)
    endpoint.aws("s3", "cp", str(src), "s3://%s/%s" % (endpoint.bucket, key),
                 json=False)
    return src


def _object(mount, endpoint, tmp_path, size, seed, name="f"):
    """An object of SIZE random bytes written by the AWS CLI: (path in the
    mount, key, bytes)."""
    d = mount.workdir("rd")
    path = os.path.join(d, name)
    key = key_of(mount, path)
    data = random.Random(seed).randbytes(size)
    _put(endpoint, tmp_path, key, data)
    return path, key, data


def _gets(endpoint, key, since):
    return [r for r in endpoint.requests("GetObject", since=since)
            if r["path"].endswith("/" + key)]


def _most_at_once(recs):
    """The largest number of requests whose [t, t + ms] overlap."""
    ev = []
    for r in recs:
        ev += [(r["t"], 1), (r["t"] + r["ms"] / 1000.0, -1)]
    best = cur = 0
    for _, d in sorted(ev, key=lambda e: (e[0], e[1])):
        cur += d
        best = max(best, cur)
    return best


def test_sequential_read_is_parallel_ranged_gets(mount, endpoint, tmp_path):
    # 26 MiB: ranges of a quarter of a growing window, so several are
    # in flight at once; each GET answers 0.3 s late, so overlap shows.
    path, key, data = _object(mount, endpoint, tmp_path, 26 * MiB + 777, 1)
    etag = endpoint.aws("s3api", "head-object", "--bucket", endpoint.bucket,
                        "--key", key)["ETag"]
    since = endpoint.mark()
    endpoint.set_faults([{"service": "s3", "op": "GetObject",
                          "action": "delay", "delay_ms": 300,
                          "key_prefix": key}])
    try:
        out = tmp_path / "out"
        subprocess.run(["cp", path, str(out)], check=True, timeout=60)
    finally:
        endpoint.clear_faults()
    gets = _gets(endpoint, key, since)          # amifs's, not the CLI's
    cli = subprocess.run(
        [endpoint.clis["v1"], "--endpoint-url", endpoint.url, "s3", "cp",
         "s3://%s/%s" % (endpoint.bucket, key), "-"],
        capture_output=True, env=endpoint.env, check=True).stdout
    assert cli == data
    assert out.read_bytes() == data           # byte-exact, like the CLI's
    assert gets and all(g["if_match"] == etag for g in gets), gets
    assert all((g["range"] or "").startswith("bytes=") for g in gets), gets
    # every byte asked once, in ranges of at most 8 MiB
    spans = sorted(tuple(int(x) for x in g["range"][6:].split("-"))
                   for g in gets)
    assert spans[0][0] == 0 and spans[-1][1] == len(data) - 1
    assert all(b[0] == a[1] + 1 for a, b in zip(spans, spans[1:])), spans
    assert max(b - a + 1 for a, b in spans) <= 8 * MiB
    assert _most_at_once(gets) >= 3, gets


def test_random_reads_fetch_small_ranges(mount, endpoint, tmp_path):
    path, key, data = _object(mount, endpoint, tmp_path, 20 * MiB, 2)
    rnd = random.Random(5)
    since = endpoint.mark()
    with open(path, "rb", buffering=0) as f:
        f.read(100)                   # a first read at 0 starts a stream
        for _ in range(25):
            off = rnd.randrange(MiB * 2, len(data) - 5000)
            f.seek(off)
            assert f.read(5000) == data[off:off + 5000]
        # (the stream's first ranges lie below 2 MiB)
        random_gets = [g for g in _gets(endpoint, key, since)
                       if int(g["range"][6:].split("-")[0]) >= 2 * MiB]
        # a sequential run after the seeks still reads right
        f.seek(7 * MiB + 3)
        got = b"".join(f.read(MiB) for _ in range(6))
        assert got == data[7 * MiB + 3:13 * MiB + 3]
    sizes = [int(g["range"][6:].split("-")[1]) -
             int(g["range"][6:].split("-")[0]) + 1 for g in random_gets]
    # each random read: the FUSE request (the kernel rounds it to pages,
    # at most its 128 KiB read-ahead), never a read-ahead range
    assert sizes and max(sizes) <= 256 * 1024, sizes


def test_object_replaced_during_read_fails_with_estale(mount, endpoint,
                                                       tmp_path):
    path, key, data = _object(mount, endpoint, tmp_path, 12 * MiB, 3)
    got = bytearray()
    with open(path, "rb", buffering=0) as f:
        got += f.read(MiB)
        _put(endpoint, tmp_path, key, random.Random(4).randbytes(MiB))
        with pytest.raises(OSError) as e:
            while True:
                b = f.read(MiB)
                if not b:
                    break
                got += b
    assert e.value.errno == errno.ESTALE, e.value
    assert len(got) < len(data)
    assert bytes(got) == data[:len(got)], "never a mix of two versions"
    assert "the object was replaced since it was opened" in mount.log()


def test_corrupted_range_fails_the_read_with_eio(mount, endpoint, tmp_path):
    # Written by amifs: a FULL_OBJECT CRC32C the read is checked against.
    d = mount.workdir("rdcrc")
    path = os.path.join(d, "f")
    data = random.Random(6).randbytes(12 * MiB)
    src = tmp_path / "src"
    src.write_bytes(data)
    subprocess.run(["cp", str(src), path], check=True)
    key = key_of(mount, path)
    # only the fourth GET of the read is corrupted (one byte flipped)
    endpoint.set_faults([{"service": "s3", "op": "GetObject",
                          "action": "corrupt", "key_prefix": key,
                          "skip": 3, "count": 1}])
    try:
        r = subprocess.run(["cat", path], capture_output=True, timeout=60)
    finally:
        endpoint.clear_faults()
    assert r.returncode != 0 and b"Input/output error" in r.stderr, r.stderr
    assert "do not match the object's CRC32C" in mount.log()
    with open(path, "rb") as f:            # read again: the right bytes
        assert f.read() == data


def test_killed_or_closed_reader_leaves_nothing_running(mount, endpoint,
                                                        tmp_path):
    path, key, data = _object(mount, endpoint, tmp_path, 24 * MiB, 8)
    endpoint.set_faults([{"service": "s3", "op": "GetObject",
                          "action": "delay", "delay_ms": 400,
                          "key_prefix": key}])
    try:
        since = endpoint.mark()
        p = subprocess.Popen(["cat", path], stdout=subprocess.PIPE)
        p.stdout.read(3 * MiB)              # ranges are in flight now
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        # close with ranges in flight (a plain close, no kill)
        with open(path, "rb", buffering=0) as f:
            assert f.read(2 * MiB) == data[:2 * MiB]
        # No range is asked for after the readers are gone: the count
        # settles at once and stays.
        time.sleep(1.0)
        n = len(_gets(endpoint, key, since))
        time.sleep(1.5)
        assert len(_gets(endpoint, key, since)) == n
        assert n < 20, n
    finally:
        endpoint.clear_faults()
    with open(path, "rb") as f:                 # the mount is fine
        assert f.read() == data
