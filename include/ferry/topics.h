/* Ferry MQTT topics: building and parsing (see schema/PROTOCOL.md, "Topics"). */
#ifndef FERRY_TOPICS_H
#define FERRY_TOPICS_H

#include <stddef.h>

#include "ferry/common.h"

#define FERRY_NAME_MAX 64        /* DNS label (63) + NUL */
#define FERRY_LABEL_KEY_MAX 320  /* optional DNS prefix (253) + '/' + name (63) + NUL */
#define FERRY_LABEL_VALUE_MAX 64 /* 63 + NUL */
#define FERRY_TOPIC_MAX 1024

typedef enum {
    FERRY_TOPIC_APP_LABEL,    /* ferry/{ns}/labels/{key}={value}/apps/{app} */
    FERRY_TOPIC_APP_ALL,      /* ferry/{ns}/all/apps/{app} */
    FERRY_TOPIC_NODE_SYNC,    /* ferry/{ns}/nodes/{node}/sync */
    FERRY_TOPIC_NODE_HELLO,   /* ferry/{ns}/nodes/{node}/hello */
    FERRY_TOPIC_NODE_STATUS,  /* ferry/{ns}/nodes/{node}/status/{app} */
    FERRY_TOPIC_NODE_ONLINE,  /* ferry/{ns}/nodes/{node}/online */
    FERRY_TOPIC_NODE_SECRETS, /* ferry/{ns}/nodes/{node}/secrets/{app} */
    FERRY_TOPIC_NODE_STATS,   /* ferry/{ns}/nodes/{node}/stats (node.stats, ferry/stats.h) */
    FERRY_TOPIC_LOGS_REQUEST, /* ferry/{ns}/nodes/{node}/logs/request (logs.request) */
    FERRY_TOPIC_LOGS_REPLY    /* ferry/{ns}/nodes/{node}/logs/reply (logs) */
} ferry_topic_kind;

/* A topic, decoded. Which fields are used depends on kind; unused ones are empty strings. */
typedef struct {
    ferry_topic_kind kind;
    char ns[FERRY_NAME_MAX];
    char node[FERRY_NAME_MAX];
    char app[FERRY_NAME_MAX];
    char label_key[FERRY_LABEL_KEY_MAX];
    char label_value[FERRY_LABEL_VALUE_MAX];
} ferry_topic;

/* Build the topic string for t into buf. Label keys and values are percent-encoded where they hold
 * bytes outside [A-Za-z0-9._-] (so '/' in "example.com/zone" becomes %2F). FERRY_EINVAL for an
 * empty or over-long field, FERRY_ETOOBIG when buf is too small. */
ferry_err ferry_topic_build(const ferry_topic *t, char *buf, size_t buflen);

/* Parse an untrusted topic of len bytes (not NUL-terminated). FERRY_EFORMAT when it is not one of
 * the shapes above or a segment is empty, too long or badly encoded. */
ferry_err ferry_topic_parse(const char *topic, size_t len, ferry_topic *out);

/* Subscription filters. */
/* ferry/{ns}/labels/{key}={value}/apps/+ */
ferry_err ferry_topic_label_filter(const char *ns, const char *key, const char *value, char *buf,
                                   size_t buflen);
/* ferry/{ns}/all/apps/+ */
ferry_err ferry_topic_all_filter(const char *ns, char *buf, size_t buflen);
/* What the bridge subscribes to for every node's call statistics: ferry/+/nodes/+/stats. */
#define FERRY_TOPIC_STATS_FILTER "ferry/+/nodes/+/stats"
/* ... and for the answers to its logs requests: ferry/+/nodes/+/logs/reply. */
#define FERRY_TOPIC_LOGS_FILTER "ferry/+/nodes/+/logs/reply"

#endif
