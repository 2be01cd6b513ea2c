/*
 * iam.c - the principal-lookup function. Today it knows the root credential only; tenants,
 * users and keys (issue 3) will be looked up here too, so the s3 layer never changes.
 */
#include <errno.h>
#include <stdio.h>

#include "../util/hash.h"
#include "iam.h"

struct iam {
    struct iam_principal root;
};

int iam_create(const char *root_access, const char *root_secret, struct iam **out)
{
    size_t alen = strlen(root_access), slen = strlen(root_secret);
    if (alen == 0 || alen > IAM_MAX_ACCESS_KEY || slen == 0 || slen > IAM_MAX_SECRET)
        return -EINVAL;
    struct iam *iam = gz_calloc(1, sizeof(*iam));
    memcpy(iam->root.access_key, root_access, alen + 1);
    memcpy(iam->root.secret_key, root_secret, slen + 1);
    /* The canonical id is derived from the access key: stable for as long as the credential
     * is, which the data folder keeps. */
    uint8_t digest[32];
    gz_sha256(root_access, alen, digest);
    gz_hex_encode(iam->root.user_id, digest, 32);
    snprintf(iam->root.display_name, sizeof(iam->root.display_name), "root");
    iam->root.is_root = true;
    *out = iam;
    return 0;
}

void iam_destroy(struct iam *iam)
{
    if (iam == NULL)
        return;
    /* The secret should not linger in freed memory. */
    explicit_bzero(&iam->root, sizeof(iam->root));
    gz_free(iam);
}

int iam_principal_lookup(struct iam *iam, struct gz_slice access_key, struct iam_principal *out)
{
    if (!gz_slice_eq_cstr(access_key, iam->root.access_key))
        return -ENOENT;
    *out = iam->root;
    return 0;
}
