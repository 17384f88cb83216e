/* buf.c — not written yet */
