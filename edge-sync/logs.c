/* edge-sync logs: reading a container's log for the bridge (logs.h). */
#include "logs.h"

#include <stdio.h>
#include <string.h>

#include "engine_wire.h"
#include "ferry/proto.h"
#include "pod.h"

/* The id of the container of service in the app's pod on this node: replica 0's service
 * container, else its init container. */
static ferry_err find_container(ferry_engine *engine, const json_t *req, char **id, char *why,
                                size_t whylen) {
    char l_node[96], l_ns[96], l_app[96], l_service[96];
    const char *labels[] = {FERRY_LBL_MANAGED "=1", l_node, l_ns, l_app, l_service, NULL};
    ferry_container *cs = NULL;
    size_t n = 0;
    const char *service = json_string_value(json_object_get(req, "service"));
    snprintf(l_node, sizeof(l_node), FERRY_LBL_NODE "=%s",
             json_string_value(json_object_get(req, "node")));
    snprintf(l_ns, sizeof(l_ns), FERRY_LBL_NS "=%s", json_string_value(json_object_get(req, "ns")));
    snprintf(l_app, sizeof(l_app), FERRY_LBL_APP "=%s",
             json_string_value(json_object_get(req, "app")));
    snprintf(l_service, sizeof(l_service), FERRY_LBL_SERVICE "=%s", service);
    *id = NULL;
    ferry_err err = ferry_engine_list(engine, labels, &cs, &n);
    if (err != FERRY_OK) {
        snprintf(why, whylen, "the engine could not list containers: %s", ferry_strerror(err));
        return err;
    }
    const ferry_container *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *role = json_string_value(json_object_get(cs[i].labels, FERRY_LBL_ROLE));
        const char *replica = json_string_value(json_object_get(cs[i].labels, FERRY_LBL_REPLICA));
        if (replica == NULL || strcmp(replica, "0") != 0)
            continue;
        if (best == NULL || (role != NULL && strcmp(role, "service") == 0))
            best = &cs[i];
    }
    if (best != NULL && (*id = ferry_strdup(best->id)) == NULL)
        err = FERRY_ENOMEM;
    else if (best == NULL) {
        snprintf(why, whylen, "no container of service '%s' of app '%s' on this node", service,
                 json_string_value(json_object_get(req, "app")));
        err = FERRY_ENOTFOUND;
    }
    ferry_containers_free(cs, n);
    return err;
}

/* The `logs` message answering req: ok with text (len bytes), or not with error. */
static json_t *answer_msg(const json_t *req, bool ok, const char *error, const char *text,
                          size_t len, bool truncated) {
    return json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:b, s:s, s:s#, s:b}", "type", FERRY_MSG_LOGS,
                     "ns", json_object_get(req, "ns"), "node", json_object_get(req, "node"), "id",
                     json_object_get(req, "id"), "app", json_object_get(req, "app"), "service",
                     json_object_get(req, "service"), "ok", ok, "error", error, "text", text, len,
                     "truncated", truncated);
}

json_t *ferry_edge_logs_refusal(const json_t *req, const char *why) {
    return answer_msg(req, false, why, "", 0, false);
}

json_t *ferry_edge_logs_answer(ferry_engine *engine, const json_t *req) {
    char why[512] = "";
    char *id = NULL, *text = NULL;
    bool truncated = false;
    json_int_t tail = json_integer_value(json_object_get(req, "tail"));
    json_int_t since = json_integer_value(json_object_get(req, "since"));
    ferry_err err = find_container(engine, req, &id, why, sizeof(why));
    if (err == FERRY_OK &&
        (err = ferry_engine_logs(engine, id, (int)tail, (long long)since, &text)) != FERRY_OK)
        snprintf(why, sizeof(why), "the engine could not read the log of container %.64s: %s", id,
                 ferry_strerror(err));
    size_t len = text != NULL
                     ? ferry_engine__clean_log(text, strlen(text), FERRY_LOGS_MAX_BYTES, &truncated)
                     : 0;
    json_t *answer =
        answer_msg(req, err == FERRY_OK, why, text != NULL ? text : "", len, truncated);
    ferry_free(id);
    ferry_free(text);
    return answer;
}
