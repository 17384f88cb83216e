#!/usr/bin/env python3
"""Regenerate the seed corpora in tests/fuzz/corpus/<target>/.

Each target reads byte 0 as a selector (see the comment at the top of its
.c file); this script writes realistic inputs with the right selector:
the AWS example bodies from shared/aws/examples, the official SigV4
test-suite requests, small config files, credential JSON, OVF/manifest
text from tests/images/mkimages.py and tiny disk images from qemu-img.

    python3 tests/fuzz/mkcorpus.py [--shared /work/shared]

The output is committed, so the test never needs /work/shared or qemu-img;
rerun this only to refresh the seeds. Existing corpus files are replaced.
"""
import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# fuzz_xml.c's parser table, by example-file name prefix.
XML_SELECTORS = [
    ("s3_ListBuckets", 1), ("s3_GetBucketLocation", 2),
    ("s3_ListObjectsV2", 3), ("s3_ListMultipartUploads", 4),
    ("s3_ListParts", 5), ("s3_CompleteMultipartUpload", 6),
    ("s3_CopyObject", 6), ("s3_UploadPartCopy", 6),
    ("ec2_ImportImage", 7), ("ec2_DescribeImportImageTasks", 8),
    ("ec2_DescribeImportSnapshotTasks", 10), ("ec2_DescribeImages", 11),
    ("ec2_DescribeSnapshots", 12), ("ec2_DescribeImageAttribute", 13),
    ("ec2_DescribeRegions", 14), ("iam_GetRole", 15),
    ("iam_GetRolePolicy", 16), ("sts_GetCallerIdentity", 18),
    ("sts_AssumeRole", 19),
]
XML_TO_JSON = 20
SIGV4_METHODS = ["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH"]


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def reset(target):
    shutil.rmtree(os.path.join(HERE, "corpus", target), ignore_errors=True)


def xml_corpus(shared):
    reset("fuzz_xml")
    ex = os.path.join(shared, "aws", "examples")
    for fn in sorted(os.listdir(ex)):
        body = open(os.path.join(ex, fn), "rb").read()
        stem = fn.rsplit(".", 1)[0]
        sels = {0}  # the tree walk takes everything
        sels |= {s for p, s in XML_SELECTORS if stem.startswith(p)}
        if stem.startswith("ec2_"):
            sels.add(XML_TO_JSON)
        if "Error" in stem:  # error answers go to every parser's refusal
            sels |= {1, 3, 6, 8, 11, 15, 19}
        for s in sorted(sels):
            put("fuzz_xml", "%s-%d" % (stem, s), bytes([s]) + body)


def parse_req(text):
    """An official .req file → (method, path, query, [(name, value)])."""
    head = text.split("\n\n", 1)[0]
    lines = head.split("\n")
    method, target = lines[0].split(" ", 1)
    target = target.rsplit(" ", 1)[0]
    path, _, query = target.partition("?")
    headers = []
    for ln in lines[1:]:
        if ln[:1] in (" ", "\t") and headers:
            headers[-1] = (headers[-1][0], headers[-1][1] + "\n" + ln)
        elif ":" in ln:
            n, v = ln.split(":", 1)
            headers.append((n, v))
    return method, path, query, headers


def sigv4_corpus(shared):
    reset("fuzz_sigv4")
    suite = os.path.join(shared, "aws", "sigv4-testsuite")
    for root, _dirs, files in sorted(os.walk(suite)):
        for fn in sorted(files):
            if not fn.endswith(".req"):
                continue
            text = open(os.path.join(root, fn), "rb").read()
            text = text.decode("utf-8", "surrogateescape").replace("\r\n", "\n")
            method, path, query, headers = parse_req(text)
            midx = SIGV4_METHODS.index(method) if method in SIGV4_METHODS else 7
            fields = [path, query]
            for n, v in headers:
                fields += [n, v]
            body = "\0".join(fields).encode("utf-8", "surrogateescape")
            for s3 in (0, 1):
                put("fuzz_sigv4", "%s-%s" % (fn[:-4], "s3" if s3 else "ec2"),
                    bytes([(midx << 1) | s3]) + body)


CONFIG = b"""# comment
[default]
region = us-east-1
max_attempts = 5
retry_mode = legacy
s3 =
  addressing_style = path
  payload_signing_enabled = true
credential_process = /bin/echo x

[profile dev]
aws_access_key_id = AKIDEXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
services = local
endpoint_url = http://127.0.0.1:5000/
ec2_metadata_service_endpoint = http://169.254.169.254///

[services local]
s3 =
  endpoint_url = http://127.0.0.1:5001
ec2 =
  endpoint_url = http://127.0.0.1:5002

[  profile   a   b  ]
credential_process = cat /dev/null
[dev]
aws_secret_access_key = secret
"""


def config_corpus():
    reset("fuzz_config")
    for s in range(8):
        put("fuzz_config", "full-%d" % s, bytes([s]) + CONFIG)
    put("fuzz_config", "named", b"\x80profile dev|s3.endpoint_url\n" + CONFIG)
    put("fuzz_config", "crlf", b"\x00[default]\r\nregion = eu-west-1\r\n")
    put("fuzz_config", "indent", b"\x02[default]\ns3=\n\taddressing_style"
        b"=virtual\n  =\n")


def creds_corpus():
    reset("fuzz_creds")
    proc = (b'{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": '
            b'"procsecret", "SessionToken": "proctoken", "Expiration": '
            b'"2030-01-01T00:00:00Z"}')
    imds = (b'amifs-role\n{"Code": "Success", "Type": "AWS-HMAC", '
            b'"AccessKeyId": "ASIAIMDS", "SecretAccessKey": "imdssecret", '
            b'"Token": "imdstoken", "Expiration": "2030-01-01T00:00:00.000+02:00"}')
    put("fuzz_creds", "process", b"\x00" + proc)
    put("fuzz_creds", "process-v2", b"\x00" + proc.replace(b"1,", b"2,"))
    put("fuzz_creds", "process-noexp", b"\x00{\"Version\":1,\"AccessKeyId\":"
        b"\"A\",\"SecretAccessKey\":\"S\"}")
    put("fuzz_creds", "imds", b"\x01" + imds)
    put("fuzz_creds", "imds-badjson", b"\x01role\n[1,2")
    for i, d in enumerate([b"2024-05-01T18:00:00Z", b"2024-05-01T18:00:00.5Z",
                           b"2024-05-01T18:00:00-07:30", b"9999-99-99T99:99:99+"]):
        put("fuzz_creds", "iso-%d" % i, b"\x02" + d)
    # selectors 3-6: container JSON, SSO token cache, SSO role credentials,
    # URL / cache-key checks (tests/fuzz/fuzz_creds.c)
    put("fuzz_creds", 'container', b'\x03{"AccessKeyId":"ASIACONT","SecretAccessKey":"s","Token":"t","Expiration":"2030-01-01T00:00:00Z","RoleArn":"arn:aws:iam::1:role/x"}')
    put("fuzz_creds", 'container-empty', b'\x03{"AccessKeyId":"A","SecretAccessKey":"","Token":null}')
    put("fuzz_creds", 'sso-role', b'\x05{"roleCredentials":{"accessKeyId":"ASIASSO","secretAccessKey":"s","sessionToken":"t","expiration":1767225600000}}')
    put("fuzz_creds", 'sso-role-huge', b'\x05{"roleCredentials":{"accessKeyId":"A","secretAccessKey":"s","expiration":1e300}}')
    put("fuzz_creds", 'sso-token', b'\x04{"startUrl":"https://d-1234.awsapps.com/start","region":"eu-west-1","accessToken":"aoaAAAA","expiresAt":"2030-01-01T00:00:00Z"}')
    put("fuzz_creds", 'sso-token-utc', b'\x04{"accessToken":"x","expiresAt":"2030-01-01T00:00:00UTC","refreshToken":"r","clientId":"c"}')
    put("fuzz_creds", 'url-ecs', b'\x06http://169.254.170.2/v2/credentials/abc')
    put("fuzz_creds", 'url-eks', b'\x06http://[fd00:ec2::23]:80/v1/credentials')
    put("fuzz_creds", 'url-userinfo', b'\x06http://127.0.0.1@evil.com/')


def text_corpus():
    reset("fuzz_text")
    heads = (b"HTTP/1.1 200 OK\r\nx-amz-request-id: REQ1\r\nETag: "
             b"\"0123456789abcdef0123456789abcdef\"\r\nContent-Length: 11"
             b"\r\nDate: Wed, 01 May 2024 12:00:00 GMT\r\nContent-Type:   "
             b"text/plain  \r\n\r\n")
    for s in range(8):
        put("fuzz_text", "headers-%d" % s, bytes([s]) + heads)
    put("fuzz_text", "iso", b"\x00" + b"2024-05-01T12:00:00.000Z")
    put("fuzz_text", "rfc1123", b"\x03" + b"Wed, 01 May 2024 12:00:00 GMT")
    put("fuzz_text", "urlenc", b"\x00" + b"dir%2Fa+b%20c%zz%4")
    put("fuzz_text", "etag", b"\x00" + b"\"abc-2\"")


def journal_corpus():
    """Upload journal entries (core/journal.h): good ones and near misses."""
    reset("fuzz_journal")
    good = {"amifs_upload": 1, "endpoint": "http://127.0.0.1:5000",
            "region": "us-east-1", "account": "123456789012",
            "bucket": "b", "key": "dir/k.bin", "upload_id": "U-1",
            "pid": 4242}
    put("fuzz_journal", "good", json.dumps(good).encode())
    put("fuzz_journal", "no-account",
        json.dumps(dict(good, account="")).encode())
    put("fuzz_journal", "escaped-key",
        json.dumps(dict(good, key="e\x1b]0;pwn\x07x\u00e9/\n")).encode())
    put("fuzz_journal", "unicode-key",
        json.dumps(dict(good, key="d\u00e9j\u00e0/\U0001f600"),
                   ensure_ascii=False).encode())
    put("fuzz_journal", "version-2",
        json.dumps(dict(good, amifs_upload=2)).encode())
    put("fuzz_journal", "pid-float", json.dumps(dict(good, pid=1.5)).encode())
    put("fuzz_journal", "no-pid",
        json.dumps({k: v for k, v in good.items() if k != "pid"}).encode())
    put("fuzz_journal", "nested",
        json.dumps(dict(good, key={"a": [1, 2, {"b": None}]})).encode())
    put("fuzz_journal", "old-format", b"amifs-upload 1\nb\nU-1\ndir/k.bin")
    put("fuzz_journal", "long-key",
        json.dumps(dict(good, key="k" * 1025)).encode())


def load_mkimages():
    sys.path.insert(0, os.path.join(ROOT, "tests", "images"))
    import mkimages  # noqa: E402 (path set just above)
    return mkimages


def tiny_disks(tmp):
    """{kind: bytes} of small disks made by qemu-img (None if missing)."""
    out = {}
    specs = {"vmdk": ["-f", "vmdk", "-o", "subformat=streamOptimized"],
             "vhd": ["-f", "vpc"], "vhdx": ["-f", "vhdx"]}
    for kind, args in specs.items():
        p = os.path.join(tmp, "d." + kind)
        try:
            subprocess.run(["qemu-img", "create"] + args + [p, "1M"],
                           check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            continue
        data = open(p, "rb").read()
        out[kind] = data[:256 * 1024]
    raw = bytearray(64 * 1024)
    raw[510:512] = b"\x55\xaa"
    out["raw"] = bytes(raw)
    return out


def ovf_corpus(mk, disks):
    reset("fuzz_ovf")
    vmdk = disks.get("vmdk", b"")
    ovfs = {
        "one": mk.make_ovf([{"href": "disk1.vmdk", "size": len(vmdk),
                             "capacity": 1 << 20}]),
        "efi-cdrom": mk.make_ovf([{"href": "d.vmdk", "size": 10,
                                   "capacity": 1 << 30}], firmware="efi",
                                 cdrom_iso="x.iso", os_id=1,
                                 annotation="a &amp; b"),
        "chunked": mk.make_ovf([{"href": "a.vmdk", "size": 5, "capacity": 9},
                                {"href": "b.vmdk", "size": 6,
                                 "capacity": 9}], chunk_size=4),
        "laughs": mk.make_ovf([{"href": "x.vmdk", "size": 1, "capacity": 1}],
                              doctype=mk.BILLION_LAUGHS),
    }
    for name, text in ovfs.items():
        for step in (0, 3, 12):  # chunk 1, 8 and 4096 bytes
            put("fuzz_ovf", "ovf-%s-%d" % (name, step),
                bytes([step << 1]) + text.encode())
    h = hashlib.sha256(ovfs["one"].encode()).hexdigest()
    mf = ("SHA256(vm.ovf)= %s\nSHA1(disk1.vmdk)= %s\r\n\nSHA512(x)= %s\n"
          % (h, hashlib.sha1(vmdk).hexdigest(),
             hashlib.sha512(b"").hexdigest()))
    put("fuzz_ovf", "mf", b"\x01" + mf.encode())
    put("fuzz_ovf", "mf-bad", b"\x01SHA256(a)=zz\nMD5(b)= 00\n")
    good = "SHA256(vm.ovf)= %s\nSHA256(disk1.vmdk)= %s\n" % (
        h, hashlib.sha256(vmdk).hexdigest())
    return ovfs["one"], good


def tar_member(t, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))


def ova_corpus(disks, ovf, mf):
    reset("fuzz_ova")
    kinds = {"ova": 0, "vmdk": 1, "vhd": 2, "vhdx": 3, "raw": 4}
    for kind, data in disks.items():
        put("fuzz_ova", kind, bytes([(12 << 4) | kinds[kind]]) + data)
    if "vmdk" not in disks:
        return
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        tar_member(t, "vm.ovf", ovf.encode())
        tar_member(t, "vm.mf", mf.encode())
        tar_member(t, "disk1.vmdk", disks["vmdk"])
    for nib in (0, 9, 15):  # chunks of 1 byte, 512 bytes, 32 KiB
        put("fuzz_ova", "ova-%d" % nib, bytes([nib << 4]) + buf.getvalue())
    hostile_corpus(disks, ovf)


def sparse_tar(ovf, head, fmt, extra):
    """OVF + a 15 TiB GNU/pax sparse member holding HEAD (GNU tar)."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "vm.ovf"), "w") as f:
            f.write(ovf)
        with open(os.path.join(d, "disk1.vmdk"), "wb") as f:
            f.write(head)
            f.truncate(15 << 40)
        out = os.path.join(d, "out.tar")
        subprocess.run(["tar", "--format=" + fmt, "--sparse"] + extra +
                       ["-cf", out, "-C", d, "vm.ovf", "disk1.vmdk"],
                       check=True)
        with open(out, "rb") as f:
            return f.read()


def hostile_corpus(disks, ovf):
    """Inputs whose cost must stay proportional to their bytes: sparse
    members, disks cut before their end marker/footer, a VMDK header whose
    descriptor span wraps."""
    vmdk = disks["vmdk"]
    put("fuzz_ova", "ova-gnu-sparse", b"\x90" + sparse_tar(ovf, vmdk, "gnu",
                                                          []))
    put("fuzz_ova", "ova-pax-sparse", b"\x90" + sparse_tar(
        ovf, vmdk, "pax", ["--sparse-version=1.0"]))
    cut = len(vmdk) * 2 // 3 // 512 * 512
    put("fuzz_ova", "vmdk-truncated", b"\xc1" + vmdk[:cut])
    if "vhd" in disks:
        vhd = disks["vhd"]
        put("fuzz_ova", "vhd-truncated",
            b"\xc2" + vhd[:len(vhd) * 2 // 3 // 512 * 512])
    wrap = bytearray(vmdk[:65536])
    wrap[28:36] = (100).to_bytes(8, "little")
    wrap[36:44] = ((1 << 55) - 99).to_bytes(8, "little")
    put("fuzz_ova", "vmdk-desc-wrap", b"\xc1" + bytes(wrap))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default="/work/shared")
    a = ap.parse_args()
    xml_corpus(a.shared)
    sigv4_corpus(a.shared)
    config_corpus()
    creds_corpus()
    text_corpus()
    journal_corpus()
    mk = load_mkimages()
    with tempfile.TemporaryDirectory() as tmp:
        disks = tiny_disks(tmp)
    ovf, mf = ovf_corpus(mk, disks)
    ova_corpus(disks, ovf, mf)
    for t in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        d = os.path.join(HERE, "corpus", t)
        n = len(os.listdir(d))
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print("%-12s %4d files %8d bytes" % (t, n, size))


if __name__ == "__main__":
    main()
