/*
 * test_iam.c - the iam core: USCC validation, tenants, users and keys (CRUD, persistence,
 * secrets sealed at rest, disabled keys, root stability), the authorisation matrix, bucket
 * policies, canned ACLs and policy validation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/iam/iam_int.h"
#include "../../src/util/hash.h"
#include "tap.h"

#define ROOT_AK "ROOTACCESSKEY0000001"
#define ROOT_SK "rootsecretrootsecretrootsecret0123456789"
#define USCC_A "91350100M000100Y43"
#define USCC_B "91440300708461136T"
#define USCC_C "91110108551385082Q"

static char tmpdir[256];

/* ---- helpers ---- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fresh_dir(void)
{
    if (tmpdir[0])
        rm_rf(tmpdir);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/gzy-test-iam-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! mkdtemp\n");
        exit(1);
    }
}

static struct iam *open_iam(const char *ak, const char *sk)
{
    struct iam_config cfg = {.data_dir = tmpdir, .root_access = ak, .root_secret = sk};
    struct iam *iam = NULL;
    int rc = iam_open(&cfg, &iam);
    if (rc != 0) {
        printf("Bail out! iam_open: %s\n", gz_strerror(rc));
        exit(1);
    }
    return iam;
}

static struct iam_tenant mk_tenant(struct iam *iam, const char *name, const char *uscc)
{
    struct iam_tenant in = {.quota = {-1, -1}}, out;
    char msg[256] = "";
    snprintf(in.name, sizeof(in.name), "%s", name);
    snprintf(in.uscc, sizeof(in.uscc), "%s", uscc);
    snprintf(in.contact, sizeof(in.contact), "ops@%s.example", name);
    int rc = iam_tenant_create(iam, &in, &out, msg, sizeof(msg));
    if (rc != 0)
        printf("# tenant %s: %s\n", name, msg);
    return out;
}

/* Creates tenant/name with role and a key, and returns the principal the key resolves to. */
static struct iam_principal mk_principal(struct iam *iam, const char *tenant, const char *name,
                                         enum iam_role role)
{
    struct iam_user u;
    struct iam_key k;
    struct iam_principal p;
    char sk[IAM_MAX_SECRET + 1], msg[256] = "";
    memset(&p, 0, sizeof(p));
    if (iam_user_create(iam, tenant, name, role, &u, msg, sizeof(msg)) != 0 ||
        iam_key_create(iam, u.id, NULL, NULL, &k, sk, msg, sizeof(msg)) != 0 ||
        iam_principal_lookup(iam, gz_slice_cstr(k.access_key), &p) != 0)
        printf("# principal %s/%s: %s\n", tenant, name, msg);
    return p;
}

static bool file_contains(const char *path, const void *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    static char buf[1 << 20];
    size_t got = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return memmem(buf, got, needle, n) != NULL;
}

static bool dir_contains(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[512];
    bool found = false;
    while (d && (de = readdir(d)) != NULL) {
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        if (de->d_name[0] != '.' && file_contains(p, needle, strlen(needle)))
            found = true;
    }
    if (d)
        closedir(d);
    return found;
}

/* ---- USCC ---- */

static void t_uscc(void)
{
    static const char *const valid[] = {
        USCC_A,
        USCC_B,
        USCC_C,
        "91110000802100433B",
        "51610700305332460K",
        "11610923MB2900168E",
        "1134082855783407XL",
        "91341000MA2N0ABGXX",
        "92510100MA61WJ3204",
        "52610500MJU60350X1",
        "121526004609138637",
        "913101135696449862",
    };
    char msg[256];
    for (size_t i = 0; i < GZ_ARRAY_LEN(valid); i++) {
        msg[0] = '\0';
        int rc = iam_uscc_validate(valid[i], msg, sizeof(msg));
        TAP_OK(rc == 0, "%s is valid %s", valid[i], msg);
    }
    struct {
        const char *code, *want;
    } bad[] = {
        {"91350100M000100Y44", "check character"}, /* last character changed */
        {"91350100M000100Y4", "18 characters"},    /* too short */
        {"91350100M000100Y433", "18 characters"},  /* too long */
        {"", "18 characters"},
        {"91350100M000100Y4I", "not allowed"}, /* I is not in the set */
        {"9135010OM000100Y43", "not allowed"}, /* O */
        {"91350100m000100y43", "upper case"},
        {"913501A0M000100Y43", "administrative division"},
        {"91350100M000100Y53", "organisation code"}, /* GB 11714 check broken */
        {"91350100M000200Y43", "organisation code"}, /* body digit changed */
        {"91350200M000000510", "check character"},   /* a widely copied invalid code */
        {"91 350100M000100Y4", "not allowed"},
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad); i++) {
        msg[0] = '\0';
        int rc = iam_uscc_validate(bad[i].code, msg, sizeof(msg));
        TAP_OK(rc == -EINVAL && strstr(msg, bad[i].want), "\"%s\" rejected: %s", bad[i].code, msg);
    }
    /* every single-character substitution of a valid code is caught */
    const char *set = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    int missed = 0, tried = 0;
    for (int pos = 0; pos < 18; pos++) {
        for (const char *c = set; *c; c++) {
            char code[19];
            memcpy(code, USCC_B, 19);
            if (code[pos] == *c)
                continue;
            code[pos] = *c;
            tried++;
            if (iam_uscc_validate(code, NULL, 0) == 0)
                missed++;
        }
    }
    TAP_OK(missed == 0, "all %d single substitutions rejected (%d missed)", tried, missed);
    TAP_OK(iam_uscc_validate(NULL, msg, sizeof(msg)) == -EINVAL, "NULL rejected");
}

/* ---- names, roles, ACLs ---- */

static void t_names(void)
{
    for (int r = IAM_ROLE_PLATFORM_ADMIN; r <= IAM_ROLE_TENANT_READER; r++)
        TAP_OK(iam_role_parse(iam_role_name((enum iam_role)r)) == (enum iam_role)r, "role %s",
               iam_role_name((enum iam_role)r));
    TAP_OK(iam_role_parse("root") == IAM_ROLE_NONE && iam_role_parse(NULL) == IAM_ROLE_NONE,
           "unknown roles");
    TAP_OK(iam_role_is_platform(IAM_ROLE_SUPERVISOR) &&
               iam_role_is_platform(IAM_ROLE_PLATFORM_ADMIN) &&
               !iam_role_is_platform(IAM_ROLE_TENANT_ADMIN),
           "platform roles");
    enum iam_acl acl;
    TAP_OK(iam_acl_parse(GZ_SLICE_LIT("public-read"), &acl) == 0 && acl == IAM_ACL_PUBLIC_READ,
           "public-read");
    TAP_OK(iam_acl_parse(GZ_SLICE_LIT("authenticated-read"), &acl) == 0 &&
               acl == IAM_ACL_AUTHENTICATED_READ,
           "authenticated-read");
    TAP_OK(iam_acl_parse(GZ_SLICE_LIT("private"), &acl) == 0 && acl == IAM_ACL_PRIVATE, "private");
    TAP_OK(iam_acl_parse(GZ_SLICE_LIT("bucket-owner-full-control"), &acl) == 0 &&
               acl == IAM_ACL_PRIVATE,
           "bucket-owner-full-control is private here");
    TAP_OK(iam_acl_parse(GZ_SLICE_LIT("public-read-write"), &acl) == -EINVAL,
           "public-read-write unsupported");
    TAP_OK(strcmp(iam_acl_name(IAM_ACL_AUTHENTICATED_READ), "authenticated-read") == 0 &&
               strcmp(iam_acl_name(IAM_ACL_PUBLIC_READ), "public-read") == 0 &&
               strcmp(iam_acl_name(IAM_ACL_PRIVATE), "private") == 0,
           "acl names");
    bool sorted = true;
    for (size_t i = 1; i < iam__action_count(); i++)
        sorted &= strcasecmp(iam__action_at(i - 1)->name, iam__action_at(i)->name) < 0;
    TAP_OK(sorted, "action table sorted for bsearch (%zu actions)", iam__action_count());
    TAP_OK(iam__action_find("S3:GETOBJECT") != NULL && iam__action_find("s3:Nope") == NULL,
           "action lookup is case-insensitive");
}

static void t_glob(void)
{
    struct {
        const char *pat, *s;
        bool nocase, want;
    } v[] = {
        {"*", "", false, true},
        {"*", "abc", false, true},
        {"a*c", "abc", false, true},
        {"a*c", "abd", false, false},
        {"a?c", "abc", false, true},
        {"a?c", "ac", false, false},
        {"s3:Get*", "s3:getobject", true, true},
        {"s3:Get*", "s3:getobject", false, false},
        {"b/*", "b/x/y/z", false, true},
        {"b/a*b*c", "b/aXbYbZc", false, true},
        {"b/a*b*c", "b/aXbYbZ", false, false},
        {"**a", "xxa", false, true},
        {"abc", "abc", false, true},
        {"abc", "abcd", false, false},
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(v); i++)
        TAP_OK(iam__glob(gz_slice_cstr(v[i].pat), gz_slice_cstr(v[i].s), v[i].nocase) == v[i].want,
               "glob %s ~ %s", v[i].pat, v[i].s);
}

/* ---- open, master key, root ---- */

static void t_open(void)
{
    fresh_dir();
    struct iam *iam = open_iam(ROOT_AK, ROOT_SK);
    char p[512];
    struct stat sb;
    snprintf(p, sizeof(p), "%s/master.key", tmpdir);
    TAP_OK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600 && sb.st_size == 32,
           "master.key is 32 bytes, mode 0600");
    snprintf(p, sizeof(p), "%s/iam.db", tmpdir);
    TAP_OK(stat(p, &sb) == 0 && (sb.st_mode & 077) == 0, "iam.db created, mode 0600");

    struct iam_principal r;
    TAP_OK(iam_principal_lookup(iam, GZ_SLICE_LIT(ROOT_AK), &r) == 0, "root resolves");
    TAP_OK(r.is_root && r.role == IAM_ROLE_PLATFORM_ADMIN && strcmp(r.secret_key, ROOT_SK) == 0 &&
               strcmp(r.display_name, "root") == 0 && strcmp(r.tenant_name, "platform") == 0,
           "root principal fields");
    uint8_t d[32];
    char hex[65];
    gz_sha256(ROOT_AK, strlen(ROOT_AK), d);
    gz_hex_encode(hex, d, 32);
    TAP_OK(strcmp(r.user_id, hex) == 0, "root id continues issue 2's canonical id");
    struct iam_tenant t;
    TAP_OK(iam_tenant_get(iam, "platform", &t) == 0 && strcmp(t.id, r.tenant_id) == 0 &&
               strlen(t.id) == 64,
           "platform tenant exists");
    TAP_OK(iam_tenant_set_suspended(iam, "platform", true) == -EPERM,
           "platform cannot be suspended");
    struct iam_user u;
    TAP_OK(iam_user_get(iam, "platform/root", &u) == 0 && strcmp(u.id, r.user_id) == 0 &&
               u.role == IAM_ROLE_PLATFORM_ADMIN,
           "root user stored");
    char msg[256] = "";
    TAP_OK(iam_user_set_role(iam, "platform/root", IAM_ROLE_SUPERVISOR, msg, sizeof(msg)) ==
                   -EPERM &&
               msg[0],
           "root stays platform-admin: %s", msg);
    TAP_OK(iam_principal_lookup(iam, GZ_SLICE_LIT("nope"), &r) == -ENOENT, "unknown key");
    TAP_OK(iam_principal_lookup(iam, GZ_SLICE_NULL, &r) == -ENOENT, "empty key");
    TAP_OK(iam_key_set_enabled(iam, ROOT_AK, false) == -EPERM &&
               iam_key_delete(iam, ROOT_AK) == -EPERM,
           "root credential is not a managed key");
    iam_close(iam);
    iam_close(NULL);

    struct iam_config bad = {.data_dir = tmpdir, .root_access = "", .root_secret = "x"};
    struct iam *x = NULL;
    TAP_OK(iam_open(&bad, &x) == -EINVAL && x == NULL, "empty root key refused");

    uint8_t k1[32], k2[32], k3[32];
    TAP_OK(iam_master_key_derive(tmpdir, "audit-checkpoint", k1) == 0 &&
               iam_master_key_derive(tmpdir, "audit-checkpoint", k2) == 0 &&
               iam_master_key_derive(tmpdir, "other", k3) == 0 && memcmp(k1, k2, 32) == 0 &&
               memcmp(k1, k3, 32) != 0,
           "derive: stable per purpose, distinct across purposes");
    TAP_OK(iam_master_key_derive("/nonexistent-gzy", "x", k1) == -ENOENT, "derive: -ENOENT");
}

static void t_root_stability(void)
{
    fresh_dir();
    struct iam *iam = open_iam(ROOT_AK, ROOT_SK);
    struct iam_principal r1, r2, r3;
    iam_principal_lookup(iam, GZ_SLICE_LIT(ROOT_AK), &r1);
    iam_close(iam);
    iam = open_iam(ROOT_AK, ROOT_SK);
    iam_principal_lookup(iam, GZ_SLICE_LIT(ROOT_AK), &r2);
    TAP_OK(strcmp(r1.user_id, r2.user_id) == 0, "root id stable across reopen");
    iam_close(iam);
    iam = open_iam("NEWROOTKEY", "newrootsecret");
    TAP_OK(iam_principal_lookup(iam, GZ_SLICE_LIT("NEWROOTKEY"), &r3) == 0 &&
               strcmp(r3.user_id, r1.user_id) == 0 && r3.is_root &&
               strcmp(r3.secret_key, "newrootsecret") == 0,
           "a new root key maps to the same user");
    TAP_OK(iam_principal_lookup(iam, GZ_SLICE_LIT(ROOT_AK), &r2) == -ENOENT,
           "the old root key no longer resolves");
    char sk[IAM_MAX_SECRET + 1], msg[256] = "";
    struct iam_key k;
    TAP_OK(iam_key_create(iam, "platform/root", ROOT_AK, "somesecret1", &k, sk, msg, sizeof(msg)) ==
               -EEXIST,
           "a former root key cannot be reissued: %s", msg);
    iam_close(iam);
    iam = open_iam(ROOT_AK, ROOT_SK);
    iam_principal_lookup(iam, GZ_SLICE_LIT(ROOT_AK), &r2);
    TAP_OK(strcmp(r2.user_id, r1.user_id) == 0, "switching back keeps the id");
    iam_close(iam);
}

static void t_master_key_checks(void)
{
    fresh_dir();
    struct iam *iam = open_iam(ROOT_AK, ROOT_SK);
    iam_close(iam);
    char p[512];
    snprintf(p, sizeof(p), "%s/master.key", tmpdir);
    uint8_t orig[32], other[32];
    FILE *f = fopen(p, "rb");
    TAP_OK(f && fread(orig, 1, 32, f) == 32, "read master.key");
    if (f)
        fclose(f);
    struct iam_config cfg = {.data_dir = tmpdir, .root_access = ROOT_AK, .root_secret = ROOT_SK};
    unlink(p);
    TAP_OK(iam_open(&cfg, &iam) == -ENOENT, "a missing master.key is not silently replaced");
    gz_random_bytes(other, 32);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    TAP_OK(fd >= 0 && write(fd, other, 32) == 32, "write a wrong key");
    close(fd);
    TAP_OK(iam_open(&cfg, &iam) == GZ_ECORRUPT, "a wrong master.key is refused");
    fd = open(p, O_WRONLY | O_TRUNC, 0600);
    TAP_OK(fd >= 0 && write(fd, orig, 10) == 10, "write a short key");
    close(fd);
    TAP_OK(iam_open(&cfg, &iam) == GZ_ECORRUPT, "a short master.key is refused");
    fd = open(p, O_WRONLY | O_TRUNC, 0600);
    TAP_OK(fd >= 0 && write(fd, orig, 32) == 32, "restore the key");
    close(fd);
    TAP_OK(iam_open(&cfg, &iam) == 0, "the right key opens");
    iam_close(iam);
}

/* ---- tenants ---- */

static int count_tenant(const struct iam_tenant *t, void *ud)
{
    (*(int *)ud)++;
    return 0;
}

static void t_tenants(void)
{
    fresh_dir();
    struct iam *iam = open_iam(ROOT_AK, ROOT_SK);
    struct iam_tenant in = {.name = "acme",
                            .uscc = "91350100m000100y43",
                            .contact = "张三 13800000000",
                            .quota = {1000, 10}};
    struct iam_tenant out, got;
    char msg[256] = "";
    TAP_OK(iam_tenant_create(iam, &in, &out, msg, sizeof(msg)) == 0, "create acme %s", msg);
    TAP_OK(strcmp(out.uscc, USCC_A) == 0 && strlen(out.id) == 64 && !out.suspended &&
               out.created_ms > 0 && out.quota.max_bytes == 1000,
           "fields (USCC upper-cased)");
    TAP_OK(iam_tenant_get(iam, "acme", &got) == 0 && strcmp(got.id, out.id) == 0 &&
               strcmp(got.contact, in.contact) == 0 && got.quota.max_objects == 10,
           "get by name");
    TAP_OK(iam_tenant_get(iam, out.id, &got) == 0 && strcmp(got.name, "acme") == 0, "get by id");
    TAP_OK(iam_tenant_get(iam, "nope", &got) == -ENOENT, "unknown tenant");
    msg[0] = '\0';
    TAP_OK(iam_tenant_create(iam, &in, &out, msg, sizeof(msg)) == -EEXIST && strstr(msg, "acme"),
           "duplicate name: %s", msg);
    snprintf(in.name, sizeof(in.name), "acme2");
    msg[0] = '\0';
    TAP_OK(iam_tenant_create(iam, &in, &out, msg, sizeof(msg)) == -EEXIST &&
               strstr(msg, "already registered"),
           "duplicate USCC: %s", msg);
    static const char *const bad_names[] = {"A", "a", "-ab", "ab_c", "Acme", "a b", "platform"};
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad_names); i++) {
        struct iam_tenant b = {.uscc = USCC_C, .quota = {-1, -1}};
        snprintf(b.name, sizeof(b.name), "%s", bad_names[i]);
        int rc = iam_tenant_create(iam, &b, NULL, msg, sizeof(msg));
        TAP_OK(rc == -EINVAL || (rc == -EEXIST && i == GZ_ARRAY_LEN(bad_names) - 1),
               "name \"%s\" refused (%d)", bad_names[i], rc);
    }
    struct iam_tenant b = {.name = "beta", .uscc = "91350100M000100Y44", .quota = {-1, -1}};
    msg[0] = '\0';
    TAP_OK(iam_tenant_create(iam, &b, NULL, msg, sizeof(msg)) == -EINVAL &&
               strstr(msg, "check character"),
           "bad USCC: %s", msg);
    snprintf(b.uscc, sizeof(b.uscc), "%s", USCC_B);
    b.quota.max_bytes = -2;
    TAP_OK(iam_tenant_create(iam, &b, NULL, msg, sizeof(msg)) == -EINVAL, "bad quota: %s", msg);
    b.quota.max_bytes = -1;
    snprintf(b.contact, sizeof(b.contact), "line\nbreak");
    TAP_OK(iam_tenant_create(iam, &b, NULL, msg, sizeof(msg)) == -EINVAL, "bad contact: %s", msg);
    b.contact[0] = '\0';
    TAP_OK(iam_tenant_create(iam, &b, NULL, msg, sizeof(msg)) == 0, "beta created");
    int n = 0;
    TAP_OK(iam_tenant_list(iam, count_tenant, &n) == 0 && n == 3, "list: %d tenants", n);

    TAP_OK(iam_tenant_set_suspended(iam, "acme", true) == 0 &&
               iam_tenant_get(iam, "acme", &got) == 0 && got.suspended,
           "suspend");
    TAP_OK(iam_tenant_set_suspended(iam, "acme", false) == 0 &&
               iam_tenant_get(iam, "acme", &got) == 0 && !got.suspended,
           "resume");
    TAP_OK(iam_tenant_set_suspended(iam, "nope", true) == -ENOENT, "suspend unknown");
    struct iam_quota q = {5 << 20, -1};
    TAP_OK(iam_tenant_set_quota(iam, "acme", &q) == 0 && iam_tenant_get(iam, "acme", &got) == 0 &&
               got.quota.max_bytes == 5 << 20 && got.quota.max_objects == -1,
           "quota set");
    q.max_objects = -5;
    TAP_OK(iam_tenant_set_quota(iam, "acme", &q) == -EINVAL, "bad quota refused");
    TAP_OK(iam_tenant_set_quota(iam, "nope", &(struct iam_quota){1, 1}) == -ENOENT,
           "quota of unknown tenant");
    iam_tenant_set_suspended(iam, "beta", true);
    iam_close(iam);

    iam = open_iam(ROOT_AK, ROOT_SK);
    TAP_OK(iam_tenant_get(iam, "acme", &got) == 0 && got.quota.max_bytes == 5 << 20 &&
               strcmp(got.uscc, USCC_A) == 0,
           "acme persists");
    TAP_OK(iam_tenant_get(iam, "beta", &got) == 0 && got.suspended, "suspension persists");
    iam_close(iam);
}

/* ---- users ---- */

static int count_user(const struct iam_user *u, void *ud)
{
    (*(int *)ud)++;
    return 0;
}

static void t_users(void)
{
    fresh_dir();
    struct iam *iam = open_iam(ROOT_AK, ROOT_SK);
    struct iam_tenant a = mk_tenant(iam, "acme", USCC_A);
    mk_tenant(iam, "beta", USCC_B);
    struct iam_user u, got;
    char msg[256] = "";
    TAP_OK(iam_user_create(iam, "acme", "alice", IAM_ROLE_TENANT_ADMIN, &u, msg, sizeof(msg)) ==
                   0 &&
               strlen(u.id) == 64 && strcmp(u.tenant_id, a.id) == 0 &&
               strcmp(u.tenant_name, "acme") == 0,
           "create acme/alice %s", msg);
    TAP_OK(iam_user_create(iam, a.id, "bob", IAM_ROLE_TENANT_MEMBER, NULL, msg, sizeof(msg)) == 0,
           "create by tenant id");
    TAP_OK(iam_user_create(iam, "beta", "alice", IAM_ROLE_TENANT_READER, NULL, msg, sizeof(msg)) ==
               0,
           "same name in another tenant");
    msg[0] = '\0';
    TAP_OK(iam_user_create(iam, "acme", "alice", IAM_ROLE_TENANT_READER, NULL, msg, sizeof(msg)) ==
                   -EEXIST &&
               msg[0],
           "duplicate: %s", msg);
    msg[0] = '\0';
    TAP_OK(iam_user_create(iam, "acme", "sup", IAM_ROLE_SUPERVISOR, NULL, msg, sizeof(msg)) ==
                   -EINVAL &&
               strstr(msg, "platform"),
           "platform role in a tenant: %s", msg);
    msg[0] = '\0';
    TAP_OK(iam_user_create(iam, "platform", "x", IAM_ROLE_TENANT_ADMIN, NULL, msg, sizeof(msg)) ==
                   -EINVAL &&
               msg[0],
           "tenant role in platform: %s", msg);
    TAP_OK(iam_user_create(iam, "platform", "sasac", IAM_ROLE_SUPERVISOR, NULL, msg, sizeof(msg)) ==
               0,
           "supervisor in platform");
    TAP_OK(iam_user_create(iam, "acme", "a/b", IAM_ROLE_TENANT_READER, NULL, msg, sizeof(msg)) ==
                   -EINVAL &&
               iam_user_create(iam, "acme", "", IAM_ROLE_TENANT_READER, NULL, msg, sizeof(msg)) ==
                   -EINVAL,
           "bad names refused");
    TAP_OK(iam_user_create(iam, "acme", "zed", IAM_ROLE_NONE, NULL, msg, sizeof(msg)) == -EINVAL,
           "role none refused");
    TAP_OK(iam_user_create(iam, "nope", "zed", IAM_ROLE_TENANT_READER, NULL, msg, sizeof(msg)) ==
               -ENOENT,
           "unknown tenant");
    TAP_OK(iam_user_get(iam, u.id, &got) == 0 && strcmp(got.name, "alice") == 0 &&
               got.role == IAM_ROLE_TENANT_ADMIN,
           "get by id");
    TAP_OK(iam_user_get(iam, "acme/alice", &got) == 0 && strcmp(got.id, u.id) == 0,
           "get by tenant/name");
    TAP_OK(iam_user_get(iam, "acme/nobody", &got) == -ENOENT &&
               iam_user_get(iam, "alice", &got) == -ENOENT,
           "unknown users");
    int n = 0;
    TAP_OK(iam_user_list(iam, "acme", count_user, &n) == 0 && n == 2, "acme has %d users", n);
    n = 0;
    TAP_OK(iam_user_list(iam, NULL, count_user, &n) == 0 && n == 5, "%d users in all", n);
    TAP_OK(iam_user_list(iam, "nope", count_user, &n) == -ENOENT, "list of unknown tenant");
    TAP_OK(iam_user_set_role(iam, "acme/bob", IAM_ROLE_TENANT_READER, msg, sizeof(msg)) == 0 &&
               iam_user_get(iam, "acme/bob", &got) == 0 && got.role == IAM_ROLE_TENANT_READER,
           "set role");
    TAP_OK(iam_user_set_role(iam, "acme/bob", IAM_ROLE_PLATFORM_ADMIN, msg, sizeof(msg)) == -EINVAL,
           "no platform role in a tenant: %s", msg);
    iam_close(iam);
    iam = open_iam(ROOT_AK, ROOT_SK);
    TAP_OK(iam_user_get(iam, "acme/bob", &got) == 0 && got.role == IAM_ROLE_TENANT_READER &&
               iam_user_get(iam, u.id, &got) == 0,
           "users persist");
    iam_close(iam);
}

/* ---- keys ---- */

static int count_key(const struct iam_key *k, void *ud)
{
    (*(int *)ud)++;
    return 0;
}

static bool all_in(const char *s, const char *set)
{
    return strspn(s, set) == strlen(s);
}

static void t_keys(void)
{
    fresh_dir();
    struct iam *iam = open_iam(ROOT_AK, ROOT_SK);
    mk_tenant(iam, "acme", USCC_A);
    mk_tenant(iam, "beta", USCC_B);
    char msg[256] = "", sk[IAM_MAX_SECRET + 1];
    struct iam_user u;
    struct iam_key k, got;
    struct iam_principal p;
    iam_user_create(iam, "acme", "alice", IAM_ROLE_TENANT_MEMBER, &u, msg, sizeof(msg));
    iam_user_create(iam, "beta", "bob", IAM_ROLE_TENANT_ADMIN, NULL, msg, sizeof(msg));
    TAP_OK(iam_key_create(iam, "acme/alice", NULL, NULL, &k, sk, msg, sizeof(msg)) == 0,
           "generated key %s", msg);
    TAP_OK(strlen(k.access_key) == 20 && all_in(k.access_key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
           "access key shape %s", k.access_key);
    TAP_OK(strlen(sk) == 40 &&
               all_in(sk, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
           "secret shape");
    TAP_OK(k.enabled && strcmp(k.user_id, u.id) == 0 && strcmp(k.user_name, "alice") == 0 &&
               strcmp(k.tenant_name, "acme") == 0,
           "key fields");
    TAP_OK(iam_principal_lookup(iam, gz_slice_cstr(k.access_key), &p) == 0 &&
               strcmp(p.secret_key, sk) == 0 && strcmp(p.user_id, u.id) == 0 &&
               strcmp(p.display_name, "alice") == 0 && strcmp(p.tenant_name, "acme") == 0 &&
               p.role == IAM_ROLE_TENANT_MEMBER && !p.is_root && !p.tenant_suspended,
           "lookup resolves the new key");
    TAP_OK(iam_key_create(iam, "beta/bob", "AKIDBOB", "bobsecret12", &got, sk, msg, sizeof(msg)) ==
                   0 &&
               strcmp(sk, "bobsecret12") == 0,
           "given key pair %s", msg);
    msg[0] = '\0';
    TAP_OK(iam_key_create(iam, "acme/alice", "AKIDBOB", "x12345678", NULL, sk, msg, sizeof(msg)) ==
                   -EEXIST &&
               msg[0],
           "duplicate access key: %s", msg);
    TAP_OK(iam_key_create(iam, "acme/alice", ROOT_AK, "x12345678", NULL, sk, msg, sizeof(msg)) ==
               -EEXIST,
           "root access key reserved: %s", msg);
    static const char *const bad_ak[] = {"ab", "has space", "a/b", "a:b", "é-key"};
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad_ak); i++)
        TAP_OK(iam_key_create(iam, "acme/alice", bad_ak[i], "secret123", NULL, sk, msg,
                              sizeof(msg)) == -EINVAL,
               "access key \"%s\" refused", bad_ak[i]);
    TAP_OK(iam_key_create(iam, "acme/alice", "GOODKEY", "short", NULL, sk, msg, sizeof(msg)) ==
               -EINVAL,
           "short secret refused: %s", msg);
    TAP_OK(iam_key_create(iam, "acme/nobody", NULL, NULL, NULL, sk, msg, sizeof(msg)) == -ENOENT,
           "unknown user: %s", msg);
    TAP_OK(iam_key_create(iam, "acme/alice", "SECONDKEY", NULL, NULL, NULL, msg, sizeof(msg)) == 0,
           "second key for alice");
    int n = 0;
    TAP_OK(iam_key_list(iam, NULL, NULL, count_key, &n) == 0 && n == 3, "%d keys", n);
    n = 0;
    TAP_OK(iam_key_list(iam, "acme", NULL, count_key, &n) == 0 && n == 2, "acme: %d keys", n);
    n = 0;
    TAP_OK(iam_key_list(iam, NULL, "beta/bob", count_key, &n) == 0 && n == 1, "bob: %d keys", n);
    TAP_OK(iam_key_list(iam, "nope", NULL, count_key, &n) == -ENOENT, "unknown tenant filter");
    TAP_OK(iam_key_get(iam, "AKIDBOB", &got) == 0 && strcmp(got.user_name, "bob") == 0 &&
               strcmp(got.tenant_name, "beta") == 0 && got.enabled,
           "key get");
    TAP_OK(iam_key_get(iam, "nope", &got) == -ENOENT, "key get unknown");

    TAP_OK(iam_key_set_enabled(iam, "AKIDBOB", false) == 0, "disable");
    TAP_OK(iam_principal_lookup(iam, GZ_SLICE_LIT("AKIDBOB"), &p) == -EPERM &&
               p.secret_key[0] == '\0',
           "disabled key: -EPERM, no secret");
    TAP_OK(iam_key_get(iam, "AKIDBOB", &got) == 0 && !got.enabled, "listed as disabled");
    iam_close(iam);

    iam = open_iam(ROOT_AK, ROOT_SK);
    TAP_OK(iam_principal_lookup(iam, GZ_SLICE_LIT("AKIDBOB"), &p) == -EPERM, "disabled persists");
    TAP_OK(iam_principal_lookup(iam, gz_slice_cstr(k.access_key), &p) == 0 &&
               strcmp(p.display_name, "alice") == 0,
           "keys decrypt after reopen");
    TAP_OK(iam_key_set_enabled(iam, "AKIDBOB", true) == 0 &&
               iam_principal_lookup(iam, GZ_SLICE_LIT("AKIDBOB"), &p) == 0 &&
               strcmp(p.secret_key, "bobsecret12") == 0,
           "enable");
    TAP_OK(iam_key_delete(iam, "AKIDBOB") == 0 &&
               iam_principal_lookup(iam, GZ_SLICE_LIT("AKIDBOB"), &p) == -ENOENT,
           "delete");
    TAP_OK(iam_key_delete(iam, "AKIDBOB") == -ENOENT &&
               iam_key_set_enabled(iam, "AKIDBOB", true) == -ENOENT,
           "delete/enable unknown");
    TAP_OK(iam_user_set_role(iam, "acme/alice", IAM_ROLE_TENANT_READER, msg, sizeof(msg)) == 0 &&
               iam_principal_lookup(iam, gz_slice_cstr(k.access_key), &p) == 0 &&
               p.role == IAM_ROLE_TENANT_READER,
           "role change reaches the cache");
    iam_tenant_set_suspended(iam, "acme", true);
    TAP_OK(iam_principal_lookup(iam, gz_slice_cstr(k.access_key), &p) == 0 && p.tenant_suspended,
           "suspension reaches the cache");
    iam_close(iam);
}

static void t_secrets_at_rest(void)
{
    fresh_dir();
    struct iam *iam = open_iam(ROOT_AK, ROOT_SK);
    mk_tenant(iam, "acme", USCC_A);
    char msg[256], sk[IAM_MAX_SECRET + 1], gen[IAM_MAX_SECRET + 1];
    const char *given = "Given-Secret-Value-0123456789";
    iam_user_create(iam, "acme", "alice", IAM_ROLE_TENANT_MEMBER, NULL, msg, sizeof(msg));
    iam_key_create(iam, "acme/alice", "GIVENKEY", given, NULL, sk, msg, sizeof(msg));
    iam_key_create(iam, "acme/alice", NULL, NULL, NULL, gen, msg, sizeof(msg));
    /* while open (WAL in use) and after close (checkpointed) */
    TAP_OK(!dir_contains(tmpdir, given) && !dir_contains(tmpdir, gen),
           "no secret in clear in the data folder while open");
    TAP_OK(dir_contains(tmpdir, "GIVENKEY"), "(the access key is there: the grep works)");
    iam_close(iam);
    TAP_OK(!dir_contains(tmpdir, given) && !dir_contains(tmpdir, gen) &&
               !dir_contains(tmpdir, ROOT_SK),
           "no secret in clear after close");
}

/* ---- authorisation ---- */

struct world {
    struct iam *iam;
    struct iam_tenant a, b;
    struct iam_principal root, sup, admin_a, member_a, reader_a, admin_b, member_b, reader_b;
};

static void world_init(struct world *w)
{
    fresh_dir();
    w->iam = open_iam(ROOT_AK, ROOT_SK);
    w->a = mk_tenant(w->iam, "acme", USCC_A);
    w->b = mk_tenant(w->iam, "beta", USCC_B);
    iam_principal_lookup(w->iam, GZ_SLICE_LIT(ROOT_AK), &w->root);
    w->sup = mk_principal(w->iam, "platform", "sasac", IAM_ROLE_SUPERVISOR);
    w->admin_a = mk_principal(w->iam, "acme", "admin", IAM_ROLE_TENANT_ADMIN);
    w->member_a = mk_principal(w->iam, "acme", "member", IAM_ROLE_TENANT_MEMBER);
    w->reader_a = mk_principal(w->iam, "acme", "reader", IAM_ROLE_TENANT_READER);
    w->admin_b = mk_principal(w->iam, "beta", "admin", IAM_ROLE_TENANT_ADMIN);
    w->member_b = mk_principal(w->iam, "beta", "member", IAM_ROLE_TENANT_MEMBER);
    w->reader_b = mk_principal(w->iam, "beta", "reader", IAM_ROLE_TENANT_READER);
}

static int authz(struct world *w, const struct iam_principal *who, const char *action,
                 const char *bucket, const char *key, const struct iam_tenant *owner,
                 const char *policy, enum iam_acl bacl, enum iam_acl oacl, char *msg, size_t msgsz)
{
    struct iam_request rq = {
        .who = who,
        .action = action,
        .bucket = gz_slice_cstr(bucket),
        .key = gz_slice_cstr(key),
        .bucket_owner = owner ? owner->id : "",
        .bucket_policy = gz_slice_cstr(policy),
        .bucket_acl = bacl,
        .object_acl = oacl,
    };
    if (msg)
        msg[0] = '\0';
    return iam_authorize(w->iam, &rq, msg, msgsz);
}

/* Shorthand: no policy, private ACLs. */
static int authz0(struct world *w, const struct iam_principal *who, const char *action,
                  const char *bucket, const char *key, const struct iam_tenant *owner, char *msg,
                  size_t msgsz)
{
    return authz(w, who, action, bucket, key, owner, NULL, IAM_ACL_PRIVATE, IAM_ACL_PRIVATE, msg,
                 msgsz);
}

/* The expected role table, written out independently of authz.c's. */
struct case_row {
    const char *action;
    bool object;         /* needs a key */
    const char *allowed; /* roles allowed in their own tenant: P S A M R */
};

static const struct case_row matrix[] = {
    {"s3:ListAllMyBuckets", false, "PSAMR"},
    {"s3:CreateBucket", false, "PA"},
    {"s3:DeleteBucket", false, "PA"},
    {"s3:HeadBucket", false, "PSAMR"},
    {"s3:ListBucket", false, "PAMR"},
    {"s3:GetBucketLocation", false, "PSAMR"},
    {"s3:GetBucketVersioning", false, "PSAM"},
    {"s3:PutBucketVersioning", false, "PA"},
    {"s3:GetBucketPolicy", false, "PSA"},
    {"s3:PutBucketPolicy", false, "PA"},
    {"s3:DeleteBucketPolicy", false, "PA"},
    {"s3:GetBucketAcl", false, "PSA"},
    {"s3:PutBucketAcl", false, "PA"},
    {"s3:ListBucketMultipartUploads", false, "PAM"},
    {"s3:GetObject", true, "PAMR"},
    {"s3:PutObject", true, "PAM"},
    {"s3:DeleteObject", true, "PAM"},
    {"s3:GetObjectAcl", true, "PAMR"},
    {"s3:PutObjectAcl", true, "PA"},
    {"s3:ListMultipartUploadParts", true, "PAM"},
    {"s3:AbortMultipartUpload", true, "PAM"},
};

static void t_authz_matrix(void)
{
    struct world w;
    world_init(&w);
    struct {
        const struct iam_principal *who;
        char code;
    } roles[] = {
        {&w.root, 'P'}, {&w.sup, 'S'}, {&w.admin_a, 'A'}, {&w.member_a, 'M'}, {&w.reader_a, 'R'}};
    int wrong = 0, total = 0;
    char msg[512];
    for (size_t r = 0; r < GZ_ARRAY_LEN(roles); r++) {
        for (size_t i = 0; i < GZ_ARRAY_LEN(matrix); i++) {
            const struct case_row *c = &matrix[i];
            bool service = strcmp(c->action, "s3:ListAllMyBuckets") == 0 ||
                           strcmp(c->action, "s3:CreateBucket") == 0;
            bool want_own = strchr(c->allowed, roles[r].code) != NULL;
            /* other tenant: platform roles act everywhere; tenant roles nowhere */
            bool want_other = (roles[r].code == 'P' || roles[r].code == 'S') && want_own;
            const char *key = c->object ? "k" : "";
            int own = authz0(&w, roles[r].who, c->action, service ? "" : "a-bkt", key,
                             service ? NULL : &w.a, msg, sizeof(msg));
            total++;
            if ((own == 0) != want_own) {
                wrong++;
                printf("# own: role %c %s -> %d (%s)\n", roles[r].code, c->action, own, msg);
            }
            if (own != 0 && msg[0] == '\0') {
                wrong++;
                printf("# own: role %c %s denied without a message\n", roles[r].code, c->action);
            }
            if (service)
                continue;
            int other = authz0(&w, roles[r].who, c->action, "b-bkt", key, &w.b, msg, sizeof(msg));
            total++;
            if ((other == 0) != want_other) {
                wrong++;
                printf("# other: role %c %s -> %d (%s)\n", roles[r].code, c->action, other, msg);
            }
        }
    }
    TAP_OK(wrong == 0, "role matrix: %d of %d decisions as specified", total - wrong, total);
    authz0(&w, &w.reader_a, "s3:PutObject", "a-bkt", "k", &w.a, msg, sizeof(msg));
    TAP_OK(strstr(msg, "tenant-reader") && strstr(msg, "s3:PutObject"), "role message: %s", msg);
    authz0(&w, &w.member_a, "s3:GetObject", "b-bkt", "k", &w.b, msg, sizeof(msg));
    TAP_OK(strstr(msg, "another tenant") && strstr(msg, "b-bkt"), "tenant message: %s", msg);
    authz0(&w, &w.sup, "s3:GetObject", "a-bkt", "k", &w.a, msg, sizeof(msg));
    TAP_OK(strstr(msg, "supervisor"), "supervisor message: %s", msg);
    TAP_OK(authz0(&w, &w.admin_a, "s3:GetBucketTagging", "a-bkt", "", &w.a, msg, sizeof(msg)) ==
                   0 &&
               authz0(&w, &w.admin_a, "s3:SomethingNew", "a-bkt", "", &w.a, msg, sizeof(msg)) == 0,
           "tenant-admin: every s3:* action in its tenant");
    TAP_OK(authz0(&w, &w.member_a, "s3:SomethingNew", "a-bkt", "", &w.a, msg, sizeof(msg)) ==
               -EACCES,
           "unknown actions denied to non-admins");
    TAP_OK(authz0(&w, NULL, "s3:ListAllMyBuckets", "", "", NULL, msg, sizeof(msg)) == -EACCES &&
               msg[0],
           "anonymous ListAllMyBuckets: %s", msg);
    TAP_OK(authz0(&w, NULL, "s3:GetObject", "a-bkt", "k", &w.a, msg, sizeof(msg)) == -EACCES &&
               strstr(msg, "anonymous"),
           "anonymous GetObject on private: %s", msg);

    /* suspended tenant */
    iam_tenant_set_suspended(w.iam, "acme", true);
    struct iam_principal p;
    iam_principal_lookup(w.iam, gz_slice_cstr(w.member_a.access_key), &p);
    int rc = authz0(&w, &p, "s3:PutObject", "a-bkt", "k", &w.a, msg, sizeof(msg));
    TAP_OK(rc == -EACCES && strcmp(msg, "tenant acme is suspended: writes are not allowed") == 0,
           "suspended: write denied: %s", msg);
    TAP_OK(authz0(&w, &p, "s3:GetObject", "a-bkt", "k", &w.a, msg, sizeof(msg)) == 0 &&
               authz0(&w, &p, "s3:ListBucket", "a-bkt", "", &w.a, msg, sizeof(msg)) == 0,
           "suspended: reads allowed");
    iam_principal_lookup(w.iam, gz_slice_cstr(w.admin_a.access_key), &p);
    int wrong_s = 0;
    for (size_t i = 0; i < GZ_ARRAY_LEN(matrix); i++) {
        const struct iam__action *a = iam__action_find(matrix[i].action);
        rc = authz0(&w, &p, matrix[i].action, "a-bkt", matrix[i].object ? "k" : "", &w.a, msg,
                    sizeof(msg));
        if ((rc == 0) == a->write) {
            wrong_s++;
            printf("# suspended admin %s -> %d\n", matrix[i].action, rc);
        }
    }
    TAP_OK(wrong_s == 0, "suspended tenant-admin: every write denied, every read allowed");
    struct iam_request rq = {.who = &p,
                             .action = "s3:Whatever",
                             .bucket = GZ_SLICE_LIT("a-bkt"),
                             .bucket_owner = w.a.id,
                             .write = true};
    TAP_OK(iam_authorize(w.iam, &rq, msg, sizeof(msg)) == -EACCES && strstr(msg, "suspended"),
           "the write flag is honoured");
    const char *pol = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\","
                      "\"Action\":\"s3:PutObject\",\"Resource\":\"arn:aws:s3:::a-bkt/*\"}]}";
    TAP_OK(authz(&w, &w.member_b, "s3:PutObject", "a-bkt", "k", &w.a, pol, IAM_ACL_PRIVATE,
                 IAM_ACL_PRIVATE, msg, sizeof(msg)) == -EACCES &&
               strstr(msg, "acme"),
           "no writes into a suspended tenant's bucket, even by policy: %s", msg);
    TAP_OK(authz0(&w, &w.root, "s3:PutObject", "a-bkt", "k", &w.a, msg, sizeof(msg)) == 0,
           "platform-admin may still write there");
    iam_tenant_set_suspended(w.iam, "acme", false);
    iam_close(w.iam);
}

static void t_policies(void)
{
    struct world w;
    world_init(&w);
    char msg[512];
    const char *one = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"GrantBob\","
                      "\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
                      "\"arn:aws:iam::acme:user/member\"},\"Action\":\"s3:GetObject\","
                      "\"Resource\":\"arn:aws:s3:::b-bkt/*\"}]}";
    TAP_OK(iam_policy_validate(gz_slice_cstr(one), GZ_SLICE_LIT("b-bkt"), msg, sizeof(msg)) == 0,
           "valid policy %s", msg);
    TAP_OK(authz(&w, &w.member_a, "s3:GetObject", "b-bkt", "k", &w.b, one, 0, 0, msg,
                 sizeof(msg)) == 0,
           "granted action allowed across tenants");
    static const char *const others[] = {"s3:PutObject",    "s3:DeleteObject",
                                         "s3:ListBucket",   "s3:GetObjectAcl",
                                         "s3:DeleteBucket", "s3:PutBucketPolicy"};
    int leaks = 0;
    for (size_t i = 0; i < GZ_ARRAY_LEN(others); i++)
        leaks += authz(&w, &w.member_a, others[i], "b-bkt", strstr(others[i], "Bucket") ? "" : "k",
                       &w.b, one, 0, 0, msg, sizeof(msg)) == 0;
    TAP_OK(leaks == 0, "every other action still denied");
    TAP_OK(authz(&w, &w.reader_a, "s3:GetObject", "b-bkt", "k", &w.b, one, 0, 0, msg,
                 sizeof(msg)) == -EACCES,
           "other users of the tenant not granted");

    const char *tenantwide = "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":["
                             "\"arn:aws:iam::acme:root\"]},\"Action\":[\"s3:Get*\","
                             "\"s3:List*\",\"s3:PutObject\"],\"Resource\":["
                             "\"arn:aws:s3:::b-bkt\",\"arn:aws:s3:::b-bkt/shared/*\"]}}";
    TAP_OK(iam_policy_validate(gz_slice_cstr(tenantwide), GZ_SLICE_LIT("b-bkt"), msg,
                               sizeof(msg)) == 0,
           "tenant-wide policy valid %s", msg);
    TAP_OK(authz(&w, &w.reader_a, "s3:GetObject", "b-bkt", "shared/x/y", &w.b, tenantwide, 0, 0,
                 msg, sizeof(msg)) == 0,
           "wildcard action + resource: reader reads shared/");
    TAP_OK(authz(&w, &w.reader_a, "s3:GetObject", "b-bkt", "private/x", &w.b, tenantwide, 0, 0, msg,
                 sizeof(msg)) == -EACCES,
           "outside the resource pattern denied");
    TAP_OK(authz(&w, &w.reader_a, "s3:ListBucket", "b-bkt", "", &w.b, tenantwide, 0, 0, msg,
                 sizeof(msg)) == 0,
           "bucket ARN grants ListBucket");
    TAP_OK(authz(&w, &w.reader_a, "s3:PutObject", "b-bkt", "shared/x", &w.b, tenantwide, 0, 0, msg,
                 sizeof(msg)) == -EACCES,
           "policy cannot lift a reader to writing: %s", msg);
    TAP_OK(authz(&w, &w.member_a, "s3:PutObject", "b-bkt", "shared/x", &w.b, tenantwide, 0, 0, msg,
                 sizeof(msg)) == 0,
           "a member may write where granted");
    TAP_OK(authz(&w, &w.member_a, "s3:DeleteObject", "b-bkt", "shared/x", &w.b, tenantwide, 0, 0,
                 msg, sizeof(msg)) == -EACCES,
           "ungranted action denied");
    TAP_OK(authz(&w, &w.sup, "s3:GetObject", "b-bkt", "shared/x", &w.b, tenantwide, 0, 0, msg,
                 sizeof(msg)) == -EACCES,
           "supervisor: never objects");

    const char *deny = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":"
                       "\"s3:*\",\"Resource\":\"arn:aws:s3:::b-bkt/*\"},{\"Sid\":\"NoSecret\","
                       "\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"*\"},\"Action\":"
                       "\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::b-bkt/secret/*\"}]}";
    TAP_OK(iam_policy_validate(gz_slice_cstr(deny), GZ_SLICE_LIT("b-bkt"), msg, sizeof(msg)) == 0,
           "deny policy valid %s", msg);
    TAP_OK(authz(&w, &w.admin_b, "s3:GetObject", "b-bkt", "secret/x", &w.b, deny, 0, 0, msg,
                 sizeof(msg)) == -EACCES &&
               strstr(msg, "explicit Deny") && strstr(msg, "NoSecret"),
           "explicit Deny beats the owner's role: %s", msg);
    TAP_OK(authz(&w, &w.root, "s3:GetObject", "b-bkt", "secret/x", &w.b, deny, 0, 0, msg,
                 sizeof(msg)) == -EACCES,
           "... and platform-admin");
    TAP_OK(authz(&w, &w.root, "s3:DeleteBucketPolicy", "b-bkt", "", &w.b,
                 "{\"Statement\":[{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:*\","
                 "\"Resource\":[\"arn:aws:s3:::b-bkt\",\"arn:aws:s3:::b-bkt/*\"]}]}",
                 0, 0, msg, sizeof(msg)) == 0,
           "root can always remove a locking policy");
    TAP_OK(authz(&w, &w.member_a, "s3:GetObject", "b-bkt", "open/x", &w.b, deny, 0, 0, msg,
                 sizeof(msg)) == 0,
           "Allow * reaches another tenant");
    TAP_OK(authz(&w, NULL, "s3:GetObject", "b-bkt", "open/x", &w.b, deny, 0, 0, msg, sizeof(msg)) ==
               0,
           "anonymous via Principal *");
    TAP_OK(authz(&w, NULL, "s3:GetObject", "b-bkt", "secret/x", &w.b, deny, 0, 0, msg,
                 sizeof(msg)) == -EACCES,
           "anonymous: Deny wins");
    TAP_OK(authz(&w, NULL, "s3:PutObject", "b-bkt", "open/x", &w.b, deny, 0, 0, msg, sizeof(msg)) ==
               0,
           "anonymous write where a policy grants it");
    TAP_OK(authz(&w, NULL, "s3:ListBucket", "b-bkt", "", &w.b, deny, 0, 0, msg, sizeof(msg)) ==
               -EACCES,
           "object ARNs do not grant bucket actions");

    char canon[512];
    snprintf(canon, sizeof(canon),
             "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"CanonicalUser\":\"%s\"},"
             "\"NotAction\":[\"s3:Delete*\",\"s3:Put*\"],\"Resource\":\"arn:aws-cn:s3:::b-*\"}]}",
             w.reader_a.user_id);
    TAP_OK(iam_policy_validate(gz_slice_cstr(canon), GZ_SLICE_LIT("b-bkt"), msg, sizeof(msg)) == 0,
           "canonical-id policy valid %s", msg);
    TAP_OK(authz(&w, &w.reader_a, "s3:GetObject", "b-bkt", "any/key", &w.b, canon, 0, 0, msg,
                 sizeof(msg)) == 0 &&
               authz(&w, &w.reader_a, "s3:ListBucket", "b-bkt", "", &w.b, canon, 0, 0, msg,
                     sizeof(msg)) == 0,
           "canonical id + NotAction + '*' spanning '/'");
    TAP_OK(authz(&w, &w.member_a, "s3:GetObject", "b-bkt", "k", &w.b, canon, 0, 0, msg,
                 sizeof(msg)) == -EACCES,
           "another canonical id is not granted");
    TAP_OK(authz(&w, &w.member_b, "s3:GetObject", "b-bkt", "k", &w.b, one, 0, 0, msg,
                 sizeof(msg)) == 0,
           "a policy naming others leaves the owner's roles alone");
    const char *headb = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":"
                        "\"s3:ListBucket\",\"Resource\":\"arn:aws:s3:::b-bkt\"}]}";
    TAP_OK(authz(&w, NULL, "s3:HeadBucket", "b-bkt", "", &w.b, headb, 0, 0, msg, sizeof(msg)) == 0,
           "HeadBucket is s3:ListBucket to policies");
    iam_close(w.iam);
}

static void t_acls(void)
{
    struct world w;
    world_init(&w);
    char msg[512];
    enum iam_acl PR = IAM_ACL_PUBLIC_READ, AR = IAM_ACL_AUTHENTICATED_READ, PV = IAM_ACL_PRIVATE;
    TAP_OK(authz(&w, NULL, "s3:GetObject", "b-bkt", "k", &w.b, NULL, PR, PV, msg, sizeof(msg)) == 0,
           "public-read bucket: anonymous GetObject");
    TAP_OK(authz(&w, NULL, "s3:ListBucket", "b-bkt", "", &w.b, NULL, PR, PV, msg, sizeof(msg)) == 0,
           "public-read bucket: anonymous ListBucket");
    TAP_OK(authz(&w, NULL, "s3:PutObject", "b-bkt", "k", &w.b, NULL, PR, PV, msg, sizeof(msg)) ==
                   -EACCES &&
               authz(&w, NULL, "s3:DeleteObject", "b-bkt", "k", &w.b, NULL, PR, PV, msg,
                     sizeof(msg)) == -EACCES &&
               authz(&w, NULL, "s3:GetBucketAcl", "b-bkt", "", &w.b, NULL, PR, PV, msg,
                     sizeof(msg)) == -EACCES,
           "public-read bucket: no anonymous writes or ACL reads");
    TAP_OK(authz(&w, NULL, "s3:GetObject", "b-bkt", "k", &w.b, NULL, PV, PR, msg, sizeof(msg)) == 0,
           "public-read object in a private bucket");
    TAP_OK(authz(&w, NULL, "s3:ListBucket", "b-bkt", "", &w.b, NULL, PV, PR, msg, sizeof(msg)) ==
               -EACCES,
           "... but no listing");
    TAP_OK(authz(&w, &w.member_a, "s3:GetObject", "b-bkt", "k", &w.b, NULL, PR, PV, msg,
                 sizeof(msg)) == 0,
           "another tenant reads a public-read bucket");
    TAP_OK(authz(&w, NULL, "s3:GetObject", "b-bkt", "k", &w.b, NULL, AR, PV, msg, sizeof(msg)) ==
               -EACCES,
           "authenticated-read: anonymous denied");
    TAP_OK(authz(&w, &w.reader_a, "s3:GetObject", "b-bkt", "k", &w.b, NULL, AR, PV, msg,
                 sizeof(msg)) == 0 &&
               authz(&w, &w.reader_a, "s3:GetObject", "b-bkt", "k", &w.b, NULL, PV, AR, msg,
                     sizeof(msg)) == 0,
           "authenticated-read: any authenticated principal reads");
    TAP_OK(authz(&w, &w.member_a, "s3:PutObject", "b-bkt", "k", &w.b, NULL, AR, AR, msg,
                 sizeof(msg)) == -EACCES,
           "authenticated-read: no writes");
    TAP_OK(authz(&w, &w.sup, "s3:GetObject", "b-bkt", "k", &w.b, NULL, PR, PR, msg, sizeof(msg)) ==
               -EACCES,
           "supervisor never reads objects, even public ones");
    TAP_OK(authz(&w, NULL, "s3:GetObject", "b-bkt", "k", &w.b, NULL, PV, PV, msg, sizeof(msg)) ==
                   -EACCES &&
               strstr(msg, "b-bkt"),
           "private stays private: %s", msg);
    iam_close(w.iam);
}

static void t_policy_validate(void)
{
    struct {
        const char *doc, *want;
    } bad[] = {
        {"", "invalid Json"},
        {"not json", "invalid Json"},
        {"[1,2]", "invalid Json"},
        {"{\"Version\":\"2012-10-17\"}", "Missing required field Statement"},
        {"{\"Statement\":[]}", "Statement is empty"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\","
         "\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "Missing required field Principal"},
        {"{\"Statement\":[{\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
         "\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "Missing required field Effect"},
        {"{\"Statement\":[{\"Effect\":\"Permit\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
         "\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "Invalid effect"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\","
         "\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "Missing required field Action"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObjekt\","
         "\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "Policy has invalid action"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ec2:*\","
         "\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "Policy has invalid action"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:Foo*\","
         "\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "Policy has invalid action"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:HeadBucket\","
         "\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "Policy has invalid action"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":[],"
         "\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "Policy has invalid action"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\"}]}",
         "Missing required field Resource"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
         "\"Resource\":\"arn:aws:s3:::other/*\"}]}",
         "Policy has invalid resource"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
         "\"Resource\":\"bkt/*\"}]}",
         "Policy has invalid resource"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
         "\"Resource\":\"*\"}]}",
         "Policy has invalid resource"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"bob\"},"
         "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "Invalid principal"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"x\"},"
         "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "Invalid principal"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"bob\","
         "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "Invalid principal"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
         "\"Resource\":\"arn:aws:s3:::bkt/*\",\"Condition\":{\"Bool\":"
         "{\"aws:SecureTransport\":\"false\"}}}]}",
         "unsupported field Condition"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
         "\"Resource\":\"arn:aws:s3:::bkt/*\",\"Colour\":\"red\"}]}",
         "Unknown field Colour"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Effect\":\"Deny\",\"Principal\":\"*\","
         "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "duplicate"},
        {"{\"Version\":\"2020-01-01\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\","
         "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "version"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
         "\"NotAction\":\"s3:PutObject\",\"Resource\":\"arn:aws:s3:::bkt/*\"}]}",
         "both"},
        {"{\"Statement\":[\"x\"]}", "must be an object"},
    };
    char msg[256];
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad); i++) {
        msg[0] = '\0';
        int rc =
            iam_policy_validate(gz_slice_cstr(bad[i].doc), GZ_SLICE_LIT("bkt"), msg, sizeof(msg));
        TAP_OK(rc == -EINVAL && strstr(msg, bad[i].want), "malformed %zu: %s", i, msg);
    }
    /* size limit */
    struct gz_buf b;
    gz_buf_init(&b, 64 * 1024);
    gz_buf_append_cstr(&b, "{\"Id\":\"");
    for (int i = 0; i < IAM_MAX_POLICY_BYTES; i++)
        gz_buf_append(&b, "x", 1);
    gz_buf_append_cstr(&b, "\",\"Statement\":[]}");
    TAP_OK(iam_policy_validate(gz_buf_slice(&b), GZ_SLICE_LIT("bkt"), msg, sizeof(msg)) ==
                   -EINVAL &&
               strstr(msg, "size"),
           "too large: %s", msg);
    gz_buf_free(&b);
    const char *good[] = {
        "{\"Version\":\"2008-10-17\",\"Id\":\"p1\",\"Statement\":{\"Effect\":\"Deny\","
        "\"Principal\":{\"AWS\":[\"*\"]},\"NotAction\":\"s3:Get*\","
        "\"NotResource\":\"arn:aws:s3:::bkt/public/*\"}}",
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"*\","
        "\"Resource\":[\"arn:aws:s3:::bkt\",\"arn:aws:s3:::bkt/*\"]}]}",
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"S3:getobject\","
        "\"Resource\":\"arn:aws:s3:::b?t/*\"}]}",
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(good); i++) {
        msg[0] = '\0';
        TAP_OK(iam_policy_validate(gz_slice_cstr(good[i]), GZ_SLICE_LIT("bkt"), msg, sizeof(msg)) ==
                   0,
               "valid %zu %s", i, msg);
    }
}

/* ---- quotas reach the store, which is the copy that counts ---- */

static void t_store_quota(void)
{
    fresh_dir();
    struct store *st = NULL;
    struct store_config scfg = {.data_dir = tmpdir, .sync = 0};
    TAP_OK(store_open(&scfg, &st) == 0, "store open");
    struct iam_config cfg = {
        .data_dir = tmpdir, .root_access = ROOT_AK, .root_secret = ROOT_SK, .store = st};
    struct iam *iam = NULL;
    TAP_OK(iam_open(&cfg, &iam) == 0, "iam open with a store");
    struct iam_tenant in = {.name = "acme", .uscc = USCC_A, .quota = {1 << 20, 100}}, t, got;
    char msg[256] = "";
    TAP_OK(iam_tenant_create(iam, &in, &t, msg, sizeof(msg)) == 0, "create %s", msg);
    struct store_quota q;
    TAP_OK(store_owner_quota_get(st, t.id, &q) == 0 && q.max_bytes == 1 << 20 &&
               q.max_objects == 100,
           "creation forwards the quota under the tenant id");
    TAP_OK(iam_tenant_set_quota(iam, "acme", &(struct iam_quota){-1, 7}) == 0 &&
               store_owner_quota_get(st, t.id, &q) == 0 && q.max_bytes == -1 && q.max_objects == 7,
           "set_quota forwards");
    struct store_quota direct = {12345, 6};
    store_owner_quota_set(st, t.id, &direct);
    TAP_OK(iam_tenant_get(iam, "acme", &got) == 0 && got.quota.max_bytes == 12345 &&
               got.quota.max_objects == 6,
           "get reports the store's (enforced) quota");
    iam_close(iam);
    store_close(st);
}

/* ---- threads: lookups race changes ---- */

struct race {
    struct iam *iam;
    const char *ak;
    _Atomic int bad;
    _Atomic bool stop;
};

static void *race_lookup(void *arg)
{
    struct race *r = arg;
    struct iam_principal p;
    while (!r->stop) {
        int rc = iam_principal_lookup(r->iam, gz_slice_cstr(r->ak), &p);
        if (rc == 0 && strcmp(p.display_name, "alice") != 0)
            r->bad++;
        if (iam_principal_lookup(r->iam, GZ_SLICE_LIT(ROOT_AK), &p) != 0)
            r->bad++;
    }
    return NULL;
}

static void t_threads(void)
{
    fresh_dir();
    struct iam *iam = open_iam(ROOT_AK, ROOT_SK);
    mk_tenant(iam, "acme", USCC_A);
    char msg[256], sk[IAM_MAX_SECRET + 1];
    struct iam_key k;
    iam_user_create(iam, "acme", "alice", IAM_ROLE_TENANT_MEMBER, NULL, msg, sizeof(msg));
    iam_key_create(iam, "acme/alice", "RACEKEY", "racesecret", &k, sk, msg, sizeof(msg));
    struct race r = {.iam = iam, .ak = "RACEKEY"};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, race_lookup, &r);
    int ok = 0;
    for (int i = 0; i < 100; i++) {
        char ak[32];
        snprintf(ak, sizeof(ak), "KEY%03d", i);
        ok += iam_key_create(iam, "acme/alice", ak, NULL, NULL, sk, msg, sizeof(msg)) == 0;
        ok += iam_key_set_enabled(iam, "RACEKEY", i % 2) == 0;
    }
    r.stop = true;
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    TAP_OK(ok == 200 && r.bad == 0, "concurrent lookups during 200 changes (%d ok, %d bad)", ok,
           r.bad);
    iam_close(iam);
}

int main(void)
{
    gz_log_set_level(GZ_LOG_ERROR);
    TAP_RUN(t_uscc);
    TAP_RUN(t_names);
    TAP_RUN(t_glob);
    TAP_RUN(t_open);
    TAP_RUN(t_root_stability);
    TAP_RUN(t_master_key_checks);
    TAP_RUN(t_tenants);
    TAP_RUN(t_users);
    TAP_RUN(t_keys);
    TAP_RUN(t_secrets_at_rest);
    TAP_RUN(t_authz_matrix);
    TAP_RUN(t_policies);
    TAP_RUN(t_acls);
    TAP_RUN(t_policy_validate);
    TAP_RUN(t_store_quota);
    TAP_RUN(t_threads);
    if (tmpdir[0])
        rm_rf(tmpdir);
    return tap_done();
}
