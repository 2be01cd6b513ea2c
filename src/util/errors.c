/* errors.c - messages for negative errno and GZ_E* codes, and OpenSSL's. */
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

const char *gz_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case GZ_ENOBUCKET: return "no such bucket";
    case GZ_ENOKEY: return "no such key";
    case GZ_EBUCKETEXISTS: return "bucket already exists";
    case GZ_EBUCKETOWNED: return "bucket already owned by you";
    case GZ_EBUCKETNOTEMPTY: return "bucket not empty";
    case GZ_ENOUPLOAD: return "no such upload";
    case GZ_EINVALIDPART: return "invalid part";
    case GZ_ECORRUPT: return "stored data failed a check";
    case GZ_ECLOSED: return "closed";
    case GZ_ELIMIT: return "limit exceeded";
    case GZ_EPARSE: return "malformed input";
    case GZ_EQUOTA: return "quota exceeded";
    default: break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}

void gz_ssl_error_text(const char *what, char *out, size_t outsz)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    snprintf(out, outsz, "%s%s%s", what, *buf ? ": " : "", buf);
}
