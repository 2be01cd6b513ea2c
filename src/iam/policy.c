/*
 * policy.c - bucket policies: the AWS JSON grammar for the subset that matters here.
 *
 *   {"Version": "2012-10-17", "Id": "...", "Statement": [ {
 *       "Sid": "...", "Effect": "Allow" | "Deny",
 *       "Principal": "*" | {"AWS": "*" | ARN | canonical id | [...]} | {"CanonicalUser": id},
 *       "Action" | "NotAction": "s3:GetObject" | "s3:Get*" | "*" | [...],
 *       "Resource" | "NotResource": "arn:aws:s3:::bucket" | "arn:aws:s3:::bucket/pre*" | [...]
 *   } ] }
 *
 * Principals: "arn:aws:iam::<tenant>:user/<name>" (a user), "arn:aws:iam::<tenant>:root"
 * (every user of the tenant), a user's 64-hex canonical id, or "*" (everyone, anonymous
 * included). The aws-cn partition is accepted too (arn:aws-cn:...), as Chinese tools write it.
 * Actions match case-insensitively with '*' and '?'; resources case-sensitively. Conditions
 * and NotPrincipal are refused rather than ignored: ignoring a condition would grant more than
 * the author meant.
 *
 * Validation and evaluation walk the same cJSON tree, so they cannot disagree about a
 * document; duplicate keys are refused so no reader can pick a different one of two.
 */
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "iam_int.h"

#define MSG_JSON "This policy contains invalid Json"
#define MSG_ACTION "Policy has invalid action"
#define MSG_RESOURCE "Policy has invalid resource"
#define MSG_PRINCIPAL "Invalid principal in policy"

/* ---- glob ---- */

static bool ch_eq(char a, char b, bool nocase)
{
    if (nocase && a >= 'A' && a <= 'Z')
        a = (char)(a - 'A' + 'a');
    if (nocase && b >= 'A' && b <= 'Z')
        b = (char)(b - 'A' + 'a');
    return a == b;
}

/* '*' any run, '?' any one byte; linear backtracking to the last '*'. */
bool iam__glob(struct gz_slice pat, struct gz_slice s, bool nocase)
{
    size_t p = 0, i = 0, star = SIZE_MAX, mark = 0;
    while (i < s.len) {
        if (p < pat.len && pat.ptr[p] == '*') {
            star = p++;
            mark = i;
        } else if (p < pat.len && (pat.ptr[p] == '?' || ch_eq(pat.ptr[p], s.ptr[i], nocase))) {
            p++;
            i++;
        } else if (star != SIZE_MAX) {
            p = star + 1;
            i = ++mark;
        } else {
            return false;
        }
    }
    while (p < pat.len && pat.ptr[p] == '*')
        p++;
    return p == pat.len;
}

/* ---- ARNs ---- */

/* The part after "arn:aws:<service>:::" or "arn:aws-cn:<service>::" + rest; NULL if absent. */
static const char *arn_rest(const char *s, const char *service, bool account)
{
    static const char *const partitions[] = {"arn:aws:", "arn:aws-cn:"};
    for (size_t i = 0; i < GZ_ARRAY_LEN(partitions); i++) {
        size_t n = strlen(partitions[i]), sn = strlen(service);
        if (strncmp(s, partitions[i], n) != 0 || strncmp(s + n, service, sn) != 0)
            continue;
        s += n + sn;
        return strncmp(s, account ? "::" : ":::", account ? 2 : 3) == 0 ? s + (account ? 2 : 3)
                                                                        : NULL;
    }
    return NULL;
}

/* An IAM principal ARN: tenant (name or id) and user ("" for ":root"). */
static bool arn_principal(const char *s, struct gz_slice *tenant, struct gz_slice *user)
{
    const char *rest = arn_rest(s, "iam", true);
    const char *colon = rest ? strchr(rest, ':') : NULL;
    if (colon == NULL || colon == rest)
        return false;
    *tenant = gz_slice(rest, (size_t)(colon - rest));
    if (strcmp(colon + 1, "root") == 0) {
        *user = GZ_SLICE_LIT("");
        return true;
    }
    if (strncmp(colon + 1, "user/", 5) != 0 || colon[6] == '\0' || strchr(colon + 6, '/'))
        return false;
    *user = gz_slice_cstr(colon + 6);
    return true;
}

/* ---- shared walking helpers ---- */

/* Calls fn for a string or each string of a non-empty array; false if the shape is wrong. */
static bool each_string(const cJSON *v, bool (*fn)(const char *s, void *ud), void *ud)
{
    if (cJSON_IsString(v))
        return fn(v->valuestring, ud);
    if (!cJSON_IsArray(v) || v->child == NULL)
        return false;
    for (const cJSON *c = v->child; c; c = c->next) {
        if (!cJSON_IsString(c) || !fn(c->valuestring, ud))
            return false;
    }
    return true;
}

static bool has_duplicate_key(const cJSON *obj, const char **dup)
{
    for (const cJSON *a = obj->child; a; a = a->next) {
        for (const cJSON *b = a->next; b; b = b->next) {
            if (a->string && b->string && strcmp(a->string, b->string) == 0) {
                *dup = a->string;
                return true;
            }
        }
    }
    return false;
}

/* ---- validation ---- */

static bool action_known(const char *name)
{
    return strcasecmp(name, "s3:HeadBucket") != 0 && iam__action_find(name) != NULL;
}

static bool valid_action(const char *s, void *ud)
{
    (void)ud;
    if (strcmp(s, "*") == 0)
        return true;
    if (strncasecmp(s, "s3:", 3) != 0 || s[3] == '\0')
        return false;
    bool wild = false;
    for (const char *p = s + 3; *p; p++) {
        if (*p == '*' || *p == '?')
            wild = true;
        else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return false;
    }
    if (!wild)
        return action_known(s);
    for (size_t i = 0; i < iam__action_count(); i++) {
        const char *name = iam__action_at(i)->name;
        if (action_known(name) && iam__glob(gz_slice_cstr(s), gz_slice_cstr(name), true))
            return true;
    }
    return false;
}

static bool valid_resource(const char *s, void *ud)
{
    const struct gz_slice *bucket = ud;
    const char *rest = arn_rest(s, "s3", false);
    if (rest == NULL || *rest == '\0' || *rest == '/')
        return false;
    const char *slash = strchr(rest, '/');
    struct gz_slice bpat = gz_slice(rest, slash ? (size_t)(slash - rest) : strlen(rest));
    return bucket->len == 0 || iam__glob(bpat, *bucket, false);
}

static bool valid_aws_principal(const char *s, void *ud)
{
    struct gz_slice t, u;
    (void)ud;
    return strcmp(s, "*") == 0 || iam__is_id(s) || arn_principal(s, &t, &u);
}

static bool valid_canonical(const char *s, void *ud)
{
    (void)ud;
    return iam__is_id(s);
}

static int check_principal(const cJSON *p, char *msg, size_t msgsz)
{
    if (cJSON_IsString(p) && strcmp(p->valuestring, "*") == 0)
        return 0;
    if (!cJSON_IsObject(p) || p->child == NULL)
        goto bad;
    for (const cJSON *c = p->child; c; c = c->next) {
        bool ok;
        if (strcmp(c->string, "AWS") == 0)
            ok = each_string(c, valid_aws_principal, NULL);
        else if (strcmp(c->string, "CanonicalUser") == 0)
            ok = each_string(c, valid_canonical, NULL);
        else
            ok = false;
        if (!ok)
            goto bad;
    }
    return 0;
bad:
    iam__msg(msg, msgsz, MSG_PRINCIPAL);
    return -EINVAL;
}

static int check_pair(const cJSON *st, const char *name, const char *not_name,
                      bool (*fn)(const char *, void *), void *ud, const char *bad, char *msg,
                      size_t msgsz)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, name);
    const cJSON *nv = cJSON_GetObjectItemCaseSensitive(st, not_name);
    if (v == NULL && nv == NULL) {
        iam__msg(msg, msgsz, "Missing required field %s", name);
        return -EINVAL;
    }
    if (v && nv) {
        iam__msg(msg, msgsz, "Statement may not contain both %s and %s", name, not_name);
        return -EINVAL;
    }
    if (!each_string(v ? v : nv, fn, ud)) {
        iam__msg(msg, msgsz, "%s", bad);
        return -EINVAL;
    }
    return 0;
}

static int check_statement_fields(const cJSON *st, char *msg, size_t msgsz)
{
    static const char *const known[] = {"Sid",       "Effect",   "Principal",  "Action",
                                        "NotAction", "Resource", "NotResource"};
    const char *dup;
    for (const cJSON *c = st->child; c; c = c->next) {
        bool ok = false;
        for (size_t i = 0; i < GZ_ARRAY_LEN(known) && !ok; i++)
            ok = strcmp(c->string, known[i]) == 0;
        if (ok)
            continue;
        if (strcmp(c->string, "Condition") == 0 || strcmp(c->string, "NotPrincipal") == 0)
            iam__msg(msg, msgsz,
                     "Policy has an unsupported field %s: this server does not "
                     "support conditions or NotPrincipal",
                     c->string);
        else
            iam__msg(msg, msgsz, "Unknown field %.64s", c->string);
        return -EINVAL;
    }
    /* Only after the names are known to be few: the duplicate scan is quadratic. */
    if (has_duplicate_key(st, &dup)) {
        iam__msg(msg, msgsz, "Policy has a duplicate field %s", dup);
        return -EINVAL;
    }
    return 0;
}

static int check_statement(const cJSON *st, struct gz_slice bucket, char *msg, size_t msgsz)
{
    if (!cJSON_IsObject(st)) {
        iam__msg(msg, msgsz, "Each policy statement must be an object");
        return -EINVAL;
    }
    int rc = check_statement_fields(st, msg, msgsz);
    if (rc < 0)
        return rc;
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(st, "Sid");
    if (sid && !cJSON_IsString(sid)) {
        iam__msg(msg, msgsz, "Statement IDs (SID) must be strings");
        return -EINVAL;
    }
    const cJSON *eff = cJSON_GetObjectItemCaseSensitive(st, "Effect");
    if (eff == NULL) {
        iam__msg(msg, msgsz, "Missing required field Effect");
        return -EINVAL;
    }
    if (!cJSON_IsString(eff) ||
        (strcmp(eff->valuestring, "Allow") != 0 && strcmp(eff->valuestring, "Deny") != 0)) {
        iam__msg(msg, msgsz, "Invalid effect: %.32s",
                 cJSON_IsString(eff) ? eff->valuestring : "(not a string)");
        return -EINVAL;
    }
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(st, "Principal");
    if (pr == NULL) {
        iam__msg(msg, msgsz, "Missing required field Principal");
        return -EINVAL;
    }
    if ((rc = check_principal(pr, msg, msgsz)) < 0)
        return rc;
    rc = check_pair(st, "Action", "NotAction", valid_action, NULL, MSG_ACTION, msg, msgsz);
    if (rc == 0)
        rc = check_pair(st, "Resource", "NotResource", valid_resource, &bucket, MSG_RESOURCE, msg,
                        msgsz);
    return rc;
}

static int check_top(const cJSON *doc, char *msg, size_t msgsz)
{
    const char *dup;
    for (const cJSON *c = doc->child; c; c = c->next) {
        if (strcmp(c->string, "Version") != 0 && strcmp(c->string, "Id") != 0 &&
            strcmp(c->string, "Statement") != 0) {
            iam__msg(msg, msgsz, "Unknown field %.64s", c->string);
            return -EINVAL;
        }
    }
    if (has_duplicate_key(doc, &dup)) {
        iam__msg(msg, msgsz, "Policy has a duplicate field %s", dup);
        return -EINVAL;
    }
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(doc, "Version");
    if (ver && (!cJSON_IsString(ver) || (strcmp(ver->valuestring, "2012-10-17") != 0 &&
                                         strcmp(ver->valuestring, "2008-10-17") != 0))) {
        iam__msg(msg, msgsz, "The policy must contain a valid version string");
        return -EINVAL;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "Id");
    if (id && !cJSON_IsString(id)) {
        iam__msg(msg, msgsz, "The policy Id must be a string");
        return -EINVAL;
    }
    return 0;
}

int iam_policy_validate(struct gz_slice policy, struct gz_slice bucket, char *msg, size_t msgsz)
{
    if (policy.len > IAM_MAX_POLICY_BYTES) {
        iam__msg(msg, msgsz, "Policy exceeds the maximum allowed document size of %d bytes",
                 IAM_MAX_POLICY_BYTES);
        return -EINVAL;
    }
    cJSON *doc = policy.len ? cJSON_ParseWithLength(policy.ptr, policy.len) : NULL;
    int rc = -EINVAL;
    if (doc == NULL || !cJSON_IsObject(doc)) {
        iam__msg(msg, msgsz, MSG_JSON);
        goto out;
    }
    if ((rc = check_top(doc, msg, msgsz)) < 0)
        goto out;
    const cJSON *sts = cJSON_GetObjectItemCaseSensitive(doc, "Statement");
    if (sts == NULL) {
        iam__msg(msg, msgsz, "Missing required field Statement");
        rc = -EINVAL;
        goto out;
    }
    if (cJSON_IsArray(sts) && sts->child == NULL) {
        iam__msg(msg, msgsz, "Could not parse the policy: Statement is empty!");
        rc = -EINVAL;
        goto out;
    }
    const cJSON *st = cJSON_IsArray(sts) ? sts->child : sts;
    for (; st && rc == 0; st = cJSON_IsArray(sts) ? st->next : NULL)
        rc = check_statement(st, bucket, msg, msgsz);
out:
    cJSON_Delete(doc);
    return rc;
}

/* ---- evaluation ---- */

struct eval_ctx {
    const struct iam_principal *who;
    const char *action;
    struct gz_slice resource; /* "bucket" or "bucket/key" */
    bool hit;
};

static bool match_aws_principal(const char *s, void *ud)
{
    struct eval_ctx *e = ud;
    const struct iam_principal *who = e->who;
    struct gz_slice tenant, user;
    if (strcmp(s, "*") == 0)
        e->hit = true;
    else if (who && iam__is_id(s))
        e->hit |= strcmp(s, who->user_id) == 0;
    else if (who && arn_principal(s, &tenant, &user))
        e->hit |= (gz_slice_eq_cstr(tenant, who->tenant_name) ||
                   gz_slice_eq_cstr(tenant, who->tenant_id)) &&
                  (user.len == 0 || gz_slice_eq_cstr(user, who->display_name));
    return true;
}

static bool match_canonical(const char *s, void *ud)
{
    struct eval_ctx *e = ud;
    e->hit |= e->who && strcmp(s, e->who->user_id) == 0;
    return true;
}

static bool principal_matches(const cJSON *p, struct eval_ctx *e)
{
    if (cJSON_IsString(p))
        return strcmp(p->valuestring, "*") == 0;
    e->hit = false;
    for (const cJSON *c = cJSON_IsObject(p) ? p->child : NULL; c; c = c->next) {
        if (strcmp(c->string, "AWS") == 0)
            each_string(c, match_aws_principal, e);
        else if (strcmp(c->string, "CanonicalUser") == 0)
            each_string(c, match_canonical, e);
    }
    return e->hit;
}

static bool match_action(const char *s, void *ud)
{
    struct eval_ctx *e = ud;
    e->hit |= iam__glob(gz_slice_cstr(s), gz_slice_cstr(e->action), true);
    return true;
}

/* The pattern (the ARN's part after ":::") against "bucket" or "bucket/key": as in AWS, a
 * '*' may span the '/', so "arn:aws:s3:::logs*" covers the bucket and all its objects. */
static bool match_resource(const char *s, void *ud)
{
    struct eval_ctx *e = ud;
    const char *rest = arn_rest(s, "s3", false);
    if (rest != NULL)
        e->hit |= iam__glob(gz_slice_cstr(rest), e->resource, false);
    return true;
}

/* Does the (Not)Action or (Not)Resource pair of st cover the request? */
static bool pair_matches(const cJSON *st, const char *name, const char *not_name,
                         bool (*fn)(const char *, void *), struct eval_ctx *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, name);
    const cJSON *nv = cJSON_GetObjectItemCaseSensitive(st, not_name);
    e->hit = false;
    if (v) {
        each_string(v, fn, e);
        return e->hit;
    }
    if (nv) {
        each_string(nv, fn, e);
        return !e->hit;
    }
    return false;
}

static bool statement_applies(const cJSON *st, struct eval_ctx *e)
{
    return principal_matches(cJSON_GetObjectItemCaseSensitive(st, "Principal"), e) &&
           pair_matches(st, "Action", "NotAction", match_action, e) &&
           pair_matches(st, "Resource", "NotResource", match_resource, e);
}

/* Builds "bucket[/key]" in buf (or a heap buffer when it does not fit); NULL on OOM. */
static char *resource_build(struct gz_slice bucket, struct gz_slice key, char *buf, size_t bufsz,
                            size_t *len)
{
    size_t n = bucket.len + (key.len ? 1 + key.len : 0);
    char *p = n < bufsz ? buf : gz_try_malloc(n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, bucket.ptr, bucket.len);
    if (key.len) {
        p[bucket.len] = '/';
        memcpy(p + bucket.len + 1, key.ptr, key.len);
    }
    p[n] = '\0';
    *len = n;
    return p;
}

static enum iam__effect policy_walk(const cJSON *doc, struct eval_ctx *e, char *sid, size_t sidsz)
{
    enum iam__effect out = IAM_EFFECT_NONE;
    const cJSON *sts = cJSON_GetObjectItemCaseSensitive(doc, "Statement");
    const cJSON *st = cJSON_IsArray(sts) ? sts->child : sts;
    for (; st; st = cJSON_IsArray(sts) ? st->next : NULL) {
        const cJSON *eff = cJSON_GetObjectItemCaseSensitive(st, "Effect");
        if (!cJSON_IsString(eff) || !statement_applies(st, e))
            continue;
        bool deny = strcmp(eff->valuestring, "Deny") == 0;
        if (!deny && strcmp(eff->valuestring, "Allow") != 0)
            continue;
        if (out == IAM_EFFECT_NONE || deny) {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(st, "Sid");
            if (sid && sidsz)
                iam__copy(sid, sidsz, cJSON_IsString(s) ? s->valuestring : "");
        }
        out = deny ? IAM_EFFECT_DENY : IAM_EFFECT_ALLOW;
        if (deny)
            break; /* an explicit Deny wins whatever else matches */
    }
    return out;
}

enum iam__effect iam__policy_eval(struct gz_slice policy, const struct iam_principal *who,
                                  const char *action, struct gz_slice bucket, struct gz_slice key,
                                  char *sid, size_t sidsz)
{
    struct eval_ctx e = {.who = who, .action = action};
    char buf[STORE_MAX_BUCKET + STORE_MAX_KEY + 2];
    size_t len = 0;
    if (policy.len == 0 || policy.len > IAM_MAX_POLICY_BYTES)
        return IAM_EFFECT_NONE;
    char *res = resource_build(bucket, key, buf, sizeof(buf), &len);
    if (res == NULL)
        return IAM_EFFECT_DENY; /* out of memory: fail closed */
    e.resource = gz_slice(res, len);
    cJSON *doc = cJSON_ParseWithLength(policy.ptr, policy.len);
    enum iam__effect out = doc ? policy_walk(doc, &e, sid, sidsz) : IAM_EFFECT_NONE;
    if (doc == NULL)
        log_warn("iam: a stored bucket policy of %.*s does not parse; it is ignored",
                 (int)bucket.len, bucket.ptr);
    cJSON_Delete(doc);
    if (res != buf)
        gz_free(res);
    return out;
}
