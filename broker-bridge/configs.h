/* broker-bridge config objects: their writes (configs.c implements the ferry_bridge_config_*
 * writes of bridge.h), the start-up check of the key, and the wire documents of apps: what nodes
 * receive, the stored spec plus the "resolved" files and credentials of the configs it uses. */
#ifndef FERRY_BRIDGE_CONFIGS_H
#define FERRY_BRIDGE_CONFIGS_H

#include <jansson.h>
#include <stdbool.h>

#include "bridge.h"
#include "store.h"

/* Find the first sealed value in the store (*where: "config ns/name, field f", from ferry_malloc;
 * NULL when there is none) and, with decrypt, check that b->key decrypts it (FERRY_EINVAL when
 * not). For the start-up check of the key file; takes the lock itself. */
ferry_err bridge__probe_sealed(ferry_bridge *b, bool decrypt, char **where);

/* Turns stored apps into what nodes receive, reading the configs they reference in one
 * transaction; resolved entries are cached for the life of the resolver (one namespace). */
typedef struct {
    ferry_bridge *b;
    ferry_store_txn *t;
    const char *ns;
    json_t *configs;    /* cache: name -> {kind, version, files} */
    json_t *registries; /* cache: name -> {name, server, username, password} */
} bridge_resolver;

void bridge__resolver_init(bridge_resolver *r, ferry_bridge *b, ferry_store_txn *t, const char *ns);
void bridge__resolver_done(bridge_resolver *r);

/* The wire document of app: a copy of spec plus "resolved" (PROTOCOL.md, "Resolved configs"):
 * the files of every config its volumes name and the credentials of its registries; no
 * "resolved" when it references none. *wire is new. A reference to a missing config or one of
 * another kind is FERRY_EINVAL with e filled naming the field ("volumes[1].secret.name",
 * "registries[0]"); an unreadable config record or a failed decryption is FERRY_EFORMAT (logged;
 * e filled when not NULL). */
ferry_err bridge__wire_spec(bridge_resolver *r, const char *app, const json_t *spec, json_t **wire,
                            ferry_detail *e);

#endif
