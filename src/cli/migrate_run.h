/*
 * migrate_run.h - `gzy migrate run|jobs|status|pause|resume|cancel|report|delete`: migration
 * jobs inside a running `gzy serve`, driven through the admin API (src/cli/migrate_run.c).
 */
#ifndef GZ_CLI_MIGRATE_RUN_H
#define GZ_CLI_MIGRATE_RUN_H

#include <stdbool.h>
#include <stdio.h>

/* True if word names one of the job commands. */
bool gz_migrate_run_handles(const char *word);
/* argv[0] is the command word. Exit status: 0 done, 1 objects failed (run) or an API error,
 * 2 errors and usage. */
int gz_migrate_run_main(int argc, char **argv);
void gz_migrate_run_usage(FILE *f);

#endif
