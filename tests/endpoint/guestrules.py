"""What VM Import refuses inside a guest (ImportImage only; ImportSnapshot
copies blocks and looks at nothing).

The rules follow AWS's published VM Import requirements (doc/AWS.md "VM
Import facts"): the operating systems and releases it supports per
distribution, the kernel versions it can update, and its boot-loader
limits. They read the guest's root filesystem with debugfs (e2fsprogs), as
diskcheck does for os-release, so a failure comes from what is really on
the disk. Messages are the ones VM Import reports.

check(raw, offset, os_release) -> None, or the ClientError message.
"""
import re
import subprocess

MSG_KERNEL = "ClientError: Unsupported kernel version %s"
MSG_OS = "ClientError: Unknown OS / Missing OS files."
MSG_BLS = ("ClientError: BLSC-style GRUB found, but unable to detect "
           "default kernel")

# Releases VM Import supports, per os-release ID: (lowest, highest)
# VERSION_ID, compared as dotted numbers.
RELEASES = {
    "ubuntu": ("12.04", "22.04"),
    "debian": ("6", "11"),
    "rhel": ("5.1", "9.99"),
    "centos": ("5.1", "8.99"),
    "fedora": ("19", "36"),
    "sles": ("11.3", "15.4"),
    "ol": ("5.10", "8.99"),
    "amzn": ("2", "2"),
}
# Kernels VM Import can update: 2.6.x to 5.x (the major version).
KERNEL_MAJOR = (2, 5)


def _nums(v):
    return tuple(int(x) for x in re.findall(r"\d+", v or "")[:3]) or (0,)


def _debugfs(raw, offset, cmd):
    p = subprocess.run(["debugfs", "-R", cmd, "%s?offset=%d" % (raw, offset)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    return p.stdout.decode("utf-8", "replace")


def _ls(raw, offset, path):
    """Names in PATH (empty when absent)."""
    out = _debugfs(raw, offset, "ls -p %s" % path)
    names = []
    for line in out.splitlines():
        f = line.strip("/").split("/")
        if len(f) >= 5 and f[4] not in (".", ".."):
            names.append(f[4])
    return names


def kernels(raw, offset):
    """Kernel versions installed in /boot (vmlinuz-VERSION)."""
    return sorted(n[len("vmlinuz-"):] for n in _ls(raw, offset, "/boot")
                  if n.startswith("vmlinuz-"))


def check(raw, offset, os_release):
    distro = (os_release.get("ID") or "").lower()
    rng = RELEASES.get(distro)
    ver = _nums(os_release.get("VERSION_ID"))
    if rng is not None and not (_nums(rng[0]) <= ver <= _nums(rng[1])):
        return MSG_OS
    ks = kernels(raw, offset)
    if ks:
        newest = max(ks, key=_nums)
        major = _nums(newest)[0]
        if not KERNEL_MAJOR[0] <= major <= KERNEL_MAJOR[1]:
            return MSG_KERNEL % newest
    if _ls(raw, offset, "/boot/loader/entries"):
        return MSG_BLS
    return None
