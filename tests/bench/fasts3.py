#!/usr/bin/env python3
"""fasts3 — a minimal S3-compatible *throughput sink* for benchmarks.

NOT an S3 implementation to test against: it never checks signatures or
permissions, knows one account, no versions, no ACLs, no tags. It exists so
that the benchmark measures the clients (amifs, aws CLI, s3fs, rclone) rather
than moto, which keeps objects in memory in one Python process.

What it does: ListBuckets, Create/Head/Delete bucket, GetBucketLocation,
PutObject, CopyObject, GetObject (Range), HeadObject, DeleteObject(s),
ListObjects v1/v2 (prefix, delimiter, pagination), multipart upload (create,
part, complete, abort, list parts, list uploads = empty), and a fake VM Import (ImportImage answers a task id
that stays "pending"; see Handler.ec2). Bodies may be plain,
HTTP-chunked and/or aws-chunked (STREAMING-* payloads). Each PUT body or part
is written to its own file under --dir (or dropped with --discard: MD5
computed, bytes dropped, GETs stream zeros of the right length); completed multipart objects are a list of part files, so no
concatenation copy. ETags are real MD5s (multipart: md5-of-md5s-N), computed
on the fly.

Standard library only:  python3 fasts3.py --port 0 --dir D [--port-file F]
"""
import argparse
import base64
import hashlib
import http.server
import os
import socketserver
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from bisect import bisect_left, bisect_right
from email.utils import formatdate
from xml.sax.saxutils import escape

CHUNK = 1 << 20
ZEROS = memoryview(bytes(CHUNK))
NS = "http://s3.amazonaws.com/doc/2006-03-01/"


class Obj:
    """An object: segments [(path or None, length)], size, etag, meta."""
    def __init__(self, segs, size, etag, meta, ctype):
        self.segs, self.size, self.etag = segs, size, etag
        self.meta, self.ctype, self.mtime = meta, ctype, time.time()


class Store:
    def __init__(self, root, discard):
        self.root, self.discard = root, discard
        self.lock = threading.Lock()
        self.buckets = {}          # name -> {key: Obj}
        self.sorted = {}           # name -> sorted key list (None = stale)
        self.tasks = []            # fake ImportImage tasks (dicts)
        self.uploads = {}          # upload id -> (bucket, key, {n: (seg, md5)}, meta)
        self.refs = {}             # segment path -> objects using it (copies share)

    def new_path(self):
        return None if self.discard else os.path.join(
            self.root, uuid.uuid4().hex)

    def keys(self, bucket):
        with self.lock:
            ks = self.sorted.get(bucket)
            if ks is None:
                ks = sorted(self.buckets[bucket])
                self.sorted[bucket] = ks
            return ks

    def put(self, bucket, key, obj):
        with self.lock:
            old = self.buckets[bucket].get(key)
            self.buckets[bucket][key] = obj
            for path, _ in obj.segs:
                if path:
                    self.refs[path] = self.refs.get(path, 0) + 1
            if old is None:
                self.sorted[bucket] = None
            dead = self._unref(old)
        remove_all(dead)

    def delete(self, bucket, key):
        with self.lock:
            old = self.buckets[bucket].pop(key, None)
            if old is not None:
                self.sorted[bucket] = None
            dead = self._unref(old)
        remove_all(dead)

    def _unref(self, obj):
        """Drop OBJ's references (lock held); return the segment files no
        object uses any more. Deleting them at once matters: a 4 GiB
        benchmark writes the same size again and again, and a file
        unlinked before writeback never reaches the disk."""
        dead = []
        for path, _ in (obj.segs if obj else ()):
            if path is None:
                continue
            n = self.refs.get(path, 1) - 1
            if n <= 0:
                self.refs.pop(path, None)
                dead.append(path)
            else:
                self.refs[path] = n
        return dead


class BodyReader:
    """read(n)/readline() over a request body: Content-Length or chunked."""
    def __init__(self, rfile, length, chunked):
        self.f, self.left, self.chunked, self.eof = rfile, length, chunked, False

    def _next_chunk(self):
        line = self.f.readline(1024).strip()
        size = int(line.split(b";")[0] or b"0", 16)
        if size == 0:
            while self.f.readline(8192).strip():
                pass                       # trailers
            self.eof = True
        self.left = size

    def read(self, n):
        if self.chunked and self.left == 0 and not self.eof:
            self._next_chunk()
        if self.left <= 0:
            return b""
        data = self.f.read(min(n, self.left))
        if not data:
            raise ConnectionError("body ended early")
        self.left -= len(data)
        if self.chunked and self.left == 0:
            self.f.readline(16)          # CRLF after the chunk
        return data

    def readline(self):
        out = b""
        while not out.endswith(b"\n"):
            c = self.read(1)
            if not c:
                break
            out += c
        return out

    def drain(self):
        while self.read(CHUNK):
            pass


def aws_chunks(body):
    """Yield the payload of an aws-chunked body (signed or unsigned)."""
    while True:
        line = body.readline().strip()
        if not line:
            return
        size = int(line.split(b";")[0], 16)
        if size == 0:
            while body.readline().strip():
                pass                       # trailing checksums
            return
        left = size
        while left:
            d = body.read(min(CHUNK, left))
            if not d:
                raise ConnectionError("aws-chunked body ended early")
            left -= len(d)
            yield d
        body.read(2)


def plain_chunks(body):
    while True:
        d = body.read(CHUNK)
        if not d:
            return
        yield d


def xml_doc(root, inner):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<%s xmlns="%s">%s</%s>'
            % (root, NS, inner, root)).encode()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fasts3"
    # Headers and body go out in two writes; with Nagle the second waits
    # for the client's delayed ACK (40 ms), which would swamp the --wan
    # profile's 30 ms RTT.
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    # ------------------------------------------------------------ plumbing --
    def parse(self):
        u = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(u.path)
        self.q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        parts = path.lstrip("/").split("/", 1)
        self.bucket = parts[0]
        self.key = parts[1] if len(parts) > 1 else ""
        te = self.headers.get("Transfer-Encoding", "").lower()
        n = int(self.headers.get("Content-Length") or 0)
        self.body = BodyReader(self.rfile, n, "chunked" in te)
        sha = self.headers.get("x-amz-content-sha256", "")
        ce = self.headers.get("Content-Encoding", "")
        self.awschunked = sha.startswith("STREAMING-") or "aws-chunked" in ce

    def chunks(self):
        return aws_chunks(self.body) if self.awschunked else \
            plain_chunks(self.body)

    def body_views(self):
        """Like chunks(), but a plain Content-Length body is read into one
        reused buffer (no allocation per MiB): the ceiling row must measure
        the link, not this server's copies."""
        b = self.body
        if self.awschunked or b.chunked:
            yield from self.chunks()
            return
        buf = memoryview(bytearray(CHUNK))
        while b.left > 0:
            n = self.rfile.readinto(buf[:min(CHUNK, b.left)])
            if not n:
                raise ConnectionError("body ended early")
            b.left -= n
            yield buf[:n]

    def send(self, code, body=b"", headers=None, ctype="application/xml"):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body or code not in (204, 304):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-request-id", "fasts3")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def error(self, code, s3code, msg):
        try:
            self.body.drain()
        except (ConnectionError, ValueError):
            self.close_connection = True
        self.send(code, b"" if self.command == "HEAD" else xml_doc(
            "Error", "<Code>%s</Code><Message>%s</Message>" % (s3code, msg))
            .replace(b' xmlns="%s"' % NS.encode(), b""))

    def bucket_map(self):
        return self.server.store.buckets.get(self.bucket)

    def dispatch(self):
        try:
            self.parse()
            getattr(self, "do_" + self.command.lower() + "_")()
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = dispatch

    def store_body(self):
        """Stream the body to one file; return (seg, md5 hex)."""
        path = self.server.store.new_path()
        md5, size = hashlib.md5(), 0
        f = open(path, "wb") if path else None
        try:
            for d in self.body_views():
                md5.update(d)
                size += len(d)
                if f:
                    f.write(d)
        finally:
            if f:
                f.close()
        return (path, size), md5.hexdigest()

    def meta_headers(self):
        return {k: v for k, v in self.headers.items()
                if k.lower().startswith("x-amz-meta-")}

    # -------------------------------------------------------------- verbs --
    def do_get_(self):
        if not self.bucket:
            return self.list_buckets()
        if self.bucket_map() is None:
            return self.error(404, "NoSuchBucket", "no such bucket")
        if not self.key:
            if "location" in self.q:
                return self.send(200, xml_doc("LocationConstraint", ""))
            if "uploads" in self.q:
                return self.send(200, xml_doc(
                    "ListMultipartUploadsResult",
                    "<Bucket>%s</Bucket><IsTruncated>false</IsTruncated>"
                    % escape(self.bucket)))
            if any(k in self.q for k in ("acl", "versioning", "tagging",
                                         "policy", "lifecycle", "cors")):
                return self.error(404, "NoSuchConfiguration", "none")
            return self.list_objects()
        if "uploadId" in self.q:
            return self.list_parts()
        return self.get_object()

    def do_head_(self):
        if not self.key:
            if self.bucket_map() is None:
                return self.error(404, "NoSuchBucket", "no such bucket")
            return self.send(200, headers={"x-amz-bucket-region":
                                           self.server.region})
        return self.get_object(head=True)

    def do_put_(self):
        st = self.server.store
        if not self.key:
            self.body.drain()
            with st.lock:
                st.buckets.setdefault(self.bucket, {})
                st.sorted[self.bucket] = None
            return self.send(200, headers={"Location": "/" + self.bucket})
        if self.bucket_map() is None:
            return self.error(404, "NoSuchBucket", "no such bucket")
        if "uploadId" in self.q:
            return self.upload_part()
        if self.headers.get("x-amz-copy-source"):
            return self.copy_object()
        if any(k in self.q for k in ("tagging", "acl")):
            self.body.drain()
            return self.send(200)
        seg, md5 = self.store_body()
        st.put(self.bucket, self.key, Obj([seg], seg[1], '"%s"' % md5,
                                          self.meta_headers(),
                                          self.headers.get("Content-Type")))
        self.send(200, headers={"ETag": '"%s"' % md5})

    def do_post_(self):
        if not self.bucket:
            return self.ec2()
        if self.bucket_map() is None:
            return self.error(404, "NoSuchBucket", "no such bucket")
        if "delete" in self.q:
            return self.delete_objects()
        if "uploads" in self.q:
            self.body.drain()
            uid = uuid.uuid4().hex
            with self.server.store.lock:
                self.server.store.uploads[uid] = (
                    self.bucket, self.key, {}, self.meta_headers(),
                    self.headers.get("Content-Type"))
            return self.send(200, xml_doc(
                "InitiateMultipartUploadResult",
                "<Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId>"
                % (escape(self.bucket), escape(self.key), uid)))
        if "uploadId" in self.q:
            return self.complete()
        self.error(400, "InvalidRequest", "unsupported POST")

    def do_delete_(self):
        st = self.server.store
        self.body.drain()
        if "uploadId" in self.q:
            with st.lock:
                up = st.uploads.pop(self.q["uploadId"], None)
            if up is None:
                return self.error(404, "NoSuchUpload", "no such upload")
            for seg, _ in up[2].values():
                remove(seg)
            return self.send(204)
        if self.bucket_map() is None:
            return self.error(404, "NoSuchBucket", "no such bucket")
        if not self.key:
            with st.lock:
                st.buckets.pop(self.bucket, None)
            return self.send(204)
        st.delete(self.bucket, self.key)
        self.send(204)

    # ------------------------------------------------------------ objects --
    def get_object(self, head=False):
        obj = self.bucket_map().get(self.key)
        if obj is None:
            return self.error(404, "NoSuchKey", "no such key")
        start, end = 0, obj.size - 1
        rng = self.headers.get("Range")
        code = 200
        if rng and rng.startswith("bytes=") and obj.size:
            a, _, b = rng[6:].partition("-")
            if a:
                start, end = int(a), min(int(b) if b else end, end)
            else:
                start = max(0, obj.size - int(b))
            if start > end:
                return self.error(416, "InvalidRange", "bad range")
            code = 206
        h = {"ETag": obj.etag, "Last-Modified": formatdate(obj.mtime,
                                                           usegmt=True),
             "Accept-Ranges": "bytes", "Content-Type":
             obj.ctype or "binary/octet-stream"}
        h.update(obj.meta)
        if code == 206:
            h["Content-Range"] = "bytes %d-%d/%d" % (start, end, obj.size)
        n = end - start + 1 if obj.size else 0
        self.send_response(code)
        for k, v in h.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(n))
        self.end_headers()
        if not head:
            self.stream(obj, start, n)

    def stream(self, obj, start, n):
        off = 0
        for path, length in obj.segs:
            if n <= 0:
                break
            if start >= off + length:
                off += length
                continue
            skip = max(0, start - off)
            take = min(length - skip, n)
            send_segment(self.connection, self.wfile, path, skip, take)
            n -= take
            start += take
            off += length

    def copy_object(self):
        self.body.drain()
        src = urllib.parse.unquote(self.headers["x-amz-copy-source"])
        sb, _, sk = src.lstrip("/").partition("/")
        sk = sk.split("?versionId=")[0]
        obj = self.server.store.buckets.get(sb, {}).get(sk)
        if obj is None:
            return self.error(404, "NoSuchKey", "no such source key")
        if self.headers.get("x-amz-metadata-directive", "").upper() == \
                "REPLACE":
            meta, ctype = self.meta_headers(), self.headers.get(
                "Content-Type")
        else:
            meta, ctype = obj.meta, obj.ctype
        new = Obj(list(obj.segs), obj.size, obj.etag, meta, ctype)
        self.server.store.put(self.bucket, self.key, new)
        self.send(200, xml_doc("CopyObjectResult",
                               "<LastModified>%s</LastModified><ETag>%s</ETag>"
                               % (iso(new.mtime), escape(obj.etag))))

    def upload_part(self):
        st = self.server.store
        up = st.uploads.get(self.q["uploadId"])
        if up is None:
            return self.error(404, "NoSuchUpload", "no such upload")
        if self.headers.get("x-amz-copy-source"):
            return self.error(501, "NotImplemented", "UploadPartCopy")
        seg, md5 = self.store_body()
        with st.lock:
            old = up[2].get(int(self.q["partNumber"]))
            up[2][int(self.q["partNumber"])] = (seg, md5)
        if old:
            remove(old[0])
        self.send(200, headers={"ETag": '"%s"' % md5})

    def list_parts(self):
        """ListParts, one page: number, ETag (MD5) and size of each part
        (the resume bench: amifs skips the parts S3 already holds)."""
        st = self.server.store
        with st.lock:
            up = st.uploads.get(self.q["uploadId"])
            parts = sorted(up[2].items()) if up else None
        if parts is None:
            return self.error(404, "NoSuchUpload", "no such upload")
        self.send(200, xml_doc("ListPartsResult", "".join(
            "<Part><PartNumber>%d</PartNumber><ETag>&quot;%s&quot;</ETag>"
            "<Size>%d</Size></Part>" % (n, md5, seg[1])
            for n, (seg, md5) in parts) +
            "<IsTruncated>false</IsTruncated>"))

    def complete(self):
        st = self.server.store
        data = b"".join(self.chunks())
        with st.lock:
            up = st.uploads.get(self.q["uploadId"])
        if up is None:
            return self.error(404, "NoSuchUpload", "no such upload")
        nums = [int(e.text) for e in ET.fromstring(data).iter()
                if e.tag.endswith("PartNumber")]
        if not nums or any(n not in up[2] for n in nums):
            return self.error(400, "InvalidPart", "unknown part")
        segs = [up[2][n][0] for n in nums]
        digest = hashlib.md5(b"".join(bytes.fromhex(up[2][n][1])
                                      for n in nums)).hexdigest()
        etag = '"%s-%d"' % (digest, len(nums))
        with st.lock:
            st.uploads.pop(self.q["uploadId"], None)
        st.put(self.bucket, self.key, Obj(segs, sum(s[1] for s in segs),
                                          etag, up[3], up[4]))
        self.send(200, xml_doc(
            "CompleteMultipartUploadResult",
            "<Bucket>%s</Bucket><Key>%s</Key><ETag>%s</ETag>"
            % (escape(self.bucket), escape(self.key), escape(etag))))

    def delete_objects(self):
        data = b"".join(self.chunks())
        keys = [e.text for e in ET.fromstring(data).iter()
                if e.tag.endswith("Key")]
        for k in keys:
            self.server.store.delete(self.bucket, k)
        self.send(200, xml_doc("DeleteResult", "".join(
            "<Deleted><Key>%s</Key></Deleted>" % escape(k) for k in keys)))

    # ---------------------------------------------------------------- ec2 --
    def ec2(self):
        """Just enough VM Import for imports/ to finish: ImportImage answers
        a task id, DescribeImportImageTasks lists those tasks as pending
        forever, anything else answers <return>true</return>. No task ever
        runs: this is a sink."""
        form = dict(urllib.parse.parse_qsl(
            b"".join(self.chunks()).decode(), keep_blank_values=True))
        act = form.get("Action", "")
        st = self.server.store
        if act == "ImportImage":
            t = dict(id="import-ami-%s" % uuid.uuid4().hex[:17],
                     desc=form.get("Description", ""), tags=[
                         (form[k], form.get(k[:-3] + "Value", ""))
                         for k in sorted(form) if k.startswith(
                             "TagSpecification.1.Tag.") and
                         k.endswith(".Key")],
                     bucket=form.get("DiskContainer.1.UserBucket.S3Bucket",
                                     ""),
                     key=form.get("DiskContainer.1.UserBucket.S3Key", ""))
            with st.lock:
                st.tasks.append(t)
            return self.send(200, ec2_doc(act, task_xml(t)))
        if act == "DescribeImportImageTasks":
            with st.lock:
                items = "".join("<item>%s</item>" % task_xml(t)
                                for t in st.tasks)
            return self.send(200, ec2_doc(act, "<importImageTaskSet>%s"
                                          "</importImageTaskSet>" % items))
        self.send(200, ec2_doc(act, "<return>true</return>"))

    # ------------------------------------------------------------ listing --
    def list_buckets(self):
        names = sorted(self.server.store.buckets)
        inner = "<Owner><ID>fasts3</ID></Owner><Buckets>%s</Buckets>" % "".join(
            "<Bucket><Name>%s</Name><CreationDate>%s</CreationDate></Bucket>"
            % (escape(n), iso(self.server.started)) for n in names)
        self.send(200, xml_doc("ListAllMyBucketsResult", inner))

    def list_objects(self):
        v2 = self.q.get("list-type") == "2"
        prefix = self.q.get("prefix", "")
        delim = self.q.get("delimiter", "")
        maxk = min(int(self.q.get("max-keys", "1000") or 1000), 1000)
        after = self.q.get("start-after", "") if v2 else \
            self.q.get("marker", "")
        if v2 and self.q.get("continuation-token"):
            after = base64.b64decode(self.q["continuation-token"]).decode()
        contents, prefixes, last, truncated = self.walk(
            prefix, delim, maxk, after)
        inner = ["<Name>%s</Name><Prefix>%s</Prefix><MaxKeys>%d</MaxKeys>"
                 "<IsTruncated>%s</IsTruncated>" % (
                     escape(self.bucket), escape(prefix), maxk,
                     "true" if truncated else "false")]
        if delim:
            inner.append("<Delimiter>%s</Delimiter>" % escape(delim))
        if v2:
            inner.append("<KeyCount>%d</KeyCount>" %
                         (len(contents) + len(prefixes)))
            if truncated:
                inner.append("<NextContinuationToken>%s</NextContinuationToken>"
                             % base64.b64encode(last.encode()).decode())
        elif truncated:
            inner.append("<NextMarker>%s</NextMarker>" % escape(last))
        objs = self.bucket_map()
        for k in contents:
            o = objs.get(k)
            if o is None:
                continue
            inner.append(
                "<Contents><Key>%s</Key><LastModified>%s</LastModified>"
                "<ETag>%s</ETag><Size>%d</Size><StorageClass>STANDARD"
                "</StorageClass></Contents>" % (
                    escape(k), iso(o.mtime), escape(o.etag), o.size))
        for p in prefixes:
            inner.append("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>"
                         % escape(p))
        self.send(200, xml_doc("ListBucketResult", "".join(inner)))

    def walk(self, prefix, delim, maxk, after):
        keys = self.server.store.keys(self.bucket)
        i = bisect_left(keys, prefix)
        if after:
            i = max(i, bisect_right(keys, after))
            if delim and after.endswith(delim):
                i = max(i, bisect_right(keys, after + "\U0010ffff"))
        contents, prefixes, last = [], [], after
        while i < len(keys):
            k = keys[i]
            if not k.startswith(prefix):
                break
            if len(contents) + len(prefixes) >= maxk:
                return contents, prefixes, last, True
            rest = k[len(prefix):]
            j = rest.find(delim) if delim else -1
            if j >= 0:
                cp = prefix + rest[:j + len(delim)]
                prefixes.append(cp)
                last = cp
                i = bisect_right(keys, cp + "\U0010ffff")
                continue
            contents.append(k)
            last = k
            i += 1
        return contents, prefixes, last, False


def ec2_doc(action, inner):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<%sResponse xmlns='
            '"http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>fasts3'
            '</requestId>%s</%sResponse>' % (action, inner, action)).encode()


def task_xml(t):
    tags = "".join("<item><key>%s</key><value>%s</value></item>" % (
        escape(k), escape(v)) for k, v in t["tags"])
    return ("<importTaskId>%s</importTaskId><description>%s</description>"
            "<progress>2</progress><status>active</status>"
            "<statusMessage>pending</statusMessage><snapshotDetailSet><item>"
            "<format>OVA</format><userBucket><s3Bucket>%s</s3Bucket>"
            "<s3Key>%s</s3Key></userBucket></item></snapshotDetailSet>"
            "<tagSet>%s</tagSet>" % (t["id"], escape(t["desc"]),
                                    escape(t["bucket"]), escape(t["key"]),
                                    tags))


def send_segment(sock, wfile, path, skip, take):
    if path is None:                       # --discard: zeros
        while take:
            n = min(take, CHUNK)
            wfile.write(ZEROS[:n])
            take -= n
        return
    with open(path, "rb") as f:
        sent = 0
        while sent < take:             # zero-copy: page cache -> socket
            n = os.sendfile(sock.fileno(), f.fileno(), skip + sent,
                            take - sent)
            if n == 0:
                raise ConnectionError("segment file is short")
            sent += n


def remove_all(paths):
    for p in paths:
        try:
            os.unlink(p)
        except OSError:
            pass


def remove(seg):
    if seg and seg[0]:
        try:
            os.unlink(seg[0])
        except OSError:
            pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir", help="where bodies go (default: a temp dir)")
    ap.add_argument("--port-file")
    ap.add_argument("--discard", action="store_true",
                    help="keep only MD5s; GETs return zeros")
    ap.add_argument("--bucket", action="append", default=[],
                    help="create this bucket at start")
    ap.add_argument("--region", default="us-east-1")
    a = ap.parse_args()
    root = a.dir or tempfile.mkdtemp(prefix="fasts3-")
    os.makedirs(root, exist_ok=True)
    srv = Server((a.host, a.port), Handler)
    srv.store = Store(root, a.discard)
    srv.region, srv.started = a.region, time.time()
    for b in a.bucket:
        srv.store.buckets[b] = {}
    port = srv.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(a.port_file + ".tmp", a.port_file)
    print("fasts3: http://%s:%d dir=%s (no signature checks)" % (
        a.host, port, root), file=sys.stderr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
