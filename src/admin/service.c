/*
 * service.c - the admin service and its worker thread. Admin calls write SQLite (iam) and
 * fsync (store quotas, ownership), so they run here rather than on the http loop thread; one
 * worker is plenty for an operator API and keeps calls in arrival order.
 */
#include <errno.h>
#include <stdio.h>

#include "admin_int.h"

static void *worker_main(void *arg)
{
    struct admin_service *svc = arg;
    pthread_mutex_lock(&svc->mu);
    for (;;) {
        while (svc->head == NULL && !svc->stopping)
            pthread_cond_wait(&svc->cv, &svc->mu);
        struct admin_call *c = svc->head;
        if (c == NULL)
            break; /* stopping and drained */
        svc->head = c->next;
        if (svc->head == NULL)
            svc->tail = NULL;
        pthread_mutex_unlock(&svc->mu);
        admin__call_execute(c);
        pthread_mutex_lock(&svc->mu);
    }
    pthread_mutex_unlock(&svc->mu);
    return NULL;
}

void admin__queue_push(struct admin_service *svc, struct admin_call *c)
{
    c->next = NULL;
    pthread_mutex_lock(&svc->mu);
    if (svc->tail)
        svc->tail->next = c;
    else
        svc->head = c;
    svc->tail = c;
    pthread_cond_signal(&svc->cv);
    pthread_mutex_unlock(&svc->mu);
}

int admin_service_create(const struct admin_service_config *cfg, struct admin_service **out)
{
    *out = NULL;
    if (cfg->iam == NULL || cfg->store == NULL)
        return -EINVAL;
    struct admin_service *svc = gz_calloc(1, sizeof(*svc));
    svc->iam = cfg->iam;
    svc->store = cfg->store;
    svc->audit = cfg->audit;
    svc->audit_dir = cfg->audit_dir ? gz_strdup(cfg->audit_dir) : NULL;
    svc->data_dir = cfg->data_dir ? gz_strdup(cfg->data_dir) : NULL;
    svc->jobs = cfg->jobs;
    svc->registry = cfg->registry;
    snprintf(svc->region, sizeof(svc->region), "%s",
             cfg->region && *cfg->region ? cfg->region : "us-east-1");
    pthread_mutex_init(&svc->mu, NULL);
    pthread_cond_init(&svc->cv, NULL);
    int rc = pthread_create(&svc->worker, NULL, worker_main, svc);
    if (rc != 0) {
        admin_service_destroy(svc);
        return -rc;
    }
    svc->worker_started = true;
    *out = svc;
    return 0;
}

void admin_service_destroy(struct admin_service *svc)
{
    if (svc == NULL)
        return;
    if (svc->worker_started) {
        pthread_mutex_lock(&svc->mu);
        svc->stopping = true;
        pthread_cond_signal(&svc->cv);
        pthread_mutex_unlock(&svc->mu);
        pthread_join(svc->worker, NULL);
    }
    pthread_cond_destroy(&svc->cv);
    pthread_mutex_destroy(&svc->mu);
    gz_free(svc->audit_dir);
    gz_free(svc->data_dir);
    gz_free(svc);
}
