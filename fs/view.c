/*
 * view.c — the mounted region as a view_region (see view.h).
 */
#include "fs/view.h"
#include "fs/imports.h"

void view_region_mounted(struct amifs *fs, struct view_region *out)
{
    const char *name = fs->client ? aws_client_region(fs->client) : NULL;
    struct fsimport *imp = fs->imports;
    *out = (struct view_region){
        .name = name ? name : "us-east-1",
        .client = fs->client,
        .depth = 1,
        .tasks = imp ? imp->tc : NULL,
        .registry = imp,
        .region_known = regions_known,
    };
}
