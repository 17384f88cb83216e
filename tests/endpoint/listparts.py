"""ListParts with each part's ChecksumCRC32C, as S3 answers it.

moto 5.2.1's ListParts gives PartNumber, LastModified, ETag and Size only.
S3 adds <ChecksumCRC32C> (base64) to every part of an upload created with
x-amz-checksum-algorithm CRC32C: amifs's resume (doc/design/resume.md)
compares it with the CRC32C of the bytes it would send before skipping a
part. add_checksums() adds the element, computed from the stored part's
bytes (checksums.crc32c), to moto's answer.
"""
import base64
import xml.etree.ElementTree as ET

import checksums
import s3fixes

_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def _upload(info, account):
    bucket_name, _ = info.bucket_key()
    bucket = s3fixes._bucket(account, bucket_name)
    if bucket is None:
        return None
    up = bucket.multiparts.get(info.qs.get("uploadId", [""])[0])
    if up is None:
        return None
    algo = (up.metadata.get("x-amz-checksum-algorithm") or "").upper()
    return up if algo == "CRC32C" else None


def _crc_b64(value):
    return base64.b64encode(
        checksums.crc32c(bytes(value)).to_bytes(4, "big")).decode()


def _rewrite(body, up):
    ET.register_namespace("", _NS)
    root = ET.fromstring(body)
    for part in root.iter("{%s}Part" % _NS):
        num = part.find("{%s}PartNumber" % _NS)
        stored = up.parts.get(int(num.text)) if num is not None else None
        if stored is None or part.find("{%s}ChecksumCRC32C" % _NS) is not None:
            continue
        el = ET.SubElement(part, "{%s}ChecksumCRC32C" % _NS)
        el.text = _crc_b64(stored.value)
    return ET.tostring(root, xml_declaration=True, encoding="UTF-8")


def add_checksums(info, account, status, headers, chunks):
    """moto's answer (status, headers, chunks), with ChecksumCRC32C added
    to a successful ListParts of a CRC32C upload."""
    if info.op != "ListParts" or status != 200:
        return status, headers, chunks
    up = _upload(info, account)
    if up is None:
        return status, headers, chunks
    body = b"".join(chunks)
    try:
        body = _rewrite(body, up)
    except (ET.ParseError, ValueError):
        pass
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    return status, headers, [body]
