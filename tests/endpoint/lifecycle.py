"""The AMI lifecycle actions moto gets wrong or lacks (see README.md
"AMI lifecycle").

moto 5.2.1's CopyImage ignores Encrypted/KmsKeyId, invents one 15 GiB
unencrypted snapshot, and only finds a source in the caller's own account.
Lifecycle.handle(info) answers CopyImage instead:

  - the source is the caller's own AMI in SourceRegion, or an AMI of another
    account that shared it with the caller (launch permission for the
    account, or "all"); otherwise InvalidAMIID.NotFound;
  - KmsKeyId without Encrypted=true: InvalidParameterDependency; an unknown
    or disabled key (key id, key ARN, alias name or alias ARN, looked up in
    the caller's account and destination region): InvalidParameterValue;
    Encrypted without KmsKeyId means the account's aws/ebs key;
  - a source snapshot encrypted with a key of another account: that key's
    policy must allow the caller kms:Decrypt (principal *, the account id,
    or an ARN of the account), or a grant must name the account's root;
    else InvalidParameterValue (AWS fails the copy);
  - each source snapshot becomes a snapshot of the caller in the
    destination region, of the same size, encrypted with the key's ARN
    (or as the source was, when the copy is not encrypted); the new AMI maps
    them like the source (ImportedAmi) and is available at once;
  - ClientToken: the same token (account, region) returns the first copy.
"""
import threading

from moto.ec2.models import ec2_backends
from moto.ec2.utils import random_ami_id
from moto.kms.models import KmsBackend, kms_backends

import auth
from awsxml import Reply, add, ec2_response
from reqinfo import indexed
from tasks import ImportedAmi
from vmimport import ApiError, _bool

ACTIONS = ("CopyImage", "CreateImage",
           "EnableImageDeprecation", "DisableImageDeprecation",
           "DisableImage", "EnableImage")
# How long an image made by CreateImage stays "pending".
PENDING_SECONDS = 2.0
# The second account of the endpoint (account B of the sharing tests);
# create_second_account() writes its all-powerful user's key.
SECOND_ACCOUNT = "210987654321"


def owns(info):
    """Does the layer answer this EC2 request? CopyImage always;
    DescribeImages when it asks for ExecutableBy (moto looks only in the
    caller's own account for those)."""
    if info.op in ACTIONS:
        return True
    return info.op == "DescribeImages" and any(
        k.startswith("ExecutableBy.") for k in info.params)


def create_second_account(state_dir):
    """An IAM user allowed everything in SECOND_ACCOUNT, made in-process
    like the server's admin (authentication is on from the first request):
    its key goes to DIR/account-b.json (mode 0600)."""
    import json
    import os
    from moto.iam.models import iam_backends
    iam = iam_backends[SECOND_ACCOUNT]["aws"]
    iam.create_user("us-east-1", "amifs-admin-b")
    iam.put_user_policy("amifs-admin-b", "admin", json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key("amifs-admin-b")
    path = os.path.join(state_dir, "account-b.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"AccessKeyId": key.access_key_id,
                   "SecretAccessKey": key.secret_access_key,
                   "Account": SECOND_ACCOUNT}, f)


class CopiedAmi(ImportedAmi):
    """An AMI whose block device mappings show each snapshot's key."""

    __module__ = "moto.ec2.amifs_copied"

    @property
    def block_device_mappings(self):
        out = super().block_device_mappings
        for m, s in zip(out, self._snaps):
            if s.encrypted and s.kms_key_id:
                m["Ebs"]["KmsKeyId"] = s.kms_key_id
        return out


def _shared_with(ami, account):
    return any(lp.get("UserId") == account or lp.get("Group") == "all"
               for lp in ami.launch_permissions)


def _find_source(account, region, image_id):
    """(owner account, backend, ami) of a source the caller may copy."""
    own = ec2_backends[account][region]
    if image_id in own.amis:
        return account, own, own.amis[image_id]
    for acct in list(ec2_backends.keys()):
        if acct == account or region not in ec2_backends[acct].regions:
            continue
        be = ec2_backends[acct][region]
        ami = be.amis.get(image_id)
        if ami is not None and _shared_with(ami, account):
            return acct, be, ami
    raise ApiError("InvalidAMIID.NotFound",
                   "The image id '[%s]' does not exist" % image_id)


def _key(account, region, key_id):
    """The moto Key for any form of key id in account/region, or None."""
    kms = kms_backends[account][region]
    try:
        return kms.describe_key(key_id)
    except Exception:                  # moto raises KeyError/NotFound
        return None


def _key_of_arn(arn):
    """(account, region, Key) of a key ARN, or None."""
    parts = (arn or "").split(":")
    if len(parts) < 6 or parts[2] != "kms":
        return None
    key = _key(parts[4], parts[3], arn)
    return (parts[4], parts[3], key) if key else None


def _may_decrypt(key, owner, account):
    """Does the key policy (or a grant) let ACCOUNT decrypt with KEY?"""
    import json
    if owner == account:
        return True
    try:
        doc = json.loads(key.policy)
    except ValueError:
        doc = {}
    sts = doc.get("Statement", [])
    for st in sts if isinstance(sts, list) else [sts]:
        if st.get("Effect") != "Allow":
            continue
        pr = st.get("Principal")
        aws = pr.get("AWS", []) if isinstance(pr, dict) else pr
        aws = aws if isinstance(aws, list) else [aws]
        acts = st.get("Action", [])
        acts = acts if isinstance(acts, list) else [acts]
        if any(a in ("*", account) or (":iam::%s:" % account) in str(a)
               for a in aws) and \
                any(a in ("*", "kms:*", "kms:Decrypt") for a in acts):
            return True
    for g in getattr(key, "grants", {}).values():
        if getattr(g, "grantee_principal", "") in (
                account, "arn:aws:iam::%s:root" % account) and \
                "Decrypt" in (getattr(g, "operations", None) or []):
            return True
    return False


def _source_snapshots(be, ami):
    out = []
    for m in ami.block_device_mappings:
        sid = (m.get("Ebs") or {}).get("SnapshotId")
        if sid and sid in be.snapshots:
            out.append(be.snapshots[sid])
    return out


def _new_snapshot(be, region, src, desc, kms_arn):
    vol = be.create_volume(size=src.volume.size, zone_name=region + "a",
                           encrypted=bool(kms_arn), kms_key_id=kms_arn)
    snap = be.create_snapshot(vol.id, desc)
    be.delete_volume(vol.id)
    vol.id = "vol-ffffffff"
    snap.encrypted = bool(kms_arn) or bool(src.encrypted)
    snap.kms_key_id = kms_arn or (src.kms_key_id if src.encrypted else None)
    return snap


def install_aws_managed_keys():
    """moto makes the account's aws/ebs key (and the other reserved
    aliases) on first use as a customer managed key; AWS reports them as
    KeyManager AWS, which is how a client tells that they cannot be
    shared."""
    cls = KmsBackend
    if getattr(cls, "_amifs_aws_managed", False):
        return
    original = cls._generate_default_keys

    def patched(self, alias_name):
        key_id = original(self, alias_name)
        if key_id and key_id in self.keys:
            self.keys[key_id].key_manager = "AWS"
        return key_id

    cls._generate_default_keys = patched
    cls._amifs_aws_managed = True


class Lifecycle:
    def __init__(self):
        install_aws_managed_keys()
        self.lock = threading.Lock()
        self.tokens = {}              # (account, region, token) -> image id

    def handle(self, info):
        denied = auth.verify(info, info.op)
        if denied is not None:
            return denied
        try:
            if _bool(info.params.get("DryRun")):
                raise ApiError("DryRunOperation", "Request would have "
                               "succeeded, but DryRun flag is set.", 412)
            fn = getattr(self, "_" + info.op)
            return Reply(200, fn(info, auth.account_of(info)))
        except ApiError as e:
            return Reply.error("ec2", e.status, e.code, e.message)

    def _DescribeImages(self, info, account):
        """ExecutableBy=self (or the account's id): the images of every
        account in the region that list the caller in their launch
        permissions (AWS: explicit launch permissions; public ones only
        with ExecutableBy=all)."""
        region = info.region or "us-east-1"
        who = {v for k, v in info.params.items()
               if k.startswith("ExecutableBy.")}
        users = {account if w == "self" else w for w in who}
        want = {v for k, v in info.params.items()
                if k.startswith("ImageId.")}
        found = []
        for acct in list(ec2_backends.keys()):
            if region not in ec2_backends[acct].regions:
                continue
            be = ec2_backends[acct][region]
            for ami in list(be.amis.values()):
                ok = any(lp.get("UserId") in users or (
                    "all" in users and lp.get("Group") == "all")
                    for lp in ami.launch_permissions)
                if ok and (not want or ami.id in want):
                    found.append((be, ami))
        return ec2_response("DescribeImages", lambda r: _images_xml(
            add(r, "imagesSet", ""), found))

    def _CreateImage(self, info, account):
        """CreateImage: moto's makes the image available at once, invents
        one unrelated 15 GiB snapshot, ignores NoReboot and tags only the
        image. Here: one snapshot per EBS volume of the instance (its
        size), tags by TagSpecification resource type (image, snapshot),
        "pending" for PENDING_SECONDS, then "available"; the reboot choice
        is kept as the image's tag-free attribute `amifs_no_reboot`."""
        p, region = info.params, info.region or "us-east-1"
        be = ec2_backends[account][region]
        iid, name = p.get("InstanceId"), p.get("Name")
        if not iid or not name:
            raise ApiError("MissingParameter", "The request must contain "
                           "the parameters InstanceId and Name")
        inst = be.get_instance_by_id(iid)
        if inst is None:
            raise ApiError("InvalidInstanceID.NotFound",
                           "The instance ID '%s' does not exist" % iid)
        if any(a.name == name for a in be.amis.values()):
            raise ApiError("InvalidAMIName.Duplicate", "AMI name %s is "
                           "already in use by AMI" % name)
        tags = {}
        for spec in indexed(p, "TagSpecification"):
            rtype = spec.get("ResourceType")
            tags.setdefault(rtype, {}).update(
                {t.get("Key"): t.get("Value", "")
                 for t in indexed(spec, "Tag")})
        new_id = random_ami_id()
        snaps = []
        for dev, block in inst.get_block_device_mapping:
            vol = be.get_volume(block.volume_id)
            snap = be.create_snapshot(vol.id, "Created by CreateImage(%s) "
                                      "for %s" % (iid, new_id))
            snap.add_tags(tags.get("snapshot", {}))
            snaps.append(snap)
        if not snaps:
            raise ApiError("InvalidParameterValue", "The instance %s has "
                           "no EBS volume" % iid)
        ami = CopiedAmi(be, new_id, snaps, name=name,
                        description=p.get("Description") or "",
                        architecture=inst.architecture or "x86_64",
                        virtualization_type="hvm", hypervisor="xen",
                        root_device_type="ebs", root_device_name="/dev/sda1",
                        region_name=region + "a", state="pending",
                        image_location="%s/%s" % (account, name))
        ami.amifs_no_reboot = _bool(p.get("NoReboot"))
        ami.add_tags(tags.get("image", {}))
        be.amis[new_id] = ami
        t = threading.Timer(PENDING_SECONDS, _make_available, (ami,))
        t.daemon = True
        t.start()
        return ec2_response("CreateImage", lambda r: add(r, "imageId",
                                                         new_id))

    # ---- deprecation and disabling (moto 5.2.1 has neither) ----

    @staticmethod
    def _own_image(info, account):
        be = ec2_backends[account][info.region or "us-east-1"]
        iid = info.params.get("ImageId")
        if not iid or iid not in be.amis:
            raise ApiError("InvalidAMIID.NotFound",
                           "The image id '[%s]' does not exist" % iid)
        return be.amis[iid]

    def _EnableImageDeprecation(self, info, account):
        """DeprecateAt: not in the past, at most 10 years ahead; seconds
        are dropped (EC2 rounds to the minute)."""
        import datetime
        ami = self._own_image(info, account)
        raw = info.params.get("DeprecateAt", "")
        try:
            at = datetime.datetime.strptime(raw[:16], "%Y-%m-%dT%H:%M")
        except ValueError:
            raise ApiError("InvalidParameterValue", "Invalid value '%s' "
                           "for DeprecateAt" % raw)
        now = datetime.datetime.utcnow()
        if at < now - datetime.timedelta(minutes=1):
            raise ApiError("InvalidParameterValue", "The DeprecateAt time "
                           "cannot be in the past.")
        if at > now + datetime.timedelta(days=3653):
            raise ApiError("InvalidParameterValue", "The DeprecateAt time "
                           "cannot be more than 10 years in the future.")
        ami.deprecation_time = at.strftime("%Y-%m-%dT%H:%M:00.000Z")
        return _true("EnableImageDeprecation")

    def _DisableImageDeprecation(self, info, account):
        self._own_image(info, account).deprecation_time = None
        return _true("DisableImageDeprecation")

    def _DisableImage(self, info, account):
        """available → disabled; a shared or public image becomes
        private (its launch permissions go)."""
        ami = self._own_image(info, account)
        if ami.state != "available":
            raise ApiError("IncorrectState", "The image %s is in state %s"
                           % (ami.id, ami.state))
        ami.launch_permissions = []
        ami.state = "disabled"
        return _true("DisableImage")

    def _EnableImage(self, info, account):
        ami = self._own_image(info, account)
        if ami.state != "disabled":
            raise ApiError("IncorrectState", "The image %s is not disabled"
                           % ami.id)
        ami.state = "available"
        return _true("EnableImage")

    def _CopyImage(self, info, account):
        p = info.params
        region = info.region or "us-east-1"
        token = p.get("ClientToken")
        with self.lock:
            if token and (account, region, token) in self.tokens:
                ami_id = self.tokens[(account, region, token)]
            else:
                ami_id = self._copy(p, account, region)
                if token:
                    self.tokens[(account, region, token)] = ami_id
        return ec2_response("CopyImage", lambda r: add(r, "imageId", ami_id))

    def _copy(self, p, account, region):
        src_id, src_region = p.get("SourceImageId"), p.get("SourceRegion")
        if not src_id or not src_region:
            raise ApiError("MissingParameter", "The request must contain "
                           "the parameters SourceImageId and SourceRegion")
        encrypted, kms_id = _bool(p.get("Encrypted")), p.get("KmsKeyId")
        if kms_id and not encrypted:
            raise ApiError("InvalidParameterDependency", "The parameter "
                           "KmsKeyId requires the parameter Encrypted")
        kms_arn = None
        if encrypted:
            key = _key(account, region, kms_id or "alias/aws/ebs")
            if key is None or getattr(key, "key_state", "Enabled") != \
                    "Enabled":
                raise ApiError("InvalidParameterValue", "Invalid KMS key "
                               "'%s'" % kms_id)
            kms_arn = key.arn
        owner, sbe, src = _find_source(account, src_region, src_id)
        snaps = _source_snapshots(sbe, src)
        for s in snaps:
            k = _key_of_arn(s.kms_key_id) if s.encrypted else None
            if k and not _may_decrypt(k[2], k[0], account):
                raise ApiError("InvalidParameterValue", "The account %s "
                               "may not use KMS key %s of snapshot %s"
                               % (account, s.kms_key_id, s.id))
        be = ec2_backends[account][region]
        new_id = random_ami_id()
        desc = "Copied for DestinationAmi %s from SourceAmi %s" % (
            new_id, src_id)
        new = [_new_snapshot(be, region, s, desc, kms_arn) for s in snaps]
        if not new:
            raise ApiError("InvalidAMIID.Unavailable", "The image %s has "
                           "no EBS snapshot to copy" % src_id)
        ami = CopiedAmi(
            be, new_id, new, name=p.get("Name") or src.name,
            description=p.get("Description") or src.description,
            architecture=src.architecture,
            virtualization_type=src.virtualization_type,
            hypervisor=src.hypervisor, root_device_type="ebs",
            root_device_name=src.root_device_name, platform=src.platform,
            region_name=region + "a", boot_mode=src.boot_mode,
            image_location="%s/%s" % (account, p.get("Name") or src.name))
        be.amis[new_id] = ami
        return new_id


def _true(action):
    return ec2_response(action, lambda r: add(r, "return", "true"))


def _make_available(ami):
    ami.state = "available"


def _images_xml(parent, found):
    for be, ami in found:
        it = add(parent, "item", "")
        for tag, val in (("imageId", ami.id),
                         ("imageLocation", ami.image_location),
                         ("imageState", ami.state),
                         ("imageOwnerId", ami.owner_id),
                         ("isPublic", ami.is_public),
                         ("architecture", ami.architecture),
                         ("imageType", ami.image_type),
                         ("name", ami.name),
                         ("description", ami.description),
                         ("rootDeviceType", ami.root_device_type),
                         ("rootDeviceName", ami.root_device_name),
                         ("virtualizationType", ami.virtualization_type),
                         ("hypervisor", ami.hypervisor),
                         ("bootMode", ami.boot_mode),
                         ("creationDate", ami.creation_date.strftime(
                             "%Y-%m-%dT%H:%M:%S.000Z")
                          if hasattr(ami.creation_date, "strftime")
                          else ami.creation_date)):
            add(it, tag, val)
        bdm = add(it, "blockDeviceMapping", "")
        for m in ami.block_device_mappings:
            mi = add(bdm, "item", "")
            add(mi, "deviceName", m.get("DeviceName"))
            ebs = m.get("Ebs")
            if ebs:
                e = add(mi, "ebs", "")
                snap = be.snapshots.get(ebs.get("SnapshotId"))
                add(e, "snapshotId", ebs.get("SnapshotId"))
                add(e, "volumeSize", ebs.get("VolumeSize"))
                add(e, "deleteOnTermination",
                    bool(ebs.get("DeleteOnTermination")))
                add(e, "volumeType", ebs.get("VolumeType"))
                add(e, "encrypted", bool(snap and snap.encrypted))
                if snap is not None and snap.encrypted and snap.kms_key_id:
                    add(e, "kmsKeyId", snap.kms_key_id)
        add(it, "tagSet", "")
