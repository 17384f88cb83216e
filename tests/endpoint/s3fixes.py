"""Where moto 5.2.1's S3 differs from AWS, fixed in front of it.

Each function names the divergence it handles (see README.md). The checks
AWS makes and moto skips are added here; none of moto's checks is removed.
"""
import base64
import binascii
import hashlib
import os
import re
import threading
import urllib.parse
import zlib

from moto.s3.models import FakeKey, s3_backends
from moto.s3.responses import S3Response

from awsxml import Reply

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Ops whose body the flexible checksum headers describe. On
# CompleteMultipartUpload the header is the object's composite checksum,
# not the XML body's, so it is not checked here.
_CHECKSUM_OPS = ("PutObject", "UploadPart")


def _crc_table(poly, width):
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c & ((1 << width) - 1))
    return table


_CRC32C = _crc_table(0x82F63B78, 32)
_CRC64NVME = _crc_table(0x9A6C9329AC4BC9B5, 64)


def _crc_reflected(table, width, data):
    # Pure Python (no awscrt on this machine): slow, but only clients that
    # choose CRC32C/CRC64NVME pay for it.
    mask = (1 << width) - 1
    c = mask
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return (c ^ mask).to_bytes(width // 8, "big")


_DIGESTS = {
    "crc32": lambda d: (zlib.crc32(d) & 0xFFFFFFFF).to_bytes(4, "big"),
    "crc32c": lambda d: _crc_reflected(_CRC32C, 32, d),
    "crc64nvme": lambda d: _crc_reflected(_CRC64NVME, 64, d),
    "sha1": lambda d: hashlib.sha1(d).digest(),
    "sha256": lambda d: hashlib.sha256(d).digest(),
}
_ALG_NAME = {"crc32": "CRC32", "crc32c": "CRC32C", "crc64nvme": "CRC64NVME",
             "sha1": "SHA1", "sha256": "SHA256"}


def _b64(value):
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def check_integrity(info):
    """moto checks neither x-amz-content-sha256, Content-MD5 nor
    x-amz-checksum-* against the body; S3 does. Returns an error Reply or
    None."""
    if info.method not in ("PUT", "POST"):
        return None
    return (_check_sha256(info) or _check_md5(info)
            or _check_checksums(info))


def _check_sha256(info):
    claimed = info.header("x-amz-content-sha256", "")
    if not _HEX64.match(claimed):       # UNSIGNED-PAYLOAD, STREAMING-...
        return None
    actual = hashlib.sha256(info.body).hexdigest()
    if actual == claimed:
        return None
    return _s3_err(400, "XAmzContentSHA256Mismatch",
                   "The provided 'x-amz-content-sha256' header does not "
                   "match what was computed.",
                   ClientComputedContentSHA256=claimed,
                   S3ComputedContentSHA256=actual)


def _check_md5(info):
    claimed = info.header("content-md5")
    if claimed is None:
        return None
    raw = _b64(claimed.strip())
    if raw is None or len(raw) != 16:
        return _s3_err(400, "InvalidDigest",
                       "The Content-MD5 you specified was invalid.",
                       **{"Content-MD5": claimed})
    if hashlib.md5(info.body).digest() == raw:
        return None
    return _s3_err(400, "BadDigest",
                   "The Content-MD5 you specified did not match what we "
                   "received.", ExpectedDigest=raw.hex(),
                   CalculatedDigest=base64.b64encode(
                       hashlib.md5(info.body).digest()).decode())


def _check_checksums(info):
    if info.op not in _CHECKSUM_OPS:
        return None
    if "aws-chunked" in (info.header("content-encoding") or ""):
        return None                     # checksum travels in the trailer
    for alg, fn in _DIGESTS.items():
        claimed = info.header("x-amz-checksum-" + alg)
        if claimed is None:
            continue
        raw = _b64(claimed.strip())
        if raw is None or len(raw) != len(fn(b"")):
            return _s3_err(400, "InvalidRequest",
                           "Value for x-amz-checksum-%s header is invalid."
                           % alg)
        if fn(info.body) != raw:
            return _s3_err(400, "BadDigest",
                           "The %s you specified did not match the "
                           "calculated checksum." % _ALG_NAME[alg])
    return None


def _s3_err(status, code, message, **extra):
    from awsxml import s3_error
    return Reply(status, s3_error(code, message, **extra))


def _bucket(account, name):
    try:
        return s3_backends[account]["aws"].buckets.get(name)
    except KeyError:
        return None


def check_upload_exists(info, account):
    """moto answers 500 to UploadPart/UploadPartCopy/ListParts with an
    aborted or unknown upload id; S3 answers 404 NoSuchUpload."""
    if info.op not in ("UploadPart", "UploadPartCopy", "ListParts"):
        return None
    bucket_name, key = info.bucket_key()
    bucket = _bucket(account, bucket_name)
    if bucket is None:
        return None                     # moto's NoSuchBucket is right
    upload_id = info.qs.get("uploadId", [""])[0]
    if upload_id in bucket.multiparts:
        return None
    return _s3_err(404, "NoSuchUpload",
                   "The specified upload does not exist. The upload ID may "
                   "be invalid, or the upload may have been aborted or "
                   "completed.", UploadId=upload_id)


def check_copy_source_if_match(info, account):
    """moto ignores x-amz-copy-source-if-match (it checks only ...-if-none-
    match, and only on CopyObject); S3 answers 412 PreconditionFailed to a
    CopyObject or UploadPartCopy whose source's ETag differs."""
    if info.op not in ("CopyObject", "UploadPartCopy"):
        return None
    want = info.header("x-amz-copy-source-if-match")
    src = info.header("x-amz-copy-source")
    if not want or not src:
        return None
    path = urllib.parse.unquote(urllib.parse.urlparse(src).path).lstrip("/")
    if "/" not in path:
        return None
    bucket_name, key_name = path.split("/", 1)
    bucket = _bucket(account, bucket_name)
    key = bucket.keys.get(key_name) if bucket is not None else None
    if key is None:
        return None                     # moto's NoSuchKey is right
    if want.strip('"') == key.etag.strip('"'):
        return None
    return _s3_err(412, "PreconditionFailed",
                   "At least one of the pre-conditions you specified did "
                   "not hold", Condition="x-amz-copy-source-If-Match")


class KeyLocks:
    """moto computes (and caches) an object's ETag outside the key's lock,
    so a HEAD/GET that lands while a large PUT is being stored can cache a
    wrong ETag. Writes and reads of the same key are serialised here
    (striped locks: bounded memory, unrelated keys rarely contend)."""

    WRITES = ("PutObject", "CompleteMultipartUpload", "CopyObject",
              "DeleteObject")
    READS = ("GetObject", "HeadObject")

    def __init__(self, stripes=64):
        self._locks = [threading.Lock() for _ in range(stripes)]

    def lock_for(self, info):
        """The lock to hold around moto for this request, or None."""
        if info.op not in self.WRITES and info.op not in self.READS:
            return None
        bucket, key = info.bucket_key()
        return self._locks[hash((bucket, key)) % len(self._locks)]


def fix_response_headers(info, headers):
    """moto answers x-amz-version-id: null for unversioned buckets (and then
    refuses ?versionId=null); S3 sends no such header."""
    if info.service != "s3":
        return headers
    return [(k, v) for k, v in headers
            if not (k.lower() == "x-amz-version-id" and v == "null")]


# ------------------------------------------------------- streaming GETs --

READ_CHUNK = 1 << 20            # bytes per read and per write of a GET body
_get_object = threading.local()


class ObjectBody:
    """An object's bytes as GetObject sends them, without holding them all.

    moto's GetObject reads the whole object into memory (`key.value`), and
    a ranged GET then slices that: `aws s3 cp` of a 1 GiB object makes 128
    ranged GETs of 8 MiB, each copying the full 1 GiB, which crawled at
    about 1 MiB/s. This body is what `key.value` gives while GetObject runs
    (see install_streaming_get): len() is the size, a slice reads only
    those bytes, and iterating streams READ_CHUNK pieces.

    It is a snapshot, taken under the key's lock: a spilled key's temp file
    descriptor is duplicated (the file survives moto closing or replacing
    the key), a small in-memory key's bytes are copied. close() releases
    the descriptor; the HTTP layer calls it when the response is done."""

    def __init__(self, key):
        self._fd = None
        self._bytes = None
        with key.lock:
            buf = key._value_buffer
            self._size = key.size
            if getattr(buf, "_rolled", False):
                self._fd = os.dup(buf._file.fileno())
            else:
                buf.seek(0)
                self._bytes = buf.read()

    def __len__(self):
        return self._size

    def __bool__(self):
        return self._size > 0

    def _read(self, start, stop):
        if self._bytes is not None:
            return self._bytes[start:stop]
        out, pos = [], start
        while pos < stop:
            piece = os.pread(self._fd, stop - pos, pos)
            if not piece:
                break                   # cannot happen: keys are immutable
            out.append(piece)
            pos += len(piece)
        return b"".join(out)

    def __getitem__(self, item):
        if not isinstance(item, slice):
            raise TypeError("an object body is sliced, not indexed")
        start, stop, step = item.indices(self._size)
        if step != 1:
            raise ValueError("no stepped slices of an object body")
        return self._read(start, max(start, stop))

    def __iter__(self):
        try:
            for pos in range(0, self._size, READ_CHUNK):
                yield self._read(pos, min(self._size, pos + READ_CHUNK))
        finally:
            self.close()

    def close(self):
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self):
        self.close()


def install_streaming_get():
    """Make moto's GetObject answer with an ObjectBody instead of the whole
    object as bytes: `key.value` read during S3Response.get_object (and
    only there: CopyObject, ETag and checksum code still get bytes) is an
    ObjectBody. moto's range handling uses only len() and one slice, and
    werkzeug iterates any other body, so both paths stream."""
    if getattr(S3Response.get_object, "_amifs_streaming", False):
        return
    plain = FakeKey.value

    def value(self):
        if getattr(_get_object, "active", False):
            return ObjectBody(self)
        return plain.fget(self)

    original = S3Response.get_object

    def get_object(self):
        _get_object.active = True
        try:
            return original(self)
        finally:
            _get_object.active = False

    get_object._amifs_streaming = True
    FakeKey.value = property(value, plain.fset)
    S3Response.get_object = get_object
