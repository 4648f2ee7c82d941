/* broker-bridge: the cloud daemon. Serves the REST API, keeps apps and nodes in LMDB and publishes
 * their changes to the edge over MQTT (see README.md). This file is the wiring: options, the
 * libuv loop, the MQTT core (daemon/mqtt.h) and the bridge core (bridge.h), which never meet
 * except here. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api.h"
#include "bridge.h"
#include "daemon.h"
#include "ferry/secrets.h"
#include "ferry/sign.h"
#include "ferry/topics.h"
#include "mqtt.h"
#include "stats.h"
#include "tokens.h"

#define MAX_BUFFERED 100000 /* publishes Paho may hold while the broker is away */

/* Where the packages install the web console (CMake passes
 * ${CMAKE_INSTALL_FULL_DATADIR}/ferry/console). */
#ifndef FERRY_CONSOLE_DIR
#define FERRY_CONSOLE_DIR "/usr/share/ferry/console"
#endif

/* What the bridge subscribes to: every node's hello, status, online and stats messages. */
static const char *const sub_topics[] = {"ferry/+/nodes/+/hello", "ferry/+/nodes/+/status/+",
                                         "ferry/+/nodes/+/online", FERRY_TOPIC_STATS_FILTER,
                                         FERRY_TOPIC_LOGS_FILTER};
#define SUB_COUNT (sizeof(sub_topics) / sizeof(sub_topics[0]))

typedef struct {
    ferry_daemon d;
    ferry_mqtt *mqtt;
    ferry_bridge *bridge;
    ferry_api *api;
    bool up, resubscribe;
    uint64_t sub_tag;
} bridge_daemon;

/* ---- the MQTT core as the bridge sees it ---- */

/* A ferry_bridge_publish_fn: outbox messages are tracked (their PUBACK removes them). */
static ferry_err publish(void *ctx, const char *topic, const unsigned char *payload, size_t len,
                         const char *sig, const ferry_outbox_ref *ref) {
    bridge_daemon *bd = ctx;
    ferry_mqtt_prop props[] = {{FERRY_SIGN_PROP, sig}};
    /* An empty payload clears a retained message (bridge.h). */
    ferry_mqtt_pub pub = {.tracked = ref != NULL, .retain = len == 0, .props = props, .nprops = 1};
    if (ref != NULL) {
        pub.tag = ref->seq;
        pub.epoch = ref->gen;
    }
    return ferry_mqtt_publish(bd->mqtt, topic, payload, len, &pub);
}

static void subscribe(bridge_daemon *bd) {
    bd->resubscribe =
        ferry_mqtt_subscribe(bd->mqtt, sub_topics, SUB_COUNT, ++bd->sub_tag) != FERRY_OK;
}

static void on_up(void *ud) {
    bridge_daemon *bd = ud;
    bd->up = true;
    subscribe(bd);
    ferry_bridge_mqtt_up(bd->bridge);
}

static void on_down(void *ud, const char *cause) {
    bridge_daemon *bd = ud;
    (void)cause;
    bd->up = false;
    ferry_bridge_mqtt_down(bd->bridge);
}

static void on_subscribed(void *ud, uint64_t tag, bool ok) {
    bridge_daemon *bd = ud;
    if (tag != bd->sub_tag)
        return;
    if (ok) {
        LOG_INFO("mqtt: subscribed to hello, status, online and stats topics");
        return;
    }
    LOG_ERROR("mqtt: the broker refused a subscription (check its ACLs); retrying");
    bd->resubscribe = true;
}

static void on_messages(void *ud, const ferry_mqtt_msg *msgs, size_t n) {
    bridge_daemon *bd = ud;
    ferry_bridge_msg *batch = ferry_calloc(n, sizeof(*batch));
    if (batch == NULL) {
        LOG_ERROR("out of memory; %zu node messages dropped (nodes send them again)", n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        batch[i] = (ferry_bridge_msg){.topic = msgs[i].topic,
                                      .topic_len = msgs[i].topic_len,
                                      .payload = msgs[i].payload,
                                      .len = msgs[i].len,
                                      .received_ms = msgs[i].received_ms,
                                      .sig = ferry_mqtt_msg_prop(&msgs[i], FERRY_SIGN_PROP)};
    ferry_bridge_handle_messages(bd->bridge, batch, n);
    ferry_free(batch);
}

static void on_published(void *ud, const ferry_mqtt_done *done, size_t n) {
    bridge_daemon *bd = ud;
    ferry_outbox_ref *acked = ferry_calloc(n, sizeof(*acked));
    size_t nacked = 0;
    for (size_t i = 0; i < n; i++) {
        ferry_outbox_ref ref = {.seq = done[i].tag, .gen = done[i].epoch};
        if (!done[i].ok)
            ferry_bridge_outbox_failed(bd->bridge, &ref);
        else if (acked != NULL)
            acked[nacked++] = ref;
    }
    if (acked == NULL)
        LOG_ERROR("out of memory; %zu acknowledged messages stay until the next reconnect", n);
    ferry_bridge_outbox_acked(bd->bridge, acked, nacked);
    ferry_free(acked);
}

static void on_overflow(void *ud, size_t n) {
    (void)ud;
    LOG_WARN("mqtt: %zu node messages were dropped before the loop took them; nodes send "
             "statuses again on reconnect and hellos after 30 s",
             n);
}

/* ---- the API's start ---- */

/* Descriptors kept for everything but API connections (LMDB, MQTT, logs). */
#define FD_RESERVE 256

/* Raise the soft limit of open files to the hard one (every API connection holds a descriptor)
 * and return the limit in force. */
static rlim_t raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max != RLIM_INFINITY ? rl.rlim_max : 1048576;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            LOG_WARN("cannot raise the open-file limit from %llu to %llu: %s",
                     (unsigned long long)was, (unsigned long long)rl.rlim_cur, strerror(errno));
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

/* The connection limit: as asked (0: the default), within what the open-file limit allows. */
static unsigned connection_limit(int asked, rlim_t nofile) {
    unsigned fit = nofile > FD_RESERVE + 16 ? (unsigned)(nofile - FD_RESERVE) : 16;
    unsigned want = asked > 0 ? (unsigned)asked : FERRY_API_DEFAULT_CONNECTIONS;
    if (want > fit && asked > 0)
        LOG_WARN(
            "--api-max-connections %u is over what the open-file limit (%llu) allows; using %u",
            want, (unsigned long long)nofile, fit);
    return want < fit ? want : fit;
}

/* Every value of option name, in order (the option table keeps the last one only): argv scanned
 * again the way ferry_opts_parse did, which accepted it. At most max; max + 1 means more. */
static size_t option_values(int argc, char **argv, const ferry_opt *opts, const char *name,
                            const char **out, size_t max) {
    struct option longs[40];
    size_t n = 0, found = 0;
    int c, index;

    for (const ferry_opt *o = opts; o->name != NULL && n < 38; o++, n++)
        longs[n] = (struct option){
            o->name, o->kind == FERRY_OPT_FLAG ? no_argument : required_argument, NULL, (int)n + 1};
    longs[n] = (struct option){"help", no_argument, NULL, 'h'};
    longs[n + 1] = (struct option){NULL, 0, NULL, 0};
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longs, &index)) != -1) {
        if (c < 1 || (size_t)c > n || strcmp(opts[c - 1].name, name) != 0)
            continue;
        if (found < max)
            out[found] = optarg;
        found += found <= max ? 1 : 0;
    }
    return found;
}

/* "<data dir>.admin-token" beside the data folder (like its key file), into buf. */
static const char *admin_token_path(const char *data, char *buf, size_t len) {
    size_t n = strlen(data);
    while (n > 1 && data[n - 1] == '/')
        n--;
    snprintf(buf, len, "%.*s.admin-token", (int)n, data);
    return buf;
}

/* The first line of file path (a password file: owner-only), into buf; false (logged) if unfit. */
static bool read_secret_line(const char *path, char *buf, size_t len) {
    size_t n = 0;
    ferry_err err = ferry_secrets_read_file(path, "the broker password file", buf, len - 1, &n);
    if (err == FERRY_ENOTFOUND)
        LOG_ERROR("the broker password file %s does not exist", path);
    buf[err == FERRY_OK ? n : 0] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (err == FERRY_OK && buf[0] == '\0')
        LOG_ERROR("%s: empty", path);
    return err == FERRY_OK && buf[0] != '\0';
}

/* The whole of a small PEM file (a CA) as a new string (free()), or NULL (logged). */
static char *read_pem(const char *path) {
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t n = 0;
    if (f == NULL) {
        LOG_ERROR("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if ((buf = calloc(1, 65537)) != NULL)
        n = fread(buf, 1, 65536, f);
    if (buf != NULL && (n == 0 || !feof(f) || strstr(buf, "-----BEGIN CERTIFICATE-----") == NULL)) {
        LOG_ERROR("%s: not a PEM certificate of at most 64 KiB", path);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* The web console of --console-dir (dir; NULL when not given: the installed one, off when it is
 * not there; "": off) into *out (NULL when off). false (logged) when it cannot be served. */
static bool load_console(const char *dir, ferry_console **out) {
    const char *path = dir != NULL ? dir : FERRY_CONSOLE_DIR;
    *out = NULL;
    if (dir != NULL && dir[0] == '\0') {
        LOG_INFO("web console off (--console-dir '')");
        return true;
    }
    ferry_err err = ferry_console_load(path, out);
    if (err == FERRY_ENOTFOUND && dir == NULL) {
        LOG_INFO("web console off: %s does not exist (--console-dir DIR serves one)", path);
        return true;
    }
    if (err == FERRY_ENOTFOUND)
        LOG_ERROR("--console-dir %s: no such folder (give the console's folder, or '' to serve "
                  "none); exiting",
                  path);
    else if (err != FERRY_OK)
        LOG_ERROR("--console-dir %s: cannot serve the web console from it (%s, see above); "
                  "exiting",
                  path, ferry_strerror(err));
    else if (ferry_console_find(*out, "/index.html") == NULL)
        LOG_WARN("--console-dir %s has no index.html: / is not served", path);
    return err == FERRY_OK;
}

/* ---- the loop ---- */

static void on_wake(void *ud) {
    bridge_daemon *bd = ud;
    ferry_mqtt_drain(bd->mqtt);
    ferry_bridge_pump(bd->bridge);
}

static void on_tick(void *ud) {
    bridge_daemon *bd = ud;
    ferry_mqtt_tick(bd->mqtt);
    if (bd->up && bd->resubscribe)
        subscribe(bd);
    ferry_bridge_tick(bd->bridge);
}

/* The producers stop first (API thread, then Paho's threads), then the loop's handles. */
static void on_stop(void *ud) {
    bridge_daemon *bd = ud;
    ferry_api_stop(bd->api);
    bd->api = NULL;
    ferry_mqtt_destroy(bd->mqtt);
    bd->mqtt = NULL;
}

int main(int argc, char **argv) {
    static const char synopsis[] =
        "broker-bridge [--listen ADDR:PORT] (--tls-cert FILE --tls-key FILE | --plain-http)\n"
        "                     [--allow-origin ORIGIN]... [--admin-token-file FILE] [--mqtt URI]\n"
        "                     [--data DIR] [--key-file FILE] [--sign-key-file FILE]\n"
        "                     [--mqtt-ca FILE] [--mqtt-username USER --mqtt-password-file FILE]\n"
        "                     [--client-id ID] [--broker-admin none|mosquitto-dynsec]\n"
        "                     [--node-mqtt-uri URI] [--node-mqtt-ca FILE] [--insecure-nodes]\n"
        "                     [--stats-max-series N] [--console-dir DIR]\n"
        "                     [--log-level error|warn|info|debug]";
    const char *listen = "127.0.0.1:7080", *uri = "tcp://127.0.0.1:1883";
    const char *data = "/var/lib/ferry/bridge", *client_id = "ferry-bridge", *key_file = NULL;
    const char *admin_file = NULL, *tls_cert = NULL, *tls_key = NULL, *allow_origin = NULL;
    const char *origins[FERRY_API_MAX_ORIGINS];
    char admin_buf[4096];
    const char *sign_key_file = NULL, *mqtt_ca = NULL, *mqtt_user = NULL, *mqtt_pass_file = NULL;
    const char *broker_admin = "none", *node_uri = NULL, *node_ca_file = NULL;
    char mqtt_pass[512] = "";
    char *node_ca = NULL;
    const char *console_dir = NULL;
    ferry_console *console = NULL;
    bool plain_http = false, insecure_nodes = false;
    int threads = FERRY_API_DEFAULT_THREADS, max_conns = 0, timeout = FERRY_API_DEFAULT_TIMEOUT;
    int max_per_ip = 0, stats_max_series = STATS_DEFAULT_MAX_SERIES;
    const ferry_opt opts[] = {
        {"listen", FERRY_OPT_STRING, &listen, 0, 0, "ADDR:PORT",
         "REST API address (127.0.0.1:7080)"},
        {"tls-cert", FERRY_OPT_STRING, &tls_cert, 0, 0, "FILE",
         "PEM certificate (its chain may follow) to serve the API over HTTPS"},
        {"tls-key", FERRY_OPT_STRING, &tls_key, 0, 0, "FILE", "PEM private key of --tls-cert"},
        {"plain-http", FERRY_OPT_FLAG, &plain_http, 0, 0, NULL,
         "serve the API over plain HTTP (without TLS files the bridge refuses to start otherwise)"},
        {"allow-origin", FERRY_OPT_STRING, &allow_origin, 0, 0, "ORIGIN",
         "another origin (scheme://host[:port]) browsers may send requests from; repeatable or "
         "comma-separated (none: only the API's own)"},
        {"admin-token-file", FERRY_OPT_STRING, &admin_file, 0, 0, "FILE",
         "the admin token (DIR.admin-token beside the data directory; created mode 0600 at first "
         "start)"},
        {"api-threads", FERRY_OPT_INT, &threads, 1, 64, "N", "threads serving the API (4)"},
        {"api-max-connections", FERRY_OPT_INT, &max_conns, 16, 1000000, "N",
         "API connections open at once (4096, within the open-file limit)"},
        {"api-timeout", FERRY_OPT_INT, &timeout, 1, 3600, "SECONDS",
         "idle API connections are closed after this (10)"},
        {"api-max-per-ip", FERRY_OPT_INT, &max_per_ip, 0, 1000000, "N",
         "API connections one address may hold at once (0: no limit, the default: behind a "
         "proxy every client is one address)"},
        {"mqtt", FERRY_OPT_STRING, &uri, 0, 0, "URI", "broker URI (tcp://127.0.0.1:1883)"},
        {"data", FERRY_OPT_STRING, &data, 0, 0, "DIR", "LMDB directory (/var/lib/ferry/bridge)"},
        {"key-file", FERRY_OPT_STRING, &key_file, 0, 0, "FILE",
         "key that encrypts secret config values (DIR.key beside the data directory; created "
         "mode 0600 at first start)"},
        {"sign-key-file", FERRY_OPT_STRING, &sign_key_file, 0, 0, "FILE",
         "the bridge's Ed25519 signing key, which nodes pin (DIR.sign beside the data directory; "
         "created mode 0600 at first start)"},
        {"mqtt-ca", FERRY_OPT_STRING, &mqtt_ca, 0, 0, "FILE",
         "CA that signs the broker's certificate (for ssl:// or mqtts:// URIs)"},
        {"mqtt-username", FERRY_OPT_STRING, &mqtt_user, 0, 0, "USER", "the bridge's broker user"},
        {"mqtt-password-file", FERRY_OPT_STRING, &mqtt_pass_file, 0, 0, "FILE",
         "its password, the first line of an owner-only file"},
        {"client-id", FERRY_OPT_STRING, &client_id, 0, 0, "ID", "MQTT client id (ferry-bridge)"},
        {"broker-admin", FERRY_OPT_STRING, &broker_admin, 0, 0, "KIND",
         "how the bridge gives each enrolled node its own broker credential and topic rights: "
         "mosquitto-dynsec (the dynamic-security plugin; the bridge's user must be allowed "
         "$CONTROL/dynamic-security/v1), or none (default: secure the broker otherwise)"},
        {"node-mqtt-uri", FERRY_OPT_STRING, &node_uri, 0, 0, "URI",
         "the broker URI as nodes reach it, told them at enrollment (--mqtt)"},
        {"node-mqtt-ca", FERRY_OPT_STRING, &node_ca_file, 0, 0, "FILE",
         "the CA nodes pin for the broker, told them at enrollment (--mqtt-ca)"},
        {"insecure-nodes", FERRY_OPT_FLAG, &insecure_nodes, 0, 0, NULL,
         "also believe unsigned messages from nodes that never enrolled (edge-sync --insecure); "
         "for tests and migrations only"},
        {"stats-max-series", FERRY_OPT_INT, &stats_max_series, 1, 1000000, "N",
         "most series (app, node, service, function) of call statistics kept in memory, about "
         "38 KiB each (4096)"},
        {"console-dir", FERRY_OPT_STRING, &console_dir, 0, 0, "DIR",
         "the web console's files, served at / (" FERRY_CONSOLE_DIR " when it exists; '': none)"},
        {"log-level", FERRY_OPT_LOG_LEVEL, NULL, 0, 0, "LEVEL",
         "error|warn|info|debug (info, or FERRY_LOG_LEVEL)"},
        {NULL, 0, NULL, 0, 0, NULL, NULL}};
    static bridge_daemon bd;
    int rc = 1;

    ferry_log_init("broker-bridge");
    switch (ferry_opts_parse("broker-bridge", synopsis, opts, argc, argv)) {
    case FERRY_OPTS_HELP:
        return 0;
    case FERRY_OPTS_BAD:
        return 2;
    case FERRY_OPTS_OK:
        break;
    }
    size_t n_origins =
        option_values(argc, argv, opts, "allow-origin", origins, FERRY_API_MAX_ORIGINS);
    if (n_origins > FERRY_API_MAX_ORIGINS) {
        fprintf(stderr, "broker-bridge: --allow-origin given more than %d times\n",
                FERRY_API_MAX_ORIGINS);
        return 2;
    }
    if (admin_file == NULL)
        admin_file = admin_token_path(data, admin_buf, sizeof(admin_buf));
    srand((unsigned)(ferry_now_ms() ^ getpid()));

    if ((mqtt_user == NULL) != (mqtt_pass_file == NULL)) {
        fprintf(stderr, "broker-bridge: --mqtt-username and --mqtt-password-file go together\n");
        return 2;
    }
    if (mqtt_pass_file != NULL && !read_secret_line(mqtt_pass_file, mqtt_pass, sizeof(mqtt_pass)))
        return 1;
    if (node_ca_file == NULL)
        node_ca_file = mqtt_ca;
    if (node_ca_file != NULL && (node_ca = read_pem(node_ca_file)) == NULL)
        return 1;
    if (!load_console(console_dir, &console)) {
        free(node_ca);
        return 1;
    }
    if (insecure_nodes)
        LOG_WARN("--insecure-nodes: unsigned messages of nodes that never enrolled are believed; "
                 "anyone who reaches the broker can speak for them");
    bool mqtt_tls = strncmp(uri, "ssl://", 6) == 0 || strncmp(uri, "mqtts://", 8) == 0;
    ferry_mqtt_tls tls = {.ca_file = mqtt_ca};

    ferry_daemon_hooks hooks = {on_wake, on_tick, on_stop, &bd};
    if (ferry_daemon_init(&bd.d, &hooks) != FERRY_OK)
        return 1;
    ferry_mqtt_opts mo = {.uri = uri,
                          .client_id = client_id,
                          .username = mqtt_user,
                          .password = mqtt_user != NULL ? mqtt_pass : NULL,
                          .tls = mqtt_tls ? &tls : NULL,
                          .keepalive_s = 30,
                          .max_retry_s = 60,
                          .max_buffered = MAX_BUFFERED,
                          .wake = ferry_daemon_wake,
                          .wake_ctx = &bd.d,
                          .handlers = {.on_up = on_up,
                                       .on_down = on_down,
                                       .on_messages = on_messages,
                                       .on_published = on_published,
                                       .on_subscribed = on_subscribed,
                                       .on_overflow = on_overflow},
                          .ud = &bd};
    ferry_bridge_config bc = {.data_dir = data,
                              .key_file = key_file,
                              .sign_key_file = sign_key_file,
                              .node_mqtt_uri = node_uri != NULL ? node_uri : uri,
                              .node_mqtt_ca = node_ca,
                              .insecure_nodes = insecure_nodes,
                              .stats_max_series = (size_t)stats_max_series,
                              .broker = broker_admin,
                              .publish = publish,
                              .publish_ctx = &bd,
                              .kick = ferry_daemon_wake,
                              .kick_ctx = &bd.d};
    ferry_err made = ferry_mqtt_create(&mo, &bd.mqtt);
    ferry_secrets_wipe(mqtt_pass, sizeof(mqtt_pass)); /* Paho holds its copy */
    if (made != FERRY_OK)
        goto out;
    if (ferry_bridge_open(&bc, &bd.bridge) != FERRY_OK) {
        LOG_ERROR("cannot open the store in %s or its key file (see above); exiting", data);
        goto out;
    }
    if (ferry_tokens_admin_file(bd.bridge, admin_file, NULL) != FERRY_OK) {
        LOG_ERROR("cannot use the admin token file %s (see above); exiting", admin_file);
        goto out;
    }
    ferry_api_config ac = {.listen = listen,
                           .tls_cert = tls_cert,
                           .tls_key = tls_key,
                           .plain_http = plain_http,
                           .allow_origins = origins,
                           .n_allow_origins = n_origins,
                           .threads = (unsigned)threads,
                           .max_connections = connection_limit(max_conns, raise_nofile()),
                           .timeout_s = (unsigned)timeout,
                           .max_per_ip = (unsigned)max_per_ip,
                           .console = console};
    if (ferry_api_start(&ac, bd.bridge, &bd.api) != FERRY_OK)
        goto out;
    ferry_mqtt_connect(bd.mqtt); /* retried by the tick when it cannot start */
    LOG_INFO("broker-bridge running (data %s, admin token in %s)", data, admin_file);
    rc = 0;
out:
    if (rc != 0)
        ferry_daemon_stop(&bd.d);
    ferry_daemon_run(&bd.d);
    ferry_bridge_close(bd.bridge);
    ferry_console_free(console); /* after the API, which served it, stopped (on_stop) */
    free(node_ca);
    if (rc == 0)
        LOG_INFO("stopped");
    return rc;
}
