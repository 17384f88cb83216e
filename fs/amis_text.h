/*
 * amis_text.h — what the writable files of amis/ may hold, checked without
 * any AWS call: tag keys and values (tags/KEY) and account lists
 * (launch-permissions). fs/amis.c calls these while bytes arrive (write)
 * and once more on the whole file when it applies it (the completing
 * close); see doc/design/views.md "write, then apply".
 *
 * The limits are AWS's own where AWS documents one (EC2 tags: a key of at
 * most 128 characters that does not start with "aws:", a value of at most
 * 256 characters, at most 50 tags on a resource) and amifs's where it does
 * not (the byte size of a launch-permissions file, the number of entries
 * one write may share the AMI with). "Characters" are Unicode characters
 * in UTF-8, as AWS counts them.
 *
 * Text means valid UTF-8 without NUL and without control characters other
 * than tab, CR and LF: binary bytes, a NUL (what a write past the end of
 * the file leaves), or a truncated UTF-8 sequence are refused, never cut
 * off. Every check returns 0 or a negative errno and, on refusal, points
 * *why at a static English reason for the log line.
 *
 * No function here keeps state, allocates outside its out-parameters, or
 * takes a lock: all are safe from any thread. Each runs in time linear in
 * its input (amis_perms_sort: n log n).
 */
#ifndef AMIFS_FS_AMIS_TEXT_H
#define AMIFS_FS_AMIS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/ec2.h"

#define AMIS_TAG_KEY_MAX 128    /* characters (AWS) */
#define AMIS_TAG_VALUE_MAX 256  /* characters (AWS) */
#define AMIS_TAGS_MAX 50        /* tags on one resource (AWS) */
/* bytes a tag file may hold: 256 four-byte characters and a newline */
#define AMIS_TAG_FILE_MAX (AMIS_TAG_VALUE_MAX * 4 + 1)
/* bytes a launch-permissions file may hold (more: EFBIG) */
#define AMIS_PERMS_FILE_MAX (64u << 10)
/* entries ("all", an account id or an organization/OU ARN, repeats
 * counted) one file may list (more: EFBIG). Each entry is one permission that EC2 stores on the AMI
 * and on each of its snapshots; 1,000 is EC2's default quota of entities
 * an AMI may be shared with in a Region. */
#define AMIS_PERMS_IDS_MAX 1000
/* bytes of a refused entry quoted in the log (the longest OU ARN fits) */
#define AMIS_PERMS_ENTRY_MAX 160
/* entries per ModifyImageAttribute / ModifySnapshotAttribute call */
#define AMIS_PERMS_BATCH 100

/* Is s[0..n) text (see above)? With `partial`, a UTF-8 sequence cut by
 * the end of s is accepted (more bytes may follow in the next write).
 * *chars (may be NULL) gets the number of characters. 0 or -EINVAL. */
int amis_text_check(const char *s, size_t n, bool partial, size_t *chars,
                    const char **why);

/* A tag key as a file name gives it: -ENAMETOOLONG past 128 characters,
 * -EPERM for the reserved "aws:" prefix, -EINVAL when not text. */
int amis_tag_key_check(const char *key, const char **why);

/* The bytes of a tags/KEY file, s[0..n): the value is them without one
 * trailing newline. -EINVAL when not text or longer than 256 characters;
 * with `partial` (a write, more may come) a UTF-8 sequence cut by the end
 * passes.
 * *len (may be NULL) gets the value's length in bytes. */
int amis_tag_value_check(const char *s, size_t n, bool partial, size_t *len,
                         const char **why);

/* Scan launch-permissions text s[0..n): '#' starts a comment to the end of
 * the line; entries are separated by blanks, CR/LF or commas; each is
 * "all", a 12-digit account id, or an AWS Organizations ARN of an
 * organization (arn:aws:organizations::ACCOUNT:organization/o-ID) or of
 * an organizational unit (…:ou/o-ID/ou-ROOT-ID), checked for that form. Adds each entry (strdup'd, repeats kept)
 * to out when out is not NULL, and counts it in *count (which the caller
 * initialises). -EINVAL for a bad entry or a byte that is not text (*bad,
 * bad_n bytes, gets the offending entry for the log), -EFBIG once *count
 * passes AMIS_PERMS_IDS_MAX, -ENOMEM. On failure out holds what was added
 * so far (release it with ec2_id_list_release). */
int amis_perms_scan(const char *s, size_t n, struct ec2_id_list *out,
                    size_t *count, char *bad, size_t bad_n);

/* Is this (checked) entry an organization or OU ARN? */
bool amis_perms_is_org(const char *entry);

/* Sort l and drop repeats (freeing them). */
void amis_perms_sort(struct ec2_id_list *l);

/* a − b for sorted, repeat-free lists, into out: out->v is a new array of
 * pointers INTO a's strings (free(out->v) only, never its strings). With
 * `users_only`, "all" and organization/OU ARNs are left out (what a
 * snapshot's createVolumePermission can name). 0 or -ENOMEM. */
int amis_perms_diff(const struct ec2_id_list *a, const struct ec2_id_list *b,
                    bool users_only, struct ec2_id_list *out);

#endif
