/*
 * fsck_cli.h - `gzy fsck` and `gzy scrub` (src/cli/fsck.c): offline check, repair and
 * content scrub of a data folder (store_fsck_run, docs/fsck.md).
 * Exit status: 0 clean, 1 problems found (repaired or not), 2 could not run (usage, the
 * folder is in use by a server, no index).
 */
#ifndef GZ_CLI_FSCK_CLI_H
#define GZ_CLI_FSCK_CLI_H

int gz_cmd_fsck(int argc, char **argv);
int gz_cmd_scrub(int argc, char **argv);

#endif
