/* ec2.c — not written yet */
