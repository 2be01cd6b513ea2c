/*
 * report_cli.h - `gzy report` (src/cli/report.c): the supervision report from the admin
 * API's status document; see docs/supervision.md.
 */
#ifndef GZ_CLI_REPORT_CLI_H
#define GZ_CLI_REPORT_CLI_H

/* Exit status 0 done, 1 the API refused or failed, 2 usage. */
int gz_cmd_report(int argc, char **argv);

#endif
