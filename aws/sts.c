/* sts.c — not written yet */
