/* ferryctl commands: what the API commands share (resources, requests with their errors, lists
 * of every page, JSON and YAML output). */
#ifndef FERRYCTL_COMMANDS_H
#define FERRYCTL_COMMANDS_H

#include <jansson.h>
#include <stdbool.h>

#include "cli.h"
#include "client.h"

/* Send a request to "/v1/namespaces/NS/COLL[/NAME[/SUB]]" (name and sub may be NULL; query,
 * escaped, may be NULL). Returns the exit code of ctl_request: CTL_EXIT_OK with *status and
 * *reply (new or NULL). */
int ctl_ns_request(ctl_client *c, const char *method, const char *ns, const char *coll,
                   const char *name, const char *sub, const char *query, const json_t *body,
                   long *status, json_t **reply);

/* Print "error: PREFIX: the API's message" for an answer that is not a success, and return
 * CTL_EXIT_ERROR. */
int ctl_api_fail(const char *prefix, long status, const json_t *reply);

/* Every item of a collection, all pages (chunk items a request): *items new. name: the API's
 * fuzzy name filter, selector: the node selector the API applies (NULL: none). */
int ctl_list_all(ctl_client *c, const char *ns, const char *coll, const char *name,
                 const char *selector, long chunk, json_t **items);

/* Print v as indented JSON or as YAML (fmt "json" or "yaml"). 0, or CTL_EXIT_ERROR. */
int ctl_print_value(const json_t *v, const char *fmt);

/* labels ({"k": "v"}) as "k=v,k2=v2" into buf ("<none>" when empty). */
void ctl_labels_text(const json_t *labels, char *buf, size_t len);

#endif
