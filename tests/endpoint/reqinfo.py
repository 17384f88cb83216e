"""What a request is: service, region, operation, parameters.

Everything here is derived from the WSGI environ (and, for the query
protocols, the form body) without touching moto, so the request log, the
fault rules and the VM Import router all see the same classification.
"""
import re
import urllib.parse

# Query-protocol API versions -> service, for unsigned requests (no
# credential scope to read the service from).
_VERSION_SERVICE = {
    "2016-11-15": "ec2",
    "2010-05-08": "iam",
    "2011-06-15": "sts",
}

# S3 sub-resources that name a bucket-level operation: (method, subresource)
# -> op. Only those clients of amifs plausibly use are listed; the rest get a
# generic name built from the sub-resource.
_S3_BUCKET_SUB = {
    ("GET", "location"): "GetBucketLocation",
    ("GET", "uploads"): "ListMultipartUploads",
    ("GET", "versioning"): "GetBucketVersioning",
    ("GET", "policy"): "GetBucketPolicy",
    ("GET", "acl"): "GetBucketAcl",
    ("GET", "tagging"): "GetBucketTagging",
    ("GET", "versions"): "ListObjectVersions",
    ("PUT", "versioning"): "PutBucketVersioning",
    ("PUT", "policy"): "PutBucketPolicy",
    ("PUT", "tagging"): "PutBucketTagging",
    ("PUT", "acl"): "PutBucketAcl",
    ("POST", "delete"): "DeleteObjects",
}


class ReqInfo:
    """One request's facts. body is bytes (b"" when there is none) once
    read_body() has run; params holds the decoded query/form parameters
    (first value wins) for query-protocol services."""

    def __init__(self, environ):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") \
            or environ.get("PATH_INFO", "/")
        self.path = environ.get("PATH_INFO", "/")
        self.query = environ.get("QUERY_STRING", "")
        self.qs = urllib.parse.parse_qs(self.query, keep_blank_values=True)
        self.auth = environ.get("HTTP_AUTHORIZATION", "")
        self.body = b""
        self.params = {}
        self.service, self.region, self.access_key = _scope(self.auth, self.qs)
        self.op = None

    def header(self, name, default=None):
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return self.environ.get(key, default)
        return self.environ.get("HTTP_" + key, default)

    @property
    def signed(self):
        return bool(self.auth) or "X-Amz-Signature" in self.qs

    def is_form(self):
        ctype = self.environ.get("CONTENT_TYPE", "")
        return ctype.startswith("application/x-www-form-urlencoded")

    def classify(self):
        """Fill params/service/op. Needs the body for query protocols."""
        if self.is_form() or (self.service in ("ec2", "iam", "sts")):
            self.params = _form_params(self.query, self.body, self.is_form())
        action = self.params.get("Action")
        if not self.service:
            self.service = _VERSION_SERVICE.get(
                self.params.get("Version", ""), "s3" if not action else "")
            self.region = self.region or "us-east-1"
        if self.service == "s3":
            self.op = s3_op(self.method, self.path, self.qs,
                            self.header("x-amz-copy-source"))
        else:
            self.op = action or "Unknown"
        return self

    @property
    def client_token(self):
        return self.params.get("ClientToken")

    def bucket_key(self):
        """(bucket, key) of a path-style S3 request; key may be ""."""
        parts = self.path.lstrip("/").split("/", 1)
        return parts[0], parts[1] if len(parts) > 1 else ""


def _scope(auth, qs):
    """(service, region, access key) from the SigV4 credential scope of the
    Authorization header or a presigned URL; Nones when unsigned."""
    cred = ""
    if auth.startswith("AWS4-HMAC-SHA256"):
        for part in auth[len("AWS4-HMAC-SHA256"):].split(","):
            part = part.strip()
            if part.startswith("Credential="):
                cred = part[len("Credential="):]
    elif "X-Amz-Credential" in qs:
        cred = qs["X-Amz-Credential"][0]
    fields = cred.split("/")
    if len(fields) != 5:
        return None, None, None
    return fields[3].lower(), fields[2], fields[0]


# ---- EC2 query-protocol lists ------------------------------------------------

def indexed(params, prefix):
    """The members of the query-protocol list PREFIX, in the order of their
    index N: [{rest: value}] for the parameters named PREFIX.N.rest (rest
    is "" for a plain PREFIX.N). Works on any dict of such names, e.g. one
    member's own entries (indexed(spec, "Tag") of a TagSpecification)."""
    out = {}
    rx = re.compile(r"^%s\.(\d+)(?:\.(.*))?$" % re.escape(prefix))
    for k, v in params.items():
        m = rx.match(k)
        if m:
            out.setdefault(int(m.group(1)), {})[m.group(2) or ""] = v
    return [out[i] for i in sorted(out)]


def sub(params, prefix):
    """{rest: value} for the parameters named PREFIX.rest (one structure)."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in params.items() if k.startswith(prefix + ".")}


def _form_params(query, body, is_form):
    """Query-protocol parameters from the query string and the form body."""
    params = {}
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    if is_form and body:
        try:
            pairs += urllib.parse.parse_qsl(body.decode("utf-8"),
                                            keep_blank_values=True)
        except UnicodeDecodeError:
            pass
    for k, v in pairs:
        params.setdefault(k, v)
    return params


def s3_op(method, path, qs, copy_source):
    """The S3 operation name of a path-style request."""
    parts = path.lstrip("/").split("/", 1)
    if not parts[0]:
        return "ListBuckets" if method == "GET" else "S3" + method.title()
    if len(parts) == 1 or parts[1] == "":
        return _s3_bucket_op(method, qs)
    return _s3_object_op(method, qs, copy_source)


def _s3_bucket_op(method, qs):
    for sub in qs:
        if (method, sub) in _S3_BUCKET_SUB:
            return _S3_BUCKET_SUB[(method, sub)]
    if method == "GET":
        if qs.get("list-type", [""])[0] == "2":
            return "ListObjectsV2"
        subs = [k for k in qs if not qs[k][0]]
        if subs:
            return "GetBucket" + subs[0].title()
        return "ListObjects"
    return {"PUT": "CreateBucket", "DELETE": "DeleteBucket",
            "HEAD": "HeadBucket"}.get(method, "Bucket" + method.title())


def _s3_object_op(method, qs, copy_source):
    upload = "uploadId" in qs
    if method == "PUT":
        if upload and "partNumber" in qs:
            return "UploadPartCopy" if copy_source else "UploadPart"
        if "tagging" in qs:
            return "PutObjectTagging"
        return "CopyObject" if copy_source else "PutObject"
    if method == "POST":
        if "uploads" in qs:
            return "CreateMultipartUpload"
        return "CompleteMultipartUpload" if upload else "PostObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if upload else "DeleteObject"
    if method == "GET":
        if upload:
            return "ListParts"
        return "GetObjectTagging" if "tagging" in qs else "GetObject"
    if method == "HEAD":
        return "HeadObject"
    return "Object" + method.title()
