/* xml.c — not written yet */
