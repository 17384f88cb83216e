/* iam.c — not written yet */
