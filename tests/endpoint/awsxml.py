"""Response and error bodies in the exact shapes of doc/AWS.md "Protocols", "Errors".

Bodies are built with ElementTree so every value is escaped; nothing here
knows about moto.
"""
import uuid
import xml.etree.ElementTree as ET

EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
QUERY_NS = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/",
            "sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class ApiError(Exception):
    """An EC2 error answer to be: code, message, HTTP status (the VM Import,
    export and lifecycle layers raise it; their handle() turns it into
    Reply.error)."""

    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def request_id():
    return str(uuid.uuid4())


def _bytes(root):
    return DECL + ET.tostring(root, encoding="utf-8")


def add(parent, tag, value=None):
    """Append <tag>value</tag>; None values are skipped (returns None),
    booleans become true/false."""
    if value is None:
        return None
    el = ET.SubElement(parent, tag)
    if isinstance(value, bool):
        el.text = "true" if value else "false"
    elif not isinstance(value, ET.Element):
        el.text = str(value)
    return el


def ec2_response(action, fill):
    """<{action}Response xmlns=EC2> with requestId, then fill(root)."""
    root = ET.Element(action + "Response", xmlns=EC2_NS)
    add(root, "requestId", request_id())
    fill(root)
    return _bytes(root)


def ec2_error(code, message):
    root = ET.Element("Response")
    err = ET.SubElement(ET.SubElement(root, "Errors"), "Error")
    add(err, "Code", code)
    add(err, "Message", message)
    add(root, "RequestID", request_id())
    return _bytes(root)


def query_error(service, code, message, status):
    """IAM/STS ErrorResponse; Type is Receiver for 5xx."""
    root = ET.Element("ErrorResponse", xmlns=QUERY_NS.get(service, ""))
    err = ET.SubElement(root, "Error")
    add(err, "Type", "Receiver" if status >= 500 else "Sender")
    add(err, "Code", code)
    add(err, "Message", message)
    add(root, "RequestId", request_id())
    return _bytes(root)


def s3_error(code, message, **extra):
    root = ET.Element("Error")
    add(root, "Code", code)
    add(root, "Message", message)
    for k, v in extra.items():
        add(root, k, v)
    add(root, "RequestId", uuid.uuid4().hex[:16].upper())
    add(root, "HostId", "YW1pZnMtbG9jYWwtZW5kcG9pbnQ=")
    return _bytes(root)


def error_for(service, code, message, status):
    """The error body of SERVICE's protocol."""
    if service == "ec2":
        return ec2_error(code, message)
    if service in ("iam", "sts"):
        return query_error(service, code, message, status)
    return s3_error(code, message)


class Reply:
    """A complete response: status, headers (list of pairs), body bytes."""

    def __init__(self, status, body=b"", headers=None,
                 ctype="text/xml"):
        self.status = status
        self.body = body
        self.headers = list(headers or [])
        if ctype and body:
            self.headers.append(("Content-Type", ctype))

    @classmethod
    def error(cls, service, status, code, message):
        return cls(status, error_for(service, code, message, status))


STATUS_TEXT = {200: "OK", 204: "No Content", 400: "Bad Request",
               401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
               409: "Conflict", 412: "Precondition Failed",
               500: "Internal Server Error", 503: "Service Unavailable"}
