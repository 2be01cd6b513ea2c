/*
 * migrate_evidence.h - the evidence subcommands of `gzy migrate` (src/cli/migrate_evidence.c):
 * verify-manifest, estimate, manifest-key, and the `--manifest PATH` step of `gzy migrate
 * copy`. Single-threaded CLI code; nothing here is kept between calls.
 */
#ifndef GZ_CLI_MIGRATE_EVIDENCE_H
#define GZ_CLI_MIGRATE_EVIDENCE_H

#include <stdbool.h>
#include <stdio.h>

#include "../migrate/migrate.h"

/* True if cmd is one of this file's subcommands ("verify-manifest", "estimate",
 * "manifest-key"). */
bool gz_cli_migrate_evidence_has(const char *cmd);
/* Runs one of them; argv[0] is the subcommand. Exit status: 0 ok, 1 failed, 2 usage. */
int gz_cli_migrate_evidence_run(int argc, char **argv);
/* Usage lines of the subcommands, for `gzy migrate --help`. */
void gz_cli_migrate_evidence_usage(FILE *f);

/* `gzy migrate copy --manifest PATH [--data DIR]`: path and data_dir are set by the flag
 * parser (borrowed argv strings); prepare runs before the pass, finish after it. */
struct gz_cli_manifest {
    const char *path;     /* NULL: no manifest */
    const char *data_dir; /* NULL: $GZY_DATA, else ./gzy-data */
    char journal[512];    /* a temporary journal when the copy has no --journal */
    bool tmp_journal;
};

/* Checks that the platform key is there (fails before any copying) and gives the pass a
 * journal to keep. 0, or -1 with a message on stderr. */
int gz_cli_manifest_prepare(struct gz_cli_manifest *mf, struct gz_mig_options *opt);
/* After the pass (copy_rc: gz_migrate_copy's return): records source and destination in the
 * journal and writes the signed manifest unless the pass did not run or was a dry run; prints
 * {"event":"manifest","path":...,"objects":N} on stdout; removes a temporary journal. 0, or -1
 * with a message on stderr. */
int gz_cli_manifest_finish(struct gz_cli_manifest *mf, const struct gz_mig_options *opt,
                           int copy_rc);

#endif
