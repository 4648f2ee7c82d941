/* edge-sync: the session's I/O (session.h) on the MQTT core (daemon/mqtt.h), for edge-sync and
 * for the nodes of bench/hollow_fleet. */
#ifndef FERRY_EDGE_SESSION_MQTT_H
#define FERRY_EDGE_SESSION_MQTT_H

#include "mqtt.h"
#include "session.h"

/* I/O through *client: QoS 1 publishes with the signature as the user property "sig", subscribes
 * and unsubscribes; FERRY_EIO while *client is NULL (not created yet, or destroyed). client must
 * outlive the session. */
ferry_session_io ferry_session_mqtt_io(ferry_mqtt *const *client);

#endif
