"""SigV4 checks: moto's own checker, handed the raw request URI.

moto 5.2.1 verifies signatures against a URI it rebuilt from the *decoded*
path and query (werkzeug's request.url), so a valid request whose path or
query holds '+', '%', non-ASCII or '/' in a query value (every
ListObjectsV2 with delimiter=/ or prefix=dir/) fails with
SignatureDoesNotMatch. The client signed the URI as it sent it; werkzeug keeps
that in the environ as RAW_URI. install_raw_uri_patch() makes moto's check use
it (the check itself, and the IAM policy evaluation, stay moto's).
The VM Import layer reuses the same checker through verify().
"""
import threading
from urllib.parse import urlsplit

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.access_control import IAMRequest, S3IAMRequest
from moto.iam.models import get_account_id_from
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import HTTPException

from awsxml import Reply

_patch_lock = threading.Lock()


def auth_enabled():
    return (ActionAuthenticatorMixin.request_count
            >= settings.INITIAL_NO_AUTH_ACTION_COUNT)


def _raw_url(environ):
    host = environ.get("HTTP_HOST", "localhost")
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        return None
    if "://" in raw:                    # absolute-form request target
        parts = urlsplit(raw)
        raw = parts.path + ("?" + parts.query if parts.query else "")
    return "http://%s%s" % (host, raw)


# STS calls AWS takes unsigned (server.py lets them through to moto).
UNSIGNED_ACTIONS = ("AssumeRoleWithSAML", "AssumeRoleWithWebIdentity")


def install_raw_uri_patch():
    """Wrap moto's _authenticate_and_authorize_action so that, for the
    duration of the check only, self.uri is the URI as the client sent it,
    and so that the unsigned STS actions are not checked at all."""
    with _patch_lock:
        cls = ActionAuthenticatorMixin
        if getattr(cls, "_amifs_raw_uri", False):
            return
        original = cls._authenticate_and_authorize_action

        def patched(self, iam_request_cls, resource="*"):
            from flask import has_request_context, request
            # AWS answers these without a signature (the caller proves who
            # it is with the token in the body); moto would look for an
            # Authorization header and fail with a KeyError.
            if "Authorization" not in self.headers and \
                    self._get_action() in UNSIGNED_ACTIONS:
                return None
            url = _raw_url(request.environ) if has_request_context() else None
            if not url:
                return original(self, iam_request_cls, resource)
            saved = self.uri
            self.uri = url
            try:
                return original(self, iam_request_cls, resource)
            finally:
                self.uri = saved

        cls._authenticate_and_authorize_action = patched
        cls._amifs_raw_uri = True


def account_of(info):
    return get_account_id_from(info.access_key or "AKIAEXAMPLE")


def verify(info, action, resource="*"):
    """Check INFO's signature (and, for non-S3 services, that the caller may
    do ACTION) with moto's checker. Returns None when allowed, else a Reply
    carrying moto's error (AuthFailure for EC2, SignatureDoesNotMatch...)."""
    if not auth_enabled():
        return None
    if not info.auth:
        return unsigned_reply(info)
    raw = _raw_url(info.environ) or info.path
    parts = urlsplit(raw)
    path = parts.path + ("?" + parts.query if parts.query else "")
    cls = S3IAMRequest if info.service == "s3" else IAMRequest
    try:
        req = cls(account_id=account_of(info), method=info.method,
                  path=path, data=info.params, body=info.body,
                  headers=EnvironHeaders(info.environ), action=action)
        req.check_signature()
        if info.service != "s3":
            req.check_action_permitted(resource)
    except HTTPException as e:
        body = e.description
        if isinstance(body, str):
            body = body.encode("utf-8")
        return Reply(e.code, body)
    return None


def unsigned_reply(info):
    """What AWS answers an anonymous request when anonymous access is not
    allowed (moto 5.2.1 answers 500: it indexes a missing header)."""
    if info.service == "s3":
        return Reply.error("s3", 403, "AccessDenied", "Access Denied")
    if info.service == "ec2":
        return Reply.error("ec2", 401, "AuthFailure",
                           "AWS was not able to validate the provided "
                           "access credentials")
    return Reply.error(info.service or "sts", 403,
                       "MissingAuthenticationToken",
                       "Request is missing Authentication Token")
