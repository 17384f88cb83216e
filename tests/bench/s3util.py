"""Small S3 client pieces for the benchmark (stdlib only).

SigV4 header signing with UNSIGNED-PAYLOAD (accepted by moto's check and
ignored by fasts3), one request per call on a caller-owned connection, and
the two bulk jobs the benchmark needs from a raw client: a parallel
multipart upload of a file (the server's ceiling) and many parallel small
PUTs (a 10,000-key prefix).
"""
import concurrent.futures
import datetime
import hashlib
import hmac
import http.client
import mmap
import re
import threading
import time
import urllib.parse


def _q(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


class S3:
    """Path-style S3 at URL with access key AK/secret SK."""
    def __init__(self, url, ak, sk, region="us-east-1"):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.netloc = u.netloc
        self.ak, self.sk, self.region = ak, sk, region
        self.local = threading.local()

    def conn(self):
        c = getattr(self.local, "c", None)
        if c is None:
            c = http.client.HTTPConnection(self.host, self.port, timeout=300)
            self.local.c = c
        return c

    def _sign(self, method, path, query, headers):
        now = datetime.datetime.now(datetime.timezone.utc)
        amz = now.strftime("%Y%m%dT%H%M%SZ")
        scope = "%s/%s/s3/aws4_request" % (amz[:8], self.region)
        h = {k.lower(): str(v).strip() for k, v in headers.items()}
        h.update({"host": self.netloc, "x-amz-date": amz,
                  "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
        names = sorted(h)
        cq = "&".join("%s=%s" % (_q(k), _q(v)) for k, v in sorted(query))
        creq = "\n".join([method, path, cq] +
                         ["%s:%s" % (k, h[k]) for k in names] +
                         ["", ";".join(names), "UNSIGNED-PAYLOAD"])
        sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        key = ("AWS4" + self.sk).encode()
        for part in (amz[:8], self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        h["authorization"] = (
            "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
            "Signature=%s" % (self.ak, scope, ";".join(names), sig))
        return h

    def request(self, method, bucket, key="", query=(), body=None,
                headers=None):
        """Returns (status, headers dict, body bytes); retries once on a
        dropped keep-alive connection."""
        path = "/" + _q(bucket) + ("/" + _q(key, "-_.~/") if key else "")
        query = list(query)
        url = path + ("?" + "&".join(
            "%s=%s" % (_q(k), _q(v)) for k, v in query) if query else "")
        for attempt in (0, 1):
            h = self._sign(method, path, query, headers or {})
            c = self.conn()
            try:
                c.request(method, url, body=body, headers=h)
                r = c.getresponse()
                data = r.read()
                return r.status, dict(r.getheaders()), data
            except (ConnectionError, http.client.HTTPException, OSError):
                c.close()
                self.local.c = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def size(self, bucket, key):
        st, h, _ = self.request("HEAD", bucket, key)
        if st != 200:
            return None
        return int({k.lower(): v for k, v in h.items()}["content-length"])

    def delete(self, bucket, key):
        self.request("DELETE", bucket, key)


def upload_parallel(s3, bucket, key, path, part=16 << 20, conc=8):
    """Multipart upload of PATH with CONC connections, parts sent straight
    from an mmap (no copies). Returns seconds; raises on any failure."""
    t0 = time.monotonic()
    st, _, body = s3.request("POST", bucket, key, [("uploads", "")])
    m = re.search(rb"<UploadId>([^<]+)</UploadId>", body)
    if st != 200 or not m:
        raise RuntimeError("CreateMultipartUpload: HTTP %d %r" % (st, body[:200]))
    uid = m.group(1).decode()
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mm)
    n = (len(mm) + part - 1) // part

    def put(i):
        st, h, b = s3.request("PUT", bucket, key, [
            ("partNumber", str(i + 1)), ("uploadId", uid)],
            body=view[i * part:(i + 1) * part])
        if st != 200:
            raise RuntimeError("UploadPart %d: HTTP %d %r" % (i + 1, st, b[:200]))
        return {k.lower(): v for k, v in h.items()}["etag"]

    try:
        with concurrent.futures.ThreadPoolExecutor(conc) as ex:
            etags = list(ex.map(put, range(n)))
        xml = "<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(
            "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>"
            % (i + 1, e) for i, e in enumerate(etags))
        st, _, b = s3.request("POST", bucket, key, [("uploadId", uid)],
                              body=xml.encode())
        if st != 200 or b"<Error>" in b:
            raise RuntimeError("Complete: HTTP %d %r" % (st, b[:200]))
    finally:
        view.release()
        mm.close()
    return time.monotonic() - t0


def put_many(s3, bucket, keys, conc=32, deadline=600):
    """PUT a 64-byte object at each key with CONC threads; returns the
    number stored. Stops at DEADLINE seconds."""
    end = time.monotonic() + deadline
    body = b"x" * 64

    def put(k):
        if time.monotonic() > end:
            return 0
        st, _, _ = s3.request("PUT", bucket, k, body=body)
        return 1 if st == 200 else 0

    with concurrent.futures.ThreadPoolExecutor(conc) as ex:
        return sum(ex.map(put, keys))
