"""CopyImage's ClientToken, which moto 5.2.1 ignores (README.md, divergence
11): EC2 answers a CopyImage repeated with the same ClientToken (and the
same parameters) with the image the first one created, instead of copying
again. amifs relies on it to copy an AMI to other regions exactly once,
whichever mount asks and however often (doc/design/fleet.md).

install() wraps moto's AmisResponse.copy_image: a token seen before, in the
same account and destination region, whose image still exists, answers
with that image id; the same token with other parameters answers 400
IdempotentParameterMismatch, as EC2 does.
"""
import threading

from moto.core.responses import ActionResult
from moto.ec2.responses.amis import AmisResponse

_lock = threading.Lock()
_tokens = {}        # (account, region, token) -> (params, image id)


def install():
    if getattr(AmisResponse.copy_image, "_amifs", False):
        return
    real = AmisResponse.copy_image

    def copy_image(self):
        token = self._get_param("ClientToken")
        if not token:
            return real(self)
        key = (self.current_account, self.region, token)
        params = (self._get_param("SourceImageId"),
                  self._get_param("SourceRegion"), self._get_param("Name"))
        with _lock:     # one copy per token, even for racing calls
            old = _tokens.get(key)
            if old is not None and old[1] in self.ec2_backend.amis:
                if old[0] != params:
                    return _mismatch()
                return ActionResult({"ImageId": old[1]})
            result = real(self)
            image_id = result.result["ImageId"]
            _tokens[key] = (params, image_id)
            return result

    copy_image._amifs = True
    AmisResponse.copy_image = copy_image


def _mismatch():
    from moto.ec2.exceptions import EC2ClientError
    raise EC2ClientError("IdempotentParameterMismatch",
                         "Specified ClientToken was already used with "
                         "different parameters.")
