/*
 * service.c - the s3_service: the read-only configuration every request handler shares
 * (store, iam, audit log, region, virtual-host domain). Created once by `gzy serve`.
 */
#include <errno.h>
#include <stdio.h>

#include "s3_obj_int.h"
#include "sse_int.h"

static int service_new(const struct s3_service_config *cfg, struct s3_service **out)
{
    const char *region = cfg->region && cfg->region[0] ? cfg->region : S3_DEFAULT_REGION;
    const char *domain = cfg->domain ? cfg->domain : "";
    struct s3_service *svc = gz_calloc(1, sizeof(*svc));
    if (strlen(region) >= sizeof(svc->region) || strlen(domain) >= sizeof(svc->domain)) {
        gz_free(svc);
        return -EINVAL;
    }
    svc->store = cfg->store;
    svc->iam = cfg->iam;
    svc->audit = cfg->audit;
    svc->sse_c_over_http = cfg->sse_c_over_http;
    pthread_mutex_init(&svc->hashers_mu, NULL);
    svc->attrs = s3__attr_cache_new();
    svc->sse = s3__sse_cache_new();
    snprintf(svc->region, sizeof(svc->region), "%s", region);
    /* A leading dot ("--domain .s3.example.com") means the same as none. */
    snprintf(svc->domain, sizeof(svc->domain), "%s", domain[0] == '.' ? domain + 1 : domain);
    *out = svc;
    return 0;
}

int s3_service_create(const struct s3_service_config *cfg, struct s3_service **out)
{
    if (cfg->store == NULL || cfg->iam == NULL)
        return -EINVAL;
    return service_new(cfg, out);
}

int s3_service_create_offline(struct store *store, struct s3_service **out)
{
    struct s3_service_config cfg = {.store = store};
    if (store == NULL)
        return -EINVAL;
    return service_new(&cfg, out);
}

void s3_service_destroy(struct s3_service *svc)
{
    if (svc == NULL)
        return;
    s3__attr_cache_free(svc->attrs);
    s3__sse_cache_free(svc->sse);
    gz_hashpool_destroy(svc->hashers); /* its pipes went with their requests */
    pthread_mutex_destroy(&svc->hashers_mu);
    gz_free(svc);
}

