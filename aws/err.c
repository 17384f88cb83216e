/* err.c — not written yet */
