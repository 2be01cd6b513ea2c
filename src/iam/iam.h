/*
 * iam.h - identities. For now one root credential; the tenancy issue adds tenants, users,
 * keys and policies behind the same principal-lookup function, so the s3 handlers never
 * change when it does.
 */
#ifndef GZ_IAM_H
#define GZ_IAM_H

#include "../util/util.h"

#define IAM_MAX_ACCESS_KEY 128
#define IAM_MAX_SECRET 128

struct iam;

struct iam_principal {
    char access_key[IAM_MAX_ACCESS_KEY + 1];
    char secret_key[IAM_MAX_SECRET + 1];
    char user_id[65];           /* canonical id: 64 hex, stable */
    char display_name[64];
    bool is_root;
};

/* root_access/root_secret: the admin credential (required). */
int iam_create(const char *root_access, const char *root_secret, struct iam **out);
void iam_destroy(struct iam *iam);
/* The principal-lookup function: 0 and *out filled, or -ENOENT for an unknown key.
 * Thread-safe. */
int iam_principal_lookup(struct iam *iam, struct gz_slice access_key,
                         struct iam_principal *out);

#endif
