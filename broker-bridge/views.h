/* broker-bridge views: the REST shapes of stored records, for the read side of the API (views.c)
 * and for the answers of writes. */
#ifndef FERRY_BRIDGE_VIEWS_H
#define FERRY_BRIDGE_VIEWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* REST views of checked records (new references; NULL on ENOMEM). app_view adds the deployment
 * state at now_ms (README.md, "Scheduled deployment"); node_view reads the node's online state and
 * GPUs in t; config_view shows secret values as their digest (NULL also for a sealed value that
 * is malformed: check records with bridge__config_record_ok first). */
json_t *bridge__app_view(const json_t *rec, int64_t now_ms);
json_t *bridge__node_view(ferry_store_txn *t, const json_t *rec);
json_t *bridge__config_view(const json_t *rec);

/* Whether node's last online state (as it reported it) says online; false when it never did. */
bool bridge__node_online(ferry_store_txn *t, const char *ns, const char *node);

/* The deploy.at of a spec in ms (false when the spec has none or it does not parse). */
bool bridge__deploy_at(const json_t *spec, int64_t *at_ms);

#endif
