/*
 * diagnosis.h — known VM Import failures → their usual cause and the fix.
 *
 * One static table (core/diagnosis.c), built from the VM Import error catalogue
 * in doc/AWS.md "VM Import facts", plus the refusal classes
 * of our own pre-flight validator (ova/: "not-stream-optimized", …). It backs
 * the `diagnosis` file of tasks/ID/. Pure: no FUSE, no network, no state.
 *
 * Matching is on substrings of the failure text, case-insensitive, first
 * entry wins (so the table lists specific strings before general ones).
 * AWS often prefixes the text with "CLIENT_ERROR : "; that does not matter.
 */
#ifndef AMIFS_CORE_DIAGNOSIS_H
#define AMIFS_CORE_DIAGNOSIS_H

#include "aws/buf.h"

struct diagnosis {
    const char *match; /* substring of the failure text (or validator code) */
    const char *cause; /* one or two sentences */
    const char *fix;   /* what to do, concretely */
};

/* The entry that explains `message` (an AWS StatusMessage, an AWS error
 * "Code: message" line, or a validator code), or NULL when none does.
 * message may be NULL (then NULL). The result points into a static table. */
const struct diagnosis *diagnosis_find(const char *message);

/* Render the `diagnosis` file for a failure: the message as AWS (or the
 * validator) gave it, then "Cause: …" and "Fix: …" lines (a generic text
 * when no entry matches). Appends to `out`; returns 0 or a negative errno
 * from buf. message NULL or "" renders "No failure recorded.\n". */
int diagnosis_render(const char *message, struct buf *out);

/* The mount a diagnosis is read in (strings borrowed; any may be NULL):
 * fixes that name `amifs doctor` or `amifs setup` print the exact command
 * for it, with the --bucket setup requires (doc/CONTRACT.md "Saying why,
 * continued"; tests/test_saywhy_more.py runs them). Every document a fix
 * names is in the repository. */
struct diagnosis_where {
    const char *endpoint; /* the endpoint= option, or NULL (real AWS) */
    const char *region;
    const char *bucket;   /* staging NAME[/PREFIX] */
    const char *role;     /* NULL or "vmimport": the default */
};
/* diagnosis_render for the mount in w (NULL: placeholders REGION and
 * BUCKET in the commands). */
int diagnosis_render_at(const char *message, const struct diagnosis_where *w,
                        struct buf *out);

#endif
