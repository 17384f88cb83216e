"""`amifs doctor` and `amifs setup` against fresh accounts of the local
endpoint: each problem is named, its printed fix really fixes it (checked by
running the hint with the AWS CLI), setup makes doctor pass, and a second
setup changes nothing. The AWS CLI checks what setup created."""
import json
import os
import shlex
import subprocess

import pytest

from mount_fixtures import amifs_binary


def amifs(ep, *args, env=None):
    exe = amifs_binary()
    if not os.access(exe, os.X_OK):
        pytest.skip("amifs is not built (%s)" % exe)
    return subprocess.run([exe] + list(args), capture_output=True, text=True,
                          env=env or ep.env, timeout=120)


def doctor(ep, *extra, env=None):
    return amifs(ep, "doctor", "--endpoint", ep.url, "--region", ep.region,
                 "--bucket", "amifs-staging", *extra, env=env)


def run_setup(ep, *extra):
    return amifs(ep, "setup", "--endpoint", ep.url, "--region", ep.region,
                 "--bucket", "amifs-staging", *extra)


def lines(p, level):
    return [l for l in p.stdout.splitlines() if l.startswith(level + ": ")]


def run_hint(ep, p, needle, env):
    """Run the `hint: aws …` line containing NEEDLE with the v1 CLI."""
    hints = [l[len("hint: "):] for l in lines(p, "hint") if needle in l]
    assert hints, p.stdout
    argv = shlex.split(hints[0])
    assert argv[0] == "aws" and "--endpoint-url" in argv
    exe = ep.clis["v1"] or pytest.skip("no AWS CLI v1")
    r = subprocess.run([exe] + argv[1:], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr


def test_fresh_account_then_setup(fresh_endpoint):
    ep = fresh_endpoint.bootstrap("--no-role", "--no-bucket")
    p = doctor(ep)
    assert p.returncode == 1, p.stdout + p.stderr
    errors = lines(p, "error")
    assert "error: bucket 'amifs-staging' does not exist" in errors
    assert "error: role 'vmimport' does not exist" in errors
    assert any("create-bucket --bucket amifs-staging" in l
               for l in lines(p, "hint"))
    assert any("create-role --role-name vmimport" in l and
               "vmie.amazonaws.com" in l for l in lines(p, "hint"))
    assert lines(p, "ok")[0].startswith("ok: credentials of 'arn:aws:iam::")
    assert ep.env["AWS_SECRET_ACCESS_KEY"] not in p.stdout + p.stderr

    plan = run_setup(ep)                       # without --yes: a plan only
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "create bucket 'amifs-staging'" in plan.stdout
    assert "\"sts:Externalid\"" in plan.stdout
    assert "--yes" in plan.stdout
    with pytest.raises(Exception):
        ep.aws("iam", "get-role", "--role-name", "vmimport")

    done = run_setup(ep, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created role 'vmimport'" in done.stdout

    role = ep.aws("iam", "get-role", "--role-name", "vmimport")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    st = trust["Statement"][0]
    assert st["Principal"]["Service"] == "vmie.amazonaws.com"
    assert st["Condition"]["StringEquals"]["sts:Externalid"] == "vmimport"
    pol = ep.aws("iam", "get-role-policy", "--role-name", "vmimport",
                 "--policy-name", "vmimport")["PolicyDocument"]
    assert "arn:aws:s3:::amifs-staging/*" in json.dumps(pol)
    loc = ep.aws("s3api", "get-bucket-location", "--bucket", "amifs-staging")
    assert loc["LocationConstraint"] in (None, "", "us-east-1")

    ready = doctor(ep)
    assert ready.returncode == 0, ready.stdout
    assert not lines(ready, "error")
    assert "amifs: ready to import into us-east-1" in ready.stdout

    again = run_setup(ep, "--yes")
    assert again.returncode == 0, again.stdout
    assert again.stdout.startswith("nothing to do")


def test_wrong_trust_policy_is_caught_and_the_hint_fixes_it(fresh_endpoint):
    ep = fresh_endpoint.bootstrap("--bad-trust")
    p = doctor(ep)
    assert p.returncode == 1, p.stdout
    assert ("error: role 'vmimport' cannot be used by VM Import: it trusts "
            "vmie.amazonaws.com without the sts:Externalid 'vmimport' "
            "condition") in lines(p, "error")
    # the tester may not change roles; an administrator runs the fix
    run_hint(ep, p, "update-assume-role-policy", ep.admin_env())
    fixed = doctor(ep)
    assert fixed.returncode == 0, fixed.stdout


def test_role_policy_on_another_bucket(fresh_endpoint):
    ep = fresh_endpoint.bootstrap("--role-bucket", "somewhere-else")
    p = doctor(ep)
    assert p.returncode == 1, p.stdout
    assert ("error: role 'vmimport' does not allow s3:GetObject on "
            "'arn:aws:s3:::amifs-staging/*'") in lines(p, "error")
    # the existing "vmimport" policy is left alone: the fix adds another
    run_hint(ep, p, "put-role-policy", ep.admin_env())
    fixed = doctor(ep)
    assert fixed.returncode == 0, fixed.stdout
    names = ep.aws("iam", "list-role-policies", "--role-name",
                   "vmimport")["PolicyNames"]
    assert sorted(names) == ["vmimport", "vmimport-amifs-staging"]


def test_bucket_in_another_region(endpoint):
    p = amifs(endpoint, "doctor", "--endpoint", endpoint.url, "--region",
              "us-east-1", "--bucket", "amifs-other-region")
    assert p.returncode == 1, p.stdout
    assert ("error: bucket 'amifs-other-region' is in us-west-2, not "
            "us-east-1") in lines(p, "error")


def test_ready_account_json(endpoint):
    p = doctor(endpoint, "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads(p.stdout)
    assert doc["ready"] is True and doc["region"] == "us-east-1"
    assert {c["level"] for c in doc["checks"]} <= {"ok", "warning"}
    assert any("may call ec2:ImportImage" in c["message"]
               for c in doc["checks"])


def test_bad_credentials(endpoint):
    env = dict(endpoint.env, AWS_SECRET_ACCESS_KEY="wrong-secret-value")
    p = doctor(endpoint, env=env)
    assert p.returncode == 1
    assert lines(p, "error")[0].startswith("error: credentials are not "
                                           "usable")
    assert "wrong-secret-value" not in p.stdout + p.stderr


def test_usage_errors(endpoint):
    assert amifs(endpoint, "doctor", "--no-such-flag").returncode == 2
    assert amifs(endpoint, "doctor", "--yes").returncode == 2
    assert amifs(endpoint, "setup", "--endpoint", endpoint.url).returncode \
        == 2                                   # --bucket is required
    h = amifs(endpoint, "doctor", "--help")
    assert h.returncode == 0 and "--bucket" in h.stdout


@pytest.mark.full
def test_setup_adds_the_abort_incomplete_uploads_rule(fresh_endpoint):
    """doctor warns when no lifecycle rule aborts incomplete multipart
    uploads (the safety net for copies that died; doc/design/fleet.md);
    setup adds one, doctor then says so, and a second setup plans nothing.
    A bucket with lifecycle rules of its own is not rewritten."""
    ep = fresh_endpoint.bootstrap()
    p = doctor(ep)
    assert p.returncode == 0, p.stdout + p.stderr     # a warning only
    assert any("no lifecycle rule that aborts incomplete multipart" in l
               for l in lines(p, "warning")), p.stdout
    plan = run_setup(ep)
    assert "add lifecycle rule 'amifs-abort-incomplete-uploads'" in \
        plan.stdout, plan.stdout
    with pytest.raises(Exception):
        ep.aws("s3api", "get-bucket-lifecycle-configuration", "--bucket",
               "amifs-staging")
    done = run_setup(ep, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    rules = ep.aws("s3api", "get-bucket-lifecycle-configuration",
                   "--bucket", "amifs-staging")["Rules"]
    assert [r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            for r in rules] == [7], rules
    ready = doctor(ep)
    assert any("aborts multipart uploads left incomplete for 7 days" in l
               for l in lines(ready, "ok")), ready.stdout
    again = run_setup(ep, "--yes")
    assert again.stdout.startswith("nothing to do"), again.stdout
    # rules of the user's own: told, never replaced
    ep.aws("s3api", "put-bucket-lifecycle-configuration", "--bucket",
           "amifs-staging", "--lifecycle-configuration", json.dumps(
               {"Rules": [{"ID": "mine", "Status": "Enabled",
                           "Filter": {"Prefix": "logs/"},
                           "Expiration": {"Days": 30}}]}), json=False)
    told = run_setup(ep, "--yes")
    assert "none of which aborts incomplete multipart uploads" in told.stdout
    rules = ep.aws("s3api", "get-bucket-lifecycle-configuration",
                   "--bucket", "amifs-staging")["Rules"]
    assert [r["ID"] for r in rules] == ["mine"]
