/* log.c — not written yet */
