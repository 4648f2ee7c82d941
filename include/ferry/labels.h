/* Ferry names and labels: the DNS-label rule for the names of apps, nodes, namespaces and config
 * objects, and Kubernetes label maps. */
#ifndef FERRY_LABELS_H
#define FERRY_LABELS_H

#include <jansson.h>
#include <stdbool.h>

#include "ferry/common.h"

/* true when name is a DNS label: 1-63 chars of [a-z0-9-], starting and ending alphanumeric. */
bool ferry_name_valid(const char *name);

/* Validate a label map (Kubernetes rules: key = optional DNS-subdomain prefix + '/' + name of at
 * most 63 chars [A-Za-z0-9] with [-_.] inside; value empty or same form). field is the path
 * printed in errors ("labels", "selector.matchLabels"). FERRY_OK or FERRY_EINVAL with *d filled. */
ferry_err ferry_labels_validate(const json_t *labels, const char *field, ferry_detail *d);

#endif
