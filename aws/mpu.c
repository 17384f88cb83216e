/* mpu.c — not written yet */
