/*
 * setup.h — `amifs setup [--yes]`: create what an import needs.
 *
 * amifs_setup_main() takes the arguments after `amifs` (argv[0] is
 * "setup"; the options are doctor's, see doctor.h, plus --yes; --bucket is
 * required). It works out a plan from what the account has:
 *   - the staging bucket, created in the import region when missing (a
 *     bucket in another region is an error it cannot fix);
 *   - the vmimport role (--role), created with AWS's documented trust policy
 *     when missing, or its trust policy replaced when VM Import could not
 *     assume it;
 *   - an inline role policy granting the bucket (and --kms-key) to the role,
 *     put when the role's inline policies do not already grant it. It is
 *     named "vmimport", or "vmimport-BUCKET" when the role already has a
 *     "vmimport" policy: setup never overwrites a policy it did not write.
 * It prints the plan (policies as JSON) and applies it only with --yes. When
 * nothing is missing it prints "nothing to do" and changes nothing, so
 * running it twice is safe.
 *
 * Returns the exit status: 0 (plan printed, or applied, or nothing to do),
 * 1 (a step failed or the account cannot be fixed by setup), 2 (usage).
 */
#ifndef AMIFS_CLI_SETUP_H
#define AMIFS_CLI_SETUP_H

int amifs_setup_main(int argc, char **argv);

#endif
