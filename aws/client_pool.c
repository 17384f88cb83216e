/*
 * client_pool.c — Connection pool: a mutex-protected stack of curl easy
 * handles (each keeps its keep-alive connection). get never fails for lack
 * of handles (a new one is made; NULL only when curl cannot), put keeps at
 * most POOL_MAX_IDLE idle handles. Lock: c->lock, held only while the stack
 * changes. (contract: client.h; shared pieces: client_priv.h)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "aws/client_priv.h"

/* ---- pool ----------------------------------------------------------------- */

CURL *awsc_pool_get(struct aws_client *c)
{
    CURL *h = NULL;

    pthread_mutex_lock(&c->lock);
    if (c->npool)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->lock);
    return h ? h : curl_easy_init();
}

void awsc_pool_put(struct aws_client *c, CURL *h)
{
    pthread_mutex_lock(&c->lock);
    if (c->npool < POOL_MAX_IDLE) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (h)
        curl_easy_cleanup(h);
}
