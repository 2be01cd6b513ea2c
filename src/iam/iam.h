/*
 * iam.h - identities and authorisation: tenants (companies), users and their roles, access
 * keys (secrets encrypted at rest under a master key), bucket policies and canned ACLs.
 *
 * Storage: DATA/iam.db (SQLite, WAL) for tenants, users and keys; DATA/master.key (32 random
 * bytes, mode 0600, created on first open) encrypts every stored secret with AES-256-GCM.
 * Quotas and usage live in the store (it enforces them inside its commit, so concurrent uploads
 * cannot overshoot); iam forwards tenant quotas to it.
 *
 * Model:
 * - A built-in tenant named "platform" holds the platform-wide users (platform-admin,
 *   supervisor). The root credential (GZY_ROOT_* or DATA/root-credential) is a platform-admin
 *   user named "root" in it.
 * - Buckets are owned by tenants: store_bucket.owner holds the owning tenant's id.
 * - Ids are 64 hex characters, random, stable for the life of the object.
 *
 * Threading: every function is thread-safe. iam_principal_lookup() is on the hot path of every
 * S3 request: it is served from an in-memory cache refreshed on every change.
 */
#ifndef GZ_IAM_H
#define GZ_IAM_H

#include "../store/store.h"
#include "../util/util.h"

#define IAM_MAX_ACCESS_KEY 128
#define IAM_MAX_SECRET 128
#define IAM_ID_LEN 64
#define IAM_MAX_NAME 63
#define IAM_USCC_LEN 18
#define IAM_PLATFORM_TENANT "platform"
#define IAM_MAX_POLICY_BYTES (20 * 1024) /* AWS's bucket policy limit */

struct iam;

enum iam_role {
    IAM_ROLE_NONE = 0,
    IAM_ROLE_PLATFORM_ADMIN, /* everything */
    IAM_ROLE_SUPERVISOR,     /* read-only across tenants: metadata, usage, audit; no object data */
    IAM_ROLE_TENANT_ADMIN,   /* the tenant's users, keys, buckets, objects, migrations */
    IAM_ROLE_TENANT_MEMBER,  /* read/write objects in the tenant's buckets */
    IAM_ROLE_TENANT_READER,  /* read-only objects in the tenant's buckets */
};
const char *iam_role_name(enum iam_role role);          /* "platform-admin", ... */
enum iam_role iam_role_parse(const char *name);         /* IAM_ROLE_NONE if unknown */
bool iam_role_is_platform(enum iam_role role);          /* platform-admin or supervisor */

/* Who is calling: the result of a key lookup; a plain value the caller owns. */
struct iam_principal {
    char access_key[IAM_MAX_ACCESS_KEY + 1];
    char secret_key[IAM_MAX_SECRET + 1];      /* decrypted; never log it */
    char user_id[IAM_ID_LEN + 1];             /* canonical id */
    char display_name[IAM_MAX_NAME + 1];      /* the user's name */
    char tenant_id[IAM_ID_LEN + 1];
    char tenant_name[IAM_MAX_NAME + 1];
    enum iam_role role;
    bool tenant_suspended;
    bool is_root;                             /* the configured root credential */
};

struct iam_config {
    const char *data_dir;     /* iam.db and master.key live here */
    const char *root_access;  /* the root credential (required) */
    const char *root_secret;
    struct store *store;      /* for tenant quotas and usage (may be NULL in unit tests) */
};

int iam_open(const struct iam_config *cfg, struct iam **out);
void iam_close(struct iam *iam); /* NULL-safe */

/* The principal-lookup function: 0 and *out, -ENOENT for an unknown key, -EPERM for a
 * disabled key (callers answer both with InvalidAccessKeyId / AccessDenied as AWS does). */
int iam_principal_lookup(struct iam *iam, struct gz_slice access_key, struct iam_principal *out);

/* ---- tenants ---- */

struct iam_quota {
    int64_t max_bytes;    /* -1 = unlimited */
    int64_t max_objects;  /* -1 = unlimited */
};

struct iam_tenant {
    char id[IAM_ID_LEN + 1];
    char name[IAM_MAX_NAME + 1];      /* [a-z0-9][a-z0-9-]{1,62}, unique */
    char uscc[IAM_USCC_LEN + 1];      /* unified social credit code, GB 32100-2015 */
    char contact[128];
    bool suspended;
    int64_t created_ms;
    struct iam_quota quota;
};

/* GB 32100-2015: 18 characters from "0123456789ABCDEFGHJKLMNPQRTUWXY" (no I, O, Z, S, V),
 * registration authority + type code, 6-digit administrative division code, 9-character
 * organisation code (with its own GB 11714 check character) and the final check character
 * (weights 3^i mod 31). Returns 0, or -EINVAL with a message saying what is wrong. */
int iam_uscc_validate(const char *code, char *msg, size_t msgsz);

/* -EEXIST (name or USCC taken), -EINVAL (bad name or USCC; msg says why). */
int iam_tenant_create(struct iam *iam, const struct iam_tenant *in, struct iam_tenant *out,
                      char *msg, size_t msgsz);
/* By name or id. -ENOENT. */
int iam_tenant_get(struct iam *iam, const char *name_or_id, struct iam_tenant *out);
int iam_tenant_list(struct iam *iam, int (*fn)(const struct iam_tenant *t, void *ud), void *ud);
int iam_tenant_set_suspended(struct iam *iam, const char *name_or_id, bool suspended);
/* Sets the tenant's quota (also enforced by the store under the tenant id). */
int iam_tenant_set_quota(struct iam *iam, const char *name_or_id, const struct iam_quota *q);

/* ---- users ---- */

struct iam_user {
    char id[IAM_ID_LEN + 1];
    char name[IAM_MAX_NAME + 1];      /* unique within its tenant */
    char tenant_id[IAM_ID_LEN + 1];
    char tenant_name[IAM_MAX_NAME + 1];
    enum iam_role role;
    int64_t created_ms;
};

/* tenant: name or id (IAM_PLATFORM_TENANT for platform-wide users). Platform roles only in
 * the platform tenant, tenant roles only elsewhere (-EINVAL with a message). -EEXIST. */
int iam_user_create(struct iam *iam, const char *tenant, const char *name, enum iam_role role,
                    struct iam_user *out, char *msg, size_t msgsz);
/* By id, or "tenant/name". -ENOENT. */
int iam_user_get(struct iam *iam, const char *ref, struct iam_user *out);
/* tenant NULL = all tenants. */
int iam_user_list(struct iam *iam, const char *tenant,
                  int (*fn)(const struct iam_user *u, void *ud), void *ud);
int iam_user_set_role(struct iam *iam, const char *ref, enum iam_role role, char *msg,
                      size_t msgsz);

/* ---- access keys ---- */

struct iam_key {
    char access_key[IAM_MAX_ACCESS_KEY + 1];
    char user_id[IAM_ID_LEN + 1];
    char user_name[IAM_MAX_NAME + 1];
    char tenant_name[IAM_MAX_NAME + 1];
    bool enabled;
    int64_t created_ms;
};

/* Creates a key for user ref (see iam_user_get). access/secret NULL = generate (20 chars
 * [A-Z2-7] / 40 chars base64-ish); given ones must be 3..128 / 8..128 printable ASCII without
 * spaces. The secret is returned once in secret_out and stored only encrypted. -EEXIST. */
int iam_key_create(struct iam *iam, const char *user_ref, const char *access, const char *secret,
                   struct iam_key *out, char secret_out[IAM_MAX_SECRET + 1], char *msg,
                   size_t msgsz);
/* user_ref NULL = all keys; tenant filter NULL = all. Secrets are never listed. */
int iam_key_list(struct iam *iam, const char *tenant, const char *user_ref,
                 int (*fn)(const struct iam_key *k, void *ud), void *ud);
int iam_key_get(struct iam *iam, const char *access, struct iam_key *out);
int iam_key_set_enabled(struct iam *iam, const char *access, bool enabled);
int iam_key_delete(struct iam *iam, const char *access);

/* ---- authorisation ---- */

enum iam_acl {
    IAM_ACL_PRIVATE = 0,
    IAM_ACL_PUBLIC_READ,
    IAM_ACL_AUTHENTICATED_READ,
};
const char *iam_acl_name(enum iam_acl acl);           /* "private", ... */
int iam_acl_parse(struct gz_slice name, enum iam_acl *out); /* -EINVAL if unsupported */

/* One S3 request as the authoriser sees it. */
struct iam_request {
    const struct iam_principal *who;  /* NULL = anonymous */
    const char *action;               /* "s3:GetObject", "s3:ListBucket", ... */
    struct gz_slice bucket;           /* empty for service-level actions */
    struct gz_slice key;              /* empty for bucket-level actions */
    const char *bucket_owner;         /* owning tenant id ("" if no bucket) */
    struct gz_slice bucket_policy;    /* JSON, empty if none */
    enum iam_acl bucket_acl;
    enum iam_acl object_acl;          /* for object reads; PRIVATE when unknown */
    bool write;                       /* the action changes state */
};

/* Decides: 0 allowed; -EACCES denied with msg saying why (suspended tenant, role, other
 * tenant's bucket, explicit policy deny, ...). Order: explicit policy Deny wins; then
 * suspended tenants may not write; then role limits; then same-tenant access by role; then
 * policy Allow; then ACLs for reads. Platform admins may do everything; supervisors only
 * read bucket-level metadata (ListAllMyBuckets, HeadBucket, GetBucketLocation, ...), never
 * object data or listings of object keys. */
int iam_authorize(struct iam *iam, const struct iam_request *rq, char *msg, size_t msgsz);

/* Bucket policies: the AWS JSON grammar for Version, Statement[] with Sid, Effect
 * (Allow/Deny), Principal ("*", {"AWS": "*" | ARN | [ARN...]}), Action / NotAction (s3:*
 * with wildcards), Resource (arn:aws:s3:::bucket[/key] with wildcards; must name the bucket).
 * User ARNs: "arn:aws:iam::<tenant-name>:user/<user-name>" (or the user's canonical id).
 * Returns 0 or -EINVAL with a MalformedPolicy message. */
int iam_policy_validate(struct gz_slice policy, struct gz_slice bucket, char *msg, size_t msgsz);

/* Derives a 32-byte key for a purpose ("audit-checkpoint", ...) from DATA/master.key by
 * HMAC-SHA256; works without an open iam (for offline tools). -ENOENT if no master key. */
int iam_master_key_derive(const char *data_dir, const char *purpose, uint8_t out[32]);

/* Seals a small secret that another module stores (a migration source's secret key, ...)
 * the way access-key secrets are sealed: AES-256-GCM under the master key, bound to context
 * (authenticated, e.g. "migrate-source:<job id>"), so a sealed value moved to another row
 * does not open. plain is at most IAM_MAX_SECRET bytes (-EINVAL otherwise); out receives
 * base64 text (IAM_SEALED_TEXT_MAX bytes suffice). */
#define IAM_SEALED_TEXT_MAX 256
int iam_secret_seal(struct iam *iam, const char *context, const char *plain, char *out,
                    size_t outsz);
/* Opens a value sealed by iam_secret_seal with the same context into out (NUL-terminated,
 * IAM_MAX_SECRET + 1 bytes suffice). GZ_ECORRUPT if it does not authenticate, -EINVAL if it
 * is not sealed text. */
int iam_secret_open(struct iam *iam, const char *context, const char *sealed, char *out,
                    size_t outsz);

#endif
