"""End-to-end checksums (doc/design/perf.md): every object amifs writes
carries a CRC32C per part and the object's full CRC32C, which S3 (here the
local endpoint, tests/endpoint/checksums.py) checks before publishing;
user.amifs.checksum shows it; a whole-file read is verified against it
and a corrupted GET body fails the read with EIO."""
import base64
import ctypes
import ctypes.util
import errno
import json
import os
import random
import subprocess

import pytest
from shared_fixtures import key_of, no_uploads_left

MiB = 1 << 20


def _isal():
    try:
        fn = ctypes.CDLL(ctypes.util.find_library("isal")
                         or "libisal.so.2").crc32_iscsi
    except (OSError, AttributeError):
        pytest.skip("libisal (ISA-L) not installed")
    fn.restype = ctypes.c_uint32
    fn.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
    return fn


def crc32c_b64(data):
    """S3's spelling of the standard CRC32C of DATA."""
    c = _isal()(data, len(data), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return base64.b64encode(c.to_bytes(4, "big")).decode()


def head_checksum(endpoint, key):
    return endpoint.aws("s3api", "head-object", "--bucket", endpoint.bucket,
                        "--key", key, "--checksum-mode", "ENABLED")


def test_crc32c_check_value():
    # The catalogue's check value: the helper above is the real CRC32C.
    assert crc32c_b64(b"123456789") == base64.b64encode(
        bytes.fromhex("e3069283")).decode()


@pytest.mark.parametrize("size", [100_000, 21 * MiB])
def test_written_objects_carry_their_crc32c(mount, endpoint, tmp_path, size):
    # 100 kB: one PutObject; 21 MiB: three parts (8 + 8 + 5 MiB) whose
    # CRCs amifs combines into the object's, sent at Complete.
    data = random.Random(size).randbytes(size)
    src = tmp_path / "src"
    src.write_bytes(data)
    dst = os.path.join(mount.workdir("crc"), "f")
    subprocess.run(["cp", str(src), dst], check=True)
    h = head_checksum(endpoint, key_of(mount, dst))
    assert h.get("ChecksumCRC32C") == crc32c_b64(data), h
    if size > 8 * MiB:
        assert h.get("ChecksumType") == "FULL_OBJECT", h
        assert h["ETag"].strip('"').endswith("-3")
    xattr = os.getxattr(dst, "user.amifs.checksum").decode()
    assert xattr == "CRC32C:" + h["ChecksumCRC32C"]
    assert "user.amifs.checksum" in os.listxattr(dst)
    with open(dst, "rb") as f:         # a verified whole-file read
        assert f.read() == data


def _cli_mpu(endpoint, key, part, part_crc):
    b = endpoint.bucket
    up = endpoint.aws("s3api", "create-multipart-upload", "--bucket", b,
                      "--key", key, "--checksum-algorithm", "CRC32C",
                      "--checksum-type", "FULL_OBJECT")["UploadId"]
    etag = endpoint.aws("s3api", "upload-part", "--bucket", b, "--key", key,
                        "--upload-id", up, "--part-number", "1",
                        "--body", part, "--checksum-crc32-c",
                        part_crc)["ETag"]
    return up, etag


def _complete(endpoint, key, up, etag, part_crc, full_crc):
    parts = {"Parts": [{"ETag": etag, "PartNumber": 1,
                        "ChecksumCRC32C": part_crc}]}
    return endpoint.aws("s3api", "complete-multipart-upload", "--bucket",
                        endpoint.bucket, "--key", key, "--upload-id", up,
                        "--checksum-crc32-c", full_crc, "--checksum-type",
                        "FULL_OBJECT", "--multipart-upload",
                        json.dumps(parts), check=False, json=False)


def test_endpoint_refuses_a_wrong_full_object_crc(endpoint, tmp_path):
    # What amifs relies on: S3 publishes nothing when the object's CRC32C
    # sent at Complete is not the one of the parts' bytes.
    data = random.Random(7).randbytes(300_000)
    part = tmp_path / "part"
    part.write_bytes(data)
    key = "crc-refused-%d/obj" % os.getpid()
    good = crc32c_b64(data)
    wrong = crc32c_b64(data + b"x")
    bad = endpoint.aws("s3api", "upload-part", "--bucket", endpoint.bucket,
                       "--key", key, "--upload-id", "x", "--part-number",
                       "1", "--body", part, "--checksum-crc32-c", wrong,
                       check=False, json=False)
    assert bad.returncode != 0
    up, etag = _cli_mpu(endpoint, key, part, good)
    r = _complete(endpoint, key, up, etag, good, wrong)
    assert r.returncode != 0 and "BadDigest" in r.stderr, r.stderr
    gone = endpoint.aws("s3api", "head-object", "--bucket", endpoint.bucket,
                        "--key", key, check=False, json=False)
    assert gone.returncode != 0, "nothing may be published"
    r = _complete(endpoint, key, up, etag, good, good)
    assert r.returncode == 0, r.stderr
    assert head_checksum(endpoint, key)["ChecksumCRC32C"] == good
    no_uploads_left(endpoint, key)


def test_corrupted_get_fails_the_whole_file_read(mount, endpoint, tmp_path):
    size = 3 * MiB + 12345
    data = random.Random(3).randbytes(size)
    src = tmp_path / "src"
    src.write_bytes(data)
    dst = os.path.join(mount.workdir("eio"), "f")
    subprocess.run(["cp", str(src), dst], check=True)
    key = key_of(mount, dst)
    endpoint.set_faults([{"service": "s3", "op": "GetObject",
                          "action": "corrupt", "key_prefix": key}])
    try:
        with open(dst, "rb") as f:
            with pytest.raises(OSError) as e:
                while f.read(MiB):
                    pass
        assert e.value.errno == errno.EIO
        assert "do not match the object's CRC32C" in mount.log()
    finally:
        endpoint.clear_faults()
    with open(dst, "rb") as f:          # the same object, read again: fine
        assert f.read() == data
