/* creds.c — not written yet */
