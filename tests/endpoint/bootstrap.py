#!/usr/bin/env python3
"""Set up the local endpoint's account the way an administrator would.

    python3 tests/endpoint/bootstrap.py --endpoint URL --out DIR \\
        [--region R] [--admin ADMIN.json] [--no-user] [--no-bucket] ...

With the server's admin identity (ADMIN.json written by server.py into its
state dir; default $AMIFS_ENDPOINT_STATE/admin.json) it creates:
  - IAM user amifs-tester with an access key and a policy allowing what
    amifs needs (s3:*, the VM Import/AMI EC2 actions, the iam role calls and
    iam:PassRole, sts:*);
  - bucket amifs-staging in REGION, and bucket amifs-other-region in
    another region (us-west-2, or us-east-2 when REGION is us-west-2);
  - role vmimport: the documented trust policy (vmie.amazonaws.com,
    sts:Externalid = vmimport) and role policy on amifs-staging.
Writes DIR/env (shell exports) and DIR/credentials.json, prints the
credentials. Flags skip or spoil parts, for `amifs doctor` tests.
Runs under the endpoint's Python (needs boto3).
"""
import argparse
import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

USER = "amifs-tester"
BUCKET = "amifs-staging"
OTHER_BUCKET = "amifs-other-region"
ROLE = "vmimport"

EC2_ACTIONS = [
    "ImportImage", "DescribeImportImageTasks", "CancelImportTask",
    "ImportSnapshot", "DescribeImportSnapshotTasks", "DescribeImages",
    "DescribeSnapshots", "CreateTags", "DeleteTags", "DescribeTags",
    "DeregisterImage", "DeleteSnapshot", "CopyImage", "ModifyImageAttribute",
    "DescribeImageAttribute", "ExportImage", "DescribeExportImageTasks",
    "CancelExportTask", "CreateStoreImageTask", "DescribeStoreImageTasks",
    "CreateRestoreImageTask", "DescribeRegions", "RegisterImage",
    "ModifySnapshotAttribute", "DescribeSnapshotAttribute",
    "DescribeInstances", "CreateImage", "EnableImageDeprecation",
    "DisableImageDeprecation", "DisableImage", "EnableImage"]
IAM_ACTIONS = ["GetRole", "CreateRole", "PutRolePolicy", "GetRolePolicy",
               "ListRolePolicies", "ListAttachedRolePolicies", "PassRole",
               "GetUser"]


def user_policy():
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": ["ec2:" + a for a in EC2_ACTIONS],
         "Resource": "*"},
        {"Effect": "Allow", "Action": ["iam:" + a for a in IAM_ACTIONS],
         "Resource": "*"},
        {"Effect": "Allow", "Action": "sts:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}


def trust_policy(external_id="vmimport", service="vmie.amazonaws.com"):
    stmt = {"Effect": "Allow", "Principal": {"Service": service},
            "Action": "sts:AssumeRole"}
    if external_id:
        stmt["Condition"] = {"StringEquals": {"sts:Externalid": external_id}}
    return {"Version": "2012-10-17", "Statement": [stmt]}


def role_policy(bucket):
    b = "arn:aws:s3:::%s" % bucket
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow",
         "Action": ["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"],
         "Resource": [b, b + "/*"]},
        {"Effect": "Allow",             # ExportImage (tests/endpoint/exports.py)
         "Action": ["s3:PutObject", "s3:GetBucketAcl"],
         "Resource": [b, b + "/*"]},
        {"Effect": "Allow",
         "Action": ["ec2:ModifySnapshotAttribute", "ec2:CopySnapshot",
                    "ec2:RegisterImage", "ec2:Describe*"],
         "Resource": "*"}]}


def _ignore(codes, fn, *a, **kw):
    try:
        return fn(*a, **kw)
    except ClientError as e:
        if e.response["Error"]["Code"] not in codes:
            raise
        return None


def make_user(iam, name):
    _ignore(("EntityAlreadyExists",), iam.create_user, UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="amifs",
                        PolicyDocument=json.dumps(user_policy()))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def make_bucket(s3, name, region):
    kw = {}
    if region != "us-east-1":
        kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
    _ignore(("BucketAlreadyOwnedByYou", "BucketAlreadyExists"),
            s3.create_bucket, Bucket=name, **kw)


def make_role(iam, name, trust, policy):
    _ignore(("EntityAlreadyExists",), iam.create_role, RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust))
    iam.update_assume_role_policy(RoleName=name,
                                  PolicyDocument=json.dumps(trust))
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="vmimport",
                            PolicyDocument=json.dumps(policy))


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--admin", help="admin.json written by server.py "
                    "(default: $AMIFS_ENDPOINT_STATE/admin.json)")
    ap.add_argument("--user", default=USER)
    ap.add_argument("--bucket", default=BUCKET)
    ap.add_argument("--no-user", action="store_true",
                    help="write the admin's credentials instead")
    ap.add_argument("--no-bucket", action="store_true")
    ap.add_argument("--no-other-bucket", action="store_true")
    ap.add_argument("--no-role", action="store_true")
    ap.add_argument("--no-role-policy", action="store_true",
                    help="create the role without its policy")
    ap.add_argument("--role-bucket", help="bucket the role policy covers "
                    "(default: the staging bucket)")
    ap.add_argument("--bad-trust", action="store_true",
                    help="trust policy without the vmimport ExternalId")
    return ap.parse_args(argv)


def load_admin(path):
    if not path:
        state = os.environ.get("AMIFS_ENDPOINT_STATE")
        if not state:
            sys.exit("bootstrap: --admin or $AMIFS_ENDPOINT_STATE is needed")
        path = os.path.join(state, "admin.json")
    with open(path) as f:
        return json.load(f)


def write_outputs(out, a, key_id, secret):
    os.makedirs(out, exist_ok=True)
    env = {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_DEFAULT_REGION": a.region, "AWS_REGION": a.region,
           "AWS_ENDPOINT_URL": a.endpoint, "AMIFS_BUCKET": a.bucket}
    with open(os.path.join(out, "env"), "w") as f:
        for k, v in env.items():
            f.write("export %s='%s'\n" % (k, v))
    creds = dict(env, user=None if a.no_user else a.user,
                 other_bucket=None if a.no_other_bucket else OTHER_BUCKET,
                 role=None if a.no_role else ROLE)
    fd = os.open(os.path.join(out, "credentials.json"),
                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(creds, f, indent=1)
    return env


def main(argv=None):
    a = parse_args(argv)
    admin = load_admin(a.admin)
    session = boto3.session.Session(
        aws_access_key_id=admin["AccessKeyId"],
        aws_secret_access_key=admin["SecretAccessKey"], region_name=a.region)
    cfg = Config(retries={"max_attempts": 5, "mode": "standard"},
                 s3={"addressing_style": "path"})
    iam = session.client("iam", endpoint_url=a.endpoint, config=cfg,
                         region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=a.endpoint, config=cfg)
    key_id, secret = admin["AccessKeyId"], admin["SecretAccessKey"]
    if not a.no_user:
        key_id, secret = make_user(iam, a.user)
    if not a.no_bucket:
        make_bucket(s3, a.bucket, a.region)
    if not a.no_other_bucket:
        other = "us-east-2" if a.region == "us-west-2" else "us-west-2"
        make_bucket(session.client("s3", endpoint_url=a.endpoint, config=cfg,
                                   region_name=other), OTHER_BUCKET, other)
    if not a.no_role:
        trust = trust_policy(None if a.bad_trust else "vmimport")
        policy = None if a.no_role_policy else role_policy(
            a.role_bucket or a.bucket)
        make_role(iam, ROLE, trust, policy)
    env = write_outputs(a.out, a, key_id, secret)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AMIFS_BUCKET"):
        print("%s=%s" % (k, env[k]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
