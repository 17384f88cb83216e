/* ova.c — not written yet */
