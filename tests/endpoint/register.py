"""RegisterImage from existing snapshots, through moto's EC2 backend.

moto's own RegisterImage ignores the block device mappings (it invents one
15 GiB snapshot) and the boot mode, so the VM Import layer answers it here:
the request's snapshots must exist in the account and region, the name must
be unique (InvalidAMIName.Duplicate, as EC2 says), and the AMI is stored in
moto's backend with exactly the mappings, boot mode, architecture, root
device and ENA/TPM/IMDS flags asked for, so that describe-images (moto's)
shows them. Tags from TagSpecification ResourceType image land on it.
"""
import re

from moto.ec2.models import ec2_backends
from moto.ec2.utils import random_ami_id

from awsxml import add, ec2_response
from reqinfo import indexed
from tasks import ImportedAmi

ARCHES = ("i386", "x86_64", "arm64", "x86_64_mac", "arm64_mac")
BOOT_MODES = ("legacy-bios", "uefi", "uefi-preferred")
NAME_RX = re.compile(r"^[A-Za-z0-9()\[\]./\-'@_ ]{3,128}$")


class MappedAmi(ImportedAmi):
    """An AMI whose mappings are the request's (device names included)."""

    __module__ = "moto.ec2.amifs_registered"
    # RegisterImage makes an AMI that VM Import did not create: ExportImage
    # answers NotExportable for it (exports.py)
    exportable = False

    def __init__(self, be, ami_id, snaps, devices, **kw):
        self._devices = devices
        super().__init__(be, ami_id, snaps, **kw)

    @property
    def block_device_mappings(self):
        return [{"DeviceName": dev, "Ebs": {
            "SnapshotId": s.id, "VolumeSize": s.volume.size,
            "DeleteOnTermination": dot, "VolumeType": "gp2",
            "Encrypted": bool(s.encrypted)}}
            for (dev, dot), s in zip(self._devices, self._snaps)]


def register_image(info, account, api_error):
    """The RegisterImage answer (XML text); raises api_error(code, msg)."""
    p = info.params
    region = info.region or "us-east-1"
    be = ec2_backends[account][region]
    name = p.get("Name") or ""
    if not NAME_RX.match(name):
        raise api_error("InvalidAMIName.Malformed",
                        "AMI names must be between 3 and 128 characters "
                        "long, and may contain letters, numbers, '(', ')', "
                        "'.', '-', '/' and '_'")
    if any(a.name == name and a.owner_id == account
           for a in be.amis.values()):
        raise api_error("InvalidAMIName.Duplicate",
                        "AMI name %s is already in use by AMI" % name)
    for key, allowed in (("Architecture", ARCHES), ("BootMode", BOOT_MODES)):
        v = p.get(key)
        if v is not None and v not in allowed:
            raise api_error("InvalidParameterValue",
                            "Value (%s) for parameter %s is invalid." % (v,
                                                                         key))
    maps = indexed(p, "BlockDeviceMapping")
    if not maps:
        raise api_error("InvalidBlockDeviceMapping",
                        "At least one block device mapping is required")
    snaps, devices = [], []
    for m in maps:
        sid = m.get("Ebs.SnapshotId")
        snap = be.snapshots.get(sid)
        if snap is None:
            raise api_error("InvalidSnapshot.NotFound",
                            "The snapshot '%s' does not exist." % sid)
        snaps.append(snap)
        devices.append((m.get("DeviceName"),
                        (m.get("Ebs.DeleteOnTermination") or "true")
                        .lower() == "true"))
    root = p.get("RootDeviceName") or devices[0][0]
    if root not in [d for d, _ in devices]:
        raise api_error("InvalidParameterValue",
                        "The root device name %s is not mapped." % root)
    ami = MappedAmi(be, random_ami_id(), snaps, devices, name=name,
                    description=p.get("Description"),
                    architecture=p.get("Architecture") or "x86_64",
                    virtualization_type="hvm", hypervisor="xen",
                    root_device_type="ebs", root_device_name=root,
                    image_location="%s/%s" % (account, name),
                    region_name=region + "a",
                    boot_mode=p.get("BootMode"))
    ami.ena_support = (p.get("EnaSupport") or "").lower() == "true"
    ami.tpm_support = p.get("TpmSupport")
    ami.imds_support = p.get("ImdsSupport")
    for spec in indexed(p, "TagSpecification"):
        if spec.get("ResourceType") == "image":
            ami.add_tags({t["Key"]: t.get("Value", "")
                          for t in indexed(spec, "Tag") if "Key" in t})
    be.amis[ami.id] = ami
    return ec2_response("RegisterImage", lambda r: add(r, "imageId", ami.id))
