"""S3 flexible checksums in front of moto: correct values and the checks
S3 makes at CompleteMultipartUpload; a fault that corrupts a GET body.

moto 5.2.1 computes CRC32C and CRC64NVME with optional modules (crc32c,
awscrt) and silently falls back to CRC32 without them, so the checksum it
stores (and HEAD/GET with x-amz-checksum-mode: ENABLED report) would be
wrong. install() replaces its compute_checksum with correct CRCs: CRC32C
through ISA-L (libisal, the library amifs itself uses) when it loads, else
a table in pure Python.

check_complete(): a CompleteMultipartUpload that carries the object's
checksum (x-amz-checksum-<alg>, ChecksumType FULL_OBJECT) is checked
against the parts' bytes *before* moto publishes anything, and each
<ChecksumCRC32C> of the body against its part: S3 answers BadDigest /
InvalidPart and publishes nothing.

corrupt_body(): the "corrupt" fault action flips one byte in the middle of
a GetObject body (status and headers unchanged): bad bytes on the wire or
a disk of the server gone bad, which a client can only notice by checking
the object's checksum.
"""
import base64
import ctypes
import ctypes.util
import xml.etree.ElementTree as ET

import s3fixes


def _load_isal():
    name = ctypes.util.find_library("isal") or "libisal.so.2"
    try:
        lib = ctypes.CDLL(name)
        fn = lib.crc32_iscsi
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_uint32
    fn.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
    return fn


_ISAL = _load_isal()
_STEP = 1 << 30


def crc32c(data, crc=0):
    """The standard CRC32C of DATA, continuing CRC (0 to start)."""
    if _ISAL is None:
        raw = s3fixes._crc_reflected(s3fixes._CRC32C, 32, data)
        whole = int.from_bytes(raw, "big")
        if crc:
            raise ValueError("continuation needs ISA-L")
        return whole
    c = crc ^ 0xFFFFFFFF
    mv = memoryview(data)
    for pos in range(0, len(mv), _STEP):
        piece = bytes(mv[pos:pos + _STEP])
        c = _ISAL(piece, len(piece), c)
    return c ^ 0xFFFFFFFF


def _digest(data, algorithm):
    if algorithm == "CRC32C":
        return crc32c(data).to_bytes(4, "big")
    if algorithm == "CRC64NVME":
        return s3fixes._crc_reflected(s3fixes._CRC64NVME, 64, data)
    return None


def install():
    """Make moto compute CRC32C and CRC64NVME correctly everywhere."""
    import moto.s3.models as models
    import moto.s3.responses as responses
    import moto.s3.utils as utils
    if getattr(utils.compute_checksum, "_amifs", False):
        return
    plain = utils.compute_checksum

    def compute_checksum(body, algorithm, encode_base64=True):
        raw = _digest(bytes(body), algorithm)
        if raw is None:
            return plain(body, algorithm, encode_base64)
        return base64.b64encode(raw) if encode_base64 else raw

    compute_checksum._amifs = True
    for mod in (utils, models, responses):
        if hasattr(mod, "compute_checksum"):
            mod.compute_checksum = compute_checksum
    s3fixes._DIGESTS["crc32c"] = lambda d: crc32c(d).to_bytes(4, "big")


def _parts_of(body):
    """[(part number, ETag, ChecksumCRC32C or None)] of a Complete body;
    None when it is not parseable (moto then answers MalformedXML)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    out = []
    for p in root.iter():
        if not p.tag.endswith("Part"):
            continue
        get = {c.tag.split("}")[-1]: (c.text or "") for c in p}
        try:
            out.append((int(get.get("PartNumber", "")),
                        get.get("ETag", "").strip('"'),
                        get.get("ChecksumCRC32C")))
        except ValueError:
            return None
    return out


def _bad_digest(alg):
    return s3fixes._s3_err(
        400, "BadDigest",
        "The %s you specified did not match the calculated checksum." % alg)


def check_complete(info, account):
    """S3's checksum checks of a CompleteMultipartUpload; an error Reply or
    None (then moto completes, storing the checksum it computes)."""
    if info.op != "CompleteMultipartUpload":
        return None
    claimed = info.header("x-amz-checksum-crc32c")
    bucket_name, _ = info.bucket_key()
    bucket = s3fixes._bucket(account, bucket_name)
    upload = bucket.multiparts.get(info.qs.get("uploadId", [""])[0]) \
        if bucket is not None else None
    parts = _parts_of(info.body)
    if upload is None or parts is None:
        return None                     # moto's NoSuchUpload / MalformedXML
    crc = 0
    for number, etag, part_crc in parts:
        stored = upload.parts.get(number)
        if stored is None or stored.etag.strip('"') != etag:
            return None                 # moto's InvalidPart
        value = stored.value
        if part_crc is not None and \
                base64.b64encode(crc32c(value).to_bytes(4, "big")) \
                .decode() != part_crc:
            return s3fixes._s3_err(
                400, "InvalidPart",
                "One or more of the specified parts could not be found. "
                "The part may not have been uploaded, or the specified "
                "entity tag may not have matched the part's entity tag.")
        if claimed is not None:
            crc = crc32c(value, crc)
    if claimed is None:
        return None
    if upload.metadata.get("x-amz-checksum-algorithm", "").upper() != \
            "CRC32C":
        return s3fixes._s3_err(
            400, "InvalidRequest",
            "The upload was created using the crc32c checksum mode. "
            "The complete request must use the same checksum mode.")
    if base64.b64encode(crc.to_bytes(4, "big")).decode() != claimed.strip():
        return _bad_digest("crc32c")
    return None


def corrupt_body(reply):
    """The "corrupt" fault: the same answer with one body byte flipped."""
    if not isinstance(reply, tuple):
        return reply                    # an error Reply: nothing to corrupt
    status, headers, chunks = reply
    data = b"".join(chunks)
    if status // 100 == 2 and data:
        mid = len(data) // 2
        data = data[:mid] + bytes([data[mid] ^ 0x01]) + data[mid + 1:]
    return status, headers, [data]
