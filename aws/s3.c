/* s3.c — not written yet */
