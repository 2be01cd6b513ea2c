/*
 * serve.c - `gzy serve`: opens the store, sets up identities, registers the S3 handler with
 * the HTTP core and runs until SIGTERM or SIGINT, which drain in-flight requests.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../admin/admin.h"
#include "../console/console.h"
#include "../http/http.h"
#include "../iam/audit.h"
#include "../iam/iam.h"
#include "../migrate/jobs.h"
#include "../registry/registry.h"
#include "../s3/s3.h"
#include "../store/store.h"
#include "../util/util.h"
#include "cli.h"
#include "sse_cli.h"

#define CREDENTIAL_FILE "root-credential"

struct credential {
    char access[IAM_MAX_ACCESS_KEY + 1];
    char secret[IAM_MAX_SECRET + 1];
};

static void random_token(char *out, size_t n, const char *alphabet)
{
    size_t alen = strlen(alphabet);
    uint8_t rnd[128];
    gz_random_bytes(rnd, n);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[rnd[i] % alen]; /* alen divides 256 for both alphabets used */
    out[n] = '\0';
}

/* Reads DATA/root-credential ("access\nsecret\n"); -ENOENT if absent. */
static int credential_load(const char *path, struct credential *c)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    int rc = fscanf(f, "%128s %128s", c->access, c->secret) == 2 ? 0 : -EINVAL;
    fclose(f);
    return rc;
}

static int credential_save(const char *path, const struct credential *c)
{
    char tmp[4100];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    char line[300];
    int n = snprintf(line, sizeof(line), "%s\n%s\n", c->access, c->secret);
    int rc = (write(fd, line, (size_t)n) == n && fsync(fd) == 0) ? 0 : -errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    return rc;
}

/* Environment first, then the stored credential, else a new one printed once. */
static int credential_resolve(const char *data_dir, struct credential *c, bool *generated)
{
    const char *ak = getenv("GZY_ROOT_ACCESS_KEY"), *sk = getenv("GZY_ROOT_SECRET_KEY");
    char path[4096];
    *generated = false;
    if (ak && *ak && sk && *sk) {
        if (strlen(ak) < 3 || strlen(ak) > IAM_MAX_ACCESS_KEY || strlen(sk) < 8 ||
            strlen(sk) > IAM_MAX_SECRET) {
            fprintf(stderr, "gzy: GZY_ROOT_ACCESS_KEY must be 3-%d characters and "
                            "GZY_ROOT_SECRET_KEY 8-%d\n", IAM_MAX_ACCESS_KEY, IAM_MAX_SECRET);
            return -EINVAL;
        }
        snprintf(c->access, sizeof(c->access), "%s", ak);
        snprintf(c->secret, sizeof(c->secret), "%s", sk);
        return 0;
    }
    if ((ak && *ak) || (sk && *sk)) {
        fprintf(stderr, "gzy: set both GZY_ROOT_ACCESS_KEY and GZY_ROOT_SECRET_KEY, or neither\n");
        return -EINVAL;
    }
    snprintf(path, sizeof(path), "%s/%s", data_dir, CREDENTIAL_FILE);
    int rc = credential_load(path, c);
    if (rc != -ENOENT)
        return rc;
    random_token(c->access, 20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    random_token(c->secret, 40,
                 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    *generated = true;
    return credential_save(path, c);
}

static int mkdir_p(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

struct signal_waiter {
    sigset_t set;
    struct http_tls *tls;       /* reloaded on SIGHUP; NULL without TLS */
    struct http_server *srv;
    struct http_server *admin;  /* the admin API listener, NULL when off */
    uint64_t drain_ms;
};

/* All threads block SIGTERM/SIGINT/SIGHUP; this one waits for them (no async-signal-safety
 * puzzles). SIGHUP reloads the TLS certificate and key. */
static void *signal_thread(void *arg)
{
    struct signal_waiter *w = arg;
    int sig = 0, rc;
    while ((rc = sigwait(&w->set, &sig)) == 0 && sig == SIGHUP) {
        char err[512];
        if (w->tls == NULL)
            log_info("SIGHUP: no TLS certificate to reload");
        else if (http_tls_reload(w->tls, err, sizeof(err)) < 0)
            log_error("SIGHUP: keeping the old certificate: %s", err);
        else
            log_info("SIGHUP: TLS certificate reloaded");
    }
    if (rc == 0 && sig != SIGUSR2) {
        log_info("signal %d: draining in-flight requests (up to %llu ms)", sig,
                 (unsigned long long)w->drain_ms);
        http_server_stop(w->srv, w->drain_ms);
        if (w->admin)
            http_server_stop(w->admin, w->drain_ms);
    }
    return NULL;
}

static void *admin_thread(void *arg)
{
    http_server_run(arg);
    return NULL;
}

static bool admin_enabled(const struct gz_config *cfg)
{
    return cfg->admin_listen && *cfg->admin_listen && strcmp(cfg->admin_listen, "off") != 0;
}

/* The admin API: its own listener with one loop thread (the admin service does the slow
 * work on its own worker). */
static int admin_start(const struct gz_config *cfg, struct http_tls *tls,
                       const struct admin_service_config *acfg,
                       struct admin_service **svc, struct console **con,
                       struct http_server **srv)
{
    int rc = admin_service_create(acfg, svc);
    if (rc < 0) {
        fprintf(stderr, "gzy: cannot start the admin API: %s\n", gz_strerror(rc));
        return rc;
    }
    /* The web console serves the admin listener and passes /admin/v1/ on to the service. */
    struct console_config ccfg = {.iam = acfg->iam, .admin = *svc, .audit = acfg->audit,
                                  .session_ttl_s = cfg->console_session_ttl_s,
                                  .secure_cookie = tls != NULL};
    if ((rc = console_create(&ccfg, con)) < 0) {
        fprintf(stderr, "gzy: cannot start the web console: %s\n", gz_strerror(rc));
        return rc;
    }
    struct http_server_config hcfg = {
        .listen = cfg->admin_listen,
        .threads = 1,
        .max_connections = 256,
        .max_connections_per_ip = (size_t)cfg->max_connections_per_ip,
        .header_timeout_ms = (uint64_t)cfg->header_timeout_ms,
        .idle_timeout_ms = (uint64_t)cfg->idle_timeout_ms,
        .min_rate = cfg->min_transfer_rate > 0 ? cfg->min_transfer_rate : -1,
        .rate_window_ms = (uint64_t)cfg->rate_window_ms,
        .server_name = "gzy",
        .on_request = console_on_request,
        .on_protocol_error = admin_protocol_error,
        .app = *con,
        .tls = tls,
    };
    rc = http_server_create(&hcfg, srv);
    if (rc < 0)
        fprintf(stderr, "gzy: cannot listen on %s (--admin-listen): %s\n", cfg->admin_listen,
                gz_strerror(rc));
    return rc;
}

/* The audit log in DATA/audit; its head and checkpoints are signed with a key derived from
 * the master key (iam_open creates it). */
static int audit_start(const char *data_dir, int retention_days, struct audit **out)
{
    char dir[4096];
    uint8_t key[32];
    int rc = iam_master_key_derive(data_dir, "audit-checkpoint", key);
    if (rc < 0) {
        fprintf(stderr, "gzy: cannot derive the audit key: %s\n", gz_strerror(rc));
        return rc;
    }
    snprintf(dir, sizeof(dir), "%s/audit", data_dir);
    /* audit_open copies the key */
    struct audit_config acfg = {.dir = dir, .hmac_key = key, .retention_days = retention_days};
    rc = audit_open(&acfg, out);
    explicit_bzero(key, sizeof(key));
    if (rc < 0)
        fprintf(stderr, "gzy: cannot open the audit log in %s: %s\n", dir, gz_strerror(rc));
    return rc;
}

static enum gz_log_level parse_level(const char *s)
{
    if (strcmp(s, "error") == 0)
        return GZ_LOG_ERROR;
    if (strcmp(s, "warn") == 0)
        return GZ_LOG_WARN;
    if (strcmp(s, "debug") == 0)
        return GZ_LOG_DEBUG;
    return GZ_LOG_INFO;
}

/* The host part of a listen address, as a client would connect to it. */
static void listen_host(const char *listen, char *host, size_t n)
{
    snprintf(host, n, "%s", listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    if (strcmp(host, "0.0.0.0") == 0)
        snprintf(host, n, "127.0.0.1");
    else if (strcmp(host, "[::]") == 0)
        snprintf(host, n, "[::1]");
}

/* --tls-cert and --tls-key: both or neither. */
static int tls_start(const struct gz_config *cfg, struct http_tls **out)
{
    bool cert = cfg->tls_cert && *cfg->tls_cert, key = cfg->tls_key && *cfg->tls_key;
    char err[512];
    if (!cert && !key)
        return 0;
    if (!cert || !key) {
        fprintf(stderr, "gzy: --tls-cert and --tls-key go together\n");
        return -EINVAL;
    }
    if (http_tls_create(cfg->tls_cert, cfg->tls_key, out, err, sizeof(err)) < 0) {
        fprintf(stderr, "gzy: %s\n", err);
        return -EINVAL;
    }
    return 0;
}

static void print_banner(const struct gz_config *cfg, int port, int admin_port,
                         const struct credential *c, bool generated)
{
    const char *scheme = cfg->tls_cert && *cfg->tls_cert ? "https" : "http";
    char host[256];
    listen_host(cfg->listen, host, sizeof(host));
    printf("guoziyun gzy serve\n");
    printf("S3 endpoint: %s://%s:%d\n", scheme, host, port);
    if (admin_port > 0) {
        char ahost[256];
        listen_host(cfg->admin_listen, ahost, sizeof(ahost));
        printf("Admin API: %s://%s:%d\n", scheme, ahost, admin_port);
        printf("Web console: %s://%s:%d/console/\n", scheme, ahost, admin_port);
    }
    printf("Data folder: %s\n", cfg->data_dir);
    if (cfg->domain && *cfg->domain)
        printf("Virtual-hosted buckets: %s://BUCKET.%s:%d\n", scheme, cfg->domain, port);
    if (generated) {
        printf("Admin credential (generated; shown once, kept in %s/%s):\n", cfg->data_dir,
               CREDENTIAL_FILE);
        printf("  access key: %s\n  secret key: %s\n", c->access, c->secret);
    } else if (getenv("GZY_ROOT_ACCESS_KEY")) {
        printf("Admin credential: from GZY_ROOT_ACCESS_KEY / GZY_ROOT_SECRET_KEY\n");
    } else {
        printf("Admin credential: stored in %s/%s\n", cfg->data_dir, CREDENTIAL_FILE);
    }
    fflush(stdout);
}

static int serve(const struct gz_config *cfg)
{
    struct store *store = NULL;
    struct iam *iam = NULL;
    struct audit *audit = NULL;
    struct s3_service *s3 = NULL;
    struct http_server *srv = NULL;
    struct admin_service *admin = NULL;
    struct console *console = NULL;
    struct http_server *asrv = NULL;
    struct mig_jobs *jobs = NULL;
    struct registry *registry = NULL;
    struct http_tls *tls = NULL;
    pthread_t admin_tid;
    bool admin_running = false;
    char audit_dir[4096];
    struct credential cred;
    bool generated;
    pthread_t sig_tid;
    struct signal_waiter waiter = {.drain_ms = (uint64_t)cfg->drain_ms};
    int rc;

    sigemptyset(&waiter.set);
    sigaddset(&waiter.set, SIGTERM);
    sigaddset(&waiter.set, SIGINT);
    sigaddset(&waiter.set, SIGHUP);
    sigaddset(&waiter.set, SIGUSR2); /* used to wake the waiter at exit */
    pthread_sigmask(SIG_BLOCK, &waiter.set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((rc = tls_start(cfg, &tls)) < 0)
        goto out;
    waiter.tls = tls;
    if ((rc = mkdir_p(cfg->data_dir)) < 0) {
        fprintf(stderr, "gzy: cannot create data folder %s: %s\n", cfg->data_dir,
                gz_strerror(rc));
        goto out;
    }
    if ((rc = credential_resolve(cfg->data_dir, &cred, &generated)) < 0) {
        fprintf(stderr, "gzy: admin credential: %s\n", gz_strerror(rc));
        goto out;
    }
    struct store_config scfg = {.data_dir = cfg->data_dir,
                                .inline_max = (size_t)cfg->inline_max, .sync = 1};
    if ((rc = gz_config_store_integrity(cfg, &scfg)) < 0)
        goto out;
    if (scfg.no_verify_reads)
        log_warn("--verify-reads off: file bodies are sent unchecked (sendfile); a damaged body "
                 "can be served as good until the scrub or fsck marks it (docs/fsck.md)");
    if ((rc = store_open(&scfg, &store)) < 0) {
        fprintf(stderr, "gzy: cannot open store in %s: %s\n", cfg->data_dir, gz_strerror(rc));
        goto out;
    }
    struct iam_config icfg = {.data_dir = cfg->data_dir, .root_access = cred.access,
                              .root_secret = cred.secret, .store = store};
    if ((rc = iam_open(&icfg, &iam)) < 0) {
        fprintf(stderr, "gzy: cannot open iam in %s: %s\n", cfg->data_dir, gz_strerror(rc));
        goto out;
    }
    if ((rc = audit_start(cfg->data_dir, (int)cfg->audit_retention_days, &audit)) < 0)
        goto out;
    struct s3_service_config s3cfg = {.store = store, .iam = iam, .audit = audit,
                                      .region = cfg->region, .domain = cfg->domain};
    if ((rc = gz_config_on_off("sse-c-over-http", cfg->sse_c_over_http, false,
                               &s3cfg.sse_c_over_http)) < 0 ||
        (rc = s3_service_create(&s3cfg, &s3)) < 0 ||
        (rc = gz_cli_sse_keys(s3, cfg->sse_key_file)) < 0)
        goto out;
    struct http_server_config hcfg = {
        .listen = cfg->listen,
        .threads = (int)cfg->threads,
        .max_connections = (size_t)cfg->max_connections,
        .max_connections_per_ip = (size_t)cfg->max_connections_per_ip,
        .header_timeout_ms = (uint64_t)cfg->header_timeout_ms,
        .idle_timeout_ms = (uint64_t)cfg->idle_timeout_ms,
        .min_rate = cfg->min_transfer_rate > 0 ? cfg->min_transfer_rate : -1,
        .rate_window_ms = (uint64_t)cfg->rate_window_ms,
        .server_name = "gzy",
        .on_request = s3_on_request,
        .on_protocol_error = s3_protocol_error,
        .app = s3,
        .tls = tls,
    };
    if ((rc = http_server_create(&hcfg, &srv)) < 0) {
        fprintf(stderr, "gzy: cannot listen on %s: %s\n", cfg->listen, gz_strerror(rc));
        goto out;
    }
    snprintf(audit_dir, sizeof(audit_dir), "%s/audit", cfg->data_dir);
    /* jobs seal objects for buckets that encrypt by default as S3 PUTs do (migrate/seal.h) */
    struct gz_mig_sealer sealer;
    gz_cli_mig_sealer(s3, &sealer);
    struct mig_jobs_config mcfg = {.data_dir = cfg->data_dir, .store = store, .iam = iam,
                                   .region = cfg->region, .sealer = &sealer};
    if ((rc = mig_jobs_open(&mcfg, &jobs)) < 0) {
        fprintf(stderr, "gzy: cannot open migration jobs: %s\n", gz_strerror(rc));
        goto out;
    }
    if ((rc = registry_open(cfg->data_dir, &registry)) < 0) {
        fprintf(stderr, "gzy: cannot open the supervision registry: %s\n", gz_strerror(rc));
        goto out;
    }
    struct admin_service_config acfg = {.iam = iam, .store = store, .audit = audit,
                                        .audit_dir = audit_dir, .region = cfg->region,
                                        .data_dir = cfg->data_dir, .jobs = jobs,
                                        .registry = registry};
    if (admin_enabled(cfg) && (rc = admin_start(cfg, tls, &acfg, &admin, &console, &asrv)) < 0)
        goto out;
    print_banner(cfg, http_server_port(srv), asrv ? http_server_port(asrv) : 0, &cred, generated);
    waiter.srv = srv;
    waiter.admin = asrv;
    pthread_create(&sig_tid, NULL, signal_thread, &waiter);
    admin_running = asrv && pthread_create(&admin_tid, NULL, admin_thread, asrv) == 0;
    rc = http_server_run(srv);
    if (admin_running) { /* stopped by the signal, or stop it now */
        http_server_stop(asrv, (uint64_t)cfg->drain_ms);
        pthread_join(admin_tid, NULL);
    }
    pthread_kill(sig_tid, SIGUSR2);
    pthread_join(sig_tid, NULL);
    log_info("stopped");
out:
    http_server_destroy(asrv);
    console_destroy(console); /* after its server, before the service it calls */
    admin_service_destroy(admin); /* after its server: every call has been answered */
    registry_close(registry);    /* after the admin service, its only user */
    mig_jobs_close(jobs); /* after the admin service; stops runners before the store */
    http_server_destroy(srv);
    s3_service_destroy(s3);
    audit_close(audit); /* after every service that appends to it: flushes the queue */
    iam_close(iam);
    store_close(store);
    http_tls_destroy(tls); /* after both servers */
    explicit_bzero(&cred, sizeof(cred));
    return rc < 0 ? 1 : 0;
}

int gz_cmd_serve(int argc, char **argv)
{
    struct gz_config cfg;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            gz_config_usage("serve");
            return 0;
        }
    }
    if (gz_config_parse(&cfg, argc, argv) < 0) {
        gz_config_free(&cfg);
        return 2;
    }
    gz_log_set_level(parse_level(cfg.log_level));
    int rc = serve(&cfg);
    gz_config_free(&cfg);
    return rc;
}
