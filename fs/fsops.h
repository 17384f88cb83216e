/*
 * fsops.h — what fs/fs.c gives fs/main.c: the static FUSE operations table,
 * the list of folder modules (for their option tables and help), and the
 * client's creation.
 */
#ifndef AMIFS_FS_FSOPS_H
#define AMIFS_FS_FSOPS_H

#include "fs/fs.h"

/* The one operations table (static storage; never NULL). */
const struct fuse_operations *amifs_operations(void);

/* Folder modules in tree order. amifs_folder_at() returns NULL for a folder
 * whose module is not built in, and for i >= amifs_folder_count(). */
size_t amifs_folder_count(void);
const struct folder_ops *amifs_folder_at(size_t i);

/* Create fs->client from the options and the environment (fs/fs.c; FUSE's
 * init calls it after daemonizing, main() before, to check the
 * configuration). 0, or -1 with err set. */
int amifs_client_open(struct amifs *fs, struct aws_error *err);

#endif
