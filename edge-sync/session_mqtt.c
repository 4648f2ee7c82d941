/* edge-sync: the session's I/O on the MQTT core (session_mqtt.h). */
#include "session_mqtt.h"

#include "ferry/sign.h"

static ferry_err io_publish(void *ctx, const char *topic, const void *payload, size_t len,
                            bool retain, const char *sig) {
    ferry_mqtt *const *client = ctx;
    ferry_mqtt_prop props[] = {{FERRY_SIGN_PROP, sig}};
    ferry_mqtt_pub pub = {.retain = retain, .props = props, .nprops = sig != NULL ? 1 : 0};
    return *client != NULL ? ferry_mqtt_publish(*client, topic, payload, len, &pub) : FERRY_EIO;
}

static ferry_err io_subscribe(void *ctx, const char *const *filters, size_t n, uint64_t tag) {
    ferry_mqtt *const *client = ctx;
    return *client != NULL ? ferry_mqtt_subscribe(*client, filters, n, tag) : FERRY_EIO;
}

static ferry_err io_unsubscribe(void *ctx, const char *const *filters, size_t n) {
    ferry_mqtt *const *client = ctx;
    return *client != NULL ? ferry_mqtt_unsubscribe(*client, filters, n) : FERRY_EIO;
}

ferry_session_io ferry_session_mqtt_io(ferry_mqtt *const *client) {
    return (ferry_session_io){io_publish, io_subscribe, io_unsubscribe, (void *)client};
}
