/*
 * admin_int.h - private to src/admin: the service, one API call, the route table and the
 * helpers the per-resource files (tenants.c, users.c, keys.c, usage.c, buckets.c, audit.c)
 * share.
 *
 * Life of a call (router.c): the loop thread authenticates, routes, checks the route's
 * minimum role and reads the body into call->body; the worker thread (service.c) parses the
 * JSON, runs the route's handler, which ends by calling admin__reply_json() or one of the
 * admin__reply_error*() functions exactly once; admin__finish() then records the audit entry
 * and sends (posting to the loop thread when on the worker).
 */
#ifndef GZ_ADMIN_INT_H
#define GZ_ADMIN_INT_H

#include <cjson/cJSON.h>
#include <pthread.h>

#include "../s3/auth.h"
#include "admin.h"

#define ADMIN_PREFIX "/admin/v1/"
#define ADMIN_MAX_SEGS 6
#define ADMIN_MAX_RESPONSE (64 * 1024 * 1024) /* listings of everything stay far below */

struct admin_call;

struct admin_service {
    struct iam *iam;
    struct store *store;
    struct audit *audit;
    char *audit_dir;
    char *data_dir;             /* may be NULL */
    struct mig_jobs *jobs;      /* may be NULL: migration routes answer 503 */
    struct registry *registry;  /* may be NULL: registry routes answer 503 */
    char region[64];
    /* the worker: calls are queued by the loop thread and run in order */
    pthread_t worker;
    bool worker_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    struct admin_call *head, *tail;
};

/* Who may call a route (the handler narrows tenant-admins to their own tenant). */
enum admin_access {
    ADMIN_ACCESS_ANY,            /* any authenticated principal */
    ADMIN_ACCESS_READ,           /* platform-admin, supervisor, tenant-admin */
    ADMIN_ACCESS_PLATFORM_READ,  /* platform-admin, supervisor */
    ADMIN_ACCESS_TENANT_WRITE,   /* platform-admin, tenant-admin of an active tenant */
    ADMIN_ACCESS_PLATFORM_WRITE, /* platform-admin */
};

typedef void (*admin_handler_cb)(struct admin_call *c);

struct admin_route {
    const char *method;
    const char *pattern;         /* "tenants/ * /suspend" without spaces; '*' = one segment */
    const char *operation;       /* "CreateTenant": audited as "admin:CreateTenant" */
    enum admin_access access;
    bool writes;                 /* state-changing: always audited */
    admin_handler_cb handler;
};

struct admin_call {
    struct admin_service *svc;
    struct http_req *req;
    const struct http_req_info *info;
    const struct admin_route *route;
    struct iam_principal who;    /* secret_key wiped right after authentication */
    enum iam_role role;          /* effective role (the root credential is platform-admin) */
    bool authenticated;
    char *seg[ADMIN_MAX_SEGS];   /* decoded path segments after /admin/v1/ (arena) */
    int nseg;
    struct s3_payload *payload;  /* verifies the body against the signature */
    struct gz_buf body;          /* decoded body, at most ADMIN_MAX_BODY */
    bool body_too_large;
    cJSON *in;                   /* the parsed body (worker), NULL if empty */
    /* the answer */
    bool done;
    bool on_worker;
    int status;
    const char *error_code;      /* static string, NULL on success */
    const char *content_type;    /* static string of a non-JSON answer; NULL = JSON */
    struct gz_buf out;
    /* the audit entry */
    char resource[320];
    char tenant[IAM_MAX_NAME + 1];  /* the tenant concerned; caller's tenant by default */
    char claimed_key[IAM_MAX_ACCESS_KEY + 1]; /* from the Authorization header, if auth failed */
    struct admin_call *next;     /* worker queue */
};

/* ---- service.c ---- */
void admin__queue_push(struct admin_service *svc, struct admin_call *c);

/* ---- router.c ---- */
/* Runs on the worker: parses the body and calls the route's handler. */
void admin__call_execute(struct admin_call *c);
/* Records the audit entry and sends the reply (from either thread). */
void admin__finish(struct admin_call *c);

/* ---- json.c: replies ---- */
/* Takes ownership of doc (NULL for an empty 204). Finishes the call. */
void admin__reply_json(struct admin_call *c, int status, cJSON *doc);
void admin__reply_error(struct admin_call *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps an iam/store error: -ENOENT NotFound, -EEXIST AlreadyExists, -EINVAL InvalidArgument,
 * -EACCES/-EPERM AccessDenied, GZ_ENOBUCKET NotFound, else InternalError. msg (may be NULL
 * or empty) is used when given; `what` names the object ("tenant 'acme'"). */
void admin__reply_errno(struct admin_call *c, int rc, const char *msg, const char *what);
void admin__deny(struct admin_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The JSON error document into body (for replies and the protocol-error hook). */
void admin__error_doc(struct gz_buf *body, const char *code, const char *message,
                      const char *request_id);

/* ---- json.c: building ---- */
void admin__json_int(cJSON *obj, const char *name, int64_t v);
void admin__json_str(cJSON *obj, const char *name, const char *s);
void admin__json_time(cJSON *obj, const char *name, int64_t ms);
void admin__json_quota(cJSON *obj, const char *name, int64_t max_bytes, int64_t max_objects);
cJSON *admin__tenant_json(const struct iam_tenant *t);
cJSON *admin__user_json(const struct iam_user *u);
cJSON *admin__key_json(const struct iam_key *k);

/* ---- json.c: reading the body (each replies InvalidArgument naming the field on error) ----
 * Return 0 (present), 1 (absent and optional) or -EINVAL (replied). */
int admin__body_str(struct admin_call *c, const char *field, bool required, size_t maxlen,
                    const char **out);
/* A quota limit in obj: a non-negative integer or -1 (unlimited); `path` prefixes the field
 * name in messages ("quota." for a nested object, "" at the top). */
int admin__body_limit(struct admin_call *c, cJSON *obj, const char *path, const char *field,
                      int64_t *out);
/* {"max_bytes","max_objects"} from obj (NULL = absent): absent fields keep their value in *q.
 * Returns 0 if at least one was given, 1 if none, -EINVAL (replied). */
int admin__body_quota(struct admin_call *c, cJSON *obj, const char *path, struct iam_quota *q);

/* ---- json.c: request helpers ---- */
/* Decoded query parameter (arena), NULL if absent. */
const char *admin__query(struct admin_call *c, const char *name);
/* Percent-decodes into the arena; NULL for bad escapes or NUL bytes. */
char *admin__url_decode(struct http_req *req, struct gz_slice s, bool plus_is_space);
/* ISO 8601 date or date-time (UTC; "Z" or "+00:00"), or milliseconds since the epoch. */
int admin__parse_time(const char *s, int64_t *ms);

/* ---- scoping (router.c) ---- */
bool admin__is_platform(const struct admin_call *c);
/* 0 if the caller may act on tenant t (its own, or any for platform roles); otherwise
 * denies (replied) and returns -EACCES. Sets the audit tenant to t's name. */
int admin__scope_tenant(struct admin_call *c, const struct iam_tenant *t);
/* Resolves a tenant by name or id and scopes it; replies NotFound/AccessDenied on failure. */
int admin__tenant_resolve(struct admin_call *c, const char *name_or_id, struct iam_tenant *out);
void admin__set_resource(struct admin_call *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- a small growable array of fixed-size items (gz_malloc; free with admin__vec_free) ---- */
struct admin_vec {
    char *items;
    size_t n, cap, size;
};
void admin__vec_init(struct admin_vec *v, size_t item_size);
void *admin__vec_push(struct admin_vec *v);
static inline void *admin__vec_at(const struct admin_vec *v, size_t i)
{
    return v->items + i * v->size;
}
void admin__vec_free(struct admin_vec *v);

/* ---- the handlers ---- */
void admin__whoami(struct admin_call *c);
void admin__tenants_list(struct admin_call *c);
void admin__tenants_create(struct admin_call *c);
void admin__tenants_show(struct admin_call *c);
void admin__tenants_suspend(struct admin_call *c);
void admin__tenants_resume(struct admin_call *c);
void admin__tenants_quota(struct admin_call *c);
void admin__users_list(struct admin_call *c);
void admin__users_create(struct admin_call *c);
void admin__users_role(struct admin_call *c);
void admin__keys_list(struct admin_call *c);
void admin__keys_create(struct admin_call *c);
void admin__keys_disable(struct admin_call *c);
void admin__keys_enable(struct admin_call *c);
void admin__keys_delete(struct admin_call *c);
void admin__usage_get(struct admin_call *c);
void admin__buckets_list(struct admin_call *c);
void admin__buckets_owner(struct admin_call *c);
void admin__buckets_quota(struct admin_call *c);
void admin__audit_list(struct admin_call *c);
/* registry.c: contracts, policy, status, reports */
void admin__contracts_list(struct admin_call *c);
void admin__contracts_create(struct admin_call *c);
void admin__contracts_show(struct admin_call *c);
void admin__contracts_update(struct admin_call *c);
void admin__contracts_delete(struct admin_call *c);
void admin__contracts_close(struct admin_call *c);
void admin__policy_get(struct admin_call *c);
void admin__policy_put(struct admin_call *c);
void admin__status_get(struct admin_call *c);
void admin__report_get(struct admin_call *c);
/* scrub.c: the store's bit-rot state (GET), a scrub pass now (POST) */
void admin__scrub_get(struct admin_call *c);
void admin__scrub_start(struct admin_call *c);
void admin__migrations_list(struct admin_call *c);
void admin__migrations_create(struct admin_call *c);
void admin__migrations_show(struct admin_call *c);
void admin__migrations_action(struct admin_call *c);   /* seg[2]: start pause resume cancel */
void admin__migrations_delete(struct admin_call *c);
void admin__migrations_report(struct admin_call *c);        /* ?pass=N, ?format=csv */
void admin__migrations_reports(struct admin_call *c);       /* every kept pass's summary */
void admin__migrations_update(struct admin_call *c);        /* PATCH: credentials, options */
void admin__migrations_manifest(struct admin_call *c);
void admin__migrations_manifests(struct admin_call *c);      /* every pass's manifest */
void admin__migrations_manifest_pass(struct admin_call *c);  /* seg[3]: the pass */
/* POST .../manifests/{pass}/verify (seg[3]: the pass): supervisors too (ADMIN_ACCESS_READ) */
void admin__migrations_manifest_verify(struct admin_call *c);
/* objects.c: tenant object browsing (console). These run on the loop thread (router.c
 * route_opts) and finish the call themselves, possibly later from their own callbacks. */
void admin__objects_list(struct admin_call *c);
void admin__object_get(struct admin_call *c);
void admin__object_put(struct admin_call *c);
void admin__object_delete(struct admin_call *c);

/* The tenant's buckets as a JSON array of admin__bucket_json(); NULL if replied (error). */
cJSON *admin__buckets_of(struct admin_call *c, const struct iam_tenant *t);
/* A bucket as JSON (name, tenant, owner, created, bytes, objects, quota). */
cJSON *admin__bucket_json(struct admin_call *c, const struct store_bucket *b);

#endif
