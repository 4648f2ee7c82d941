/* broker-bridge: the cloud daemon. Serves the REST API, keeps apps and nodes in LMDB and publishes
 * their changes to the edge over MQTT (see README.md). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "api.h"
#include "bridge.h"
#include "mqtt.h"

typedef struct {
    uv_loop_t *loop;
    uv_async_t wake;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm;
    ferry_bmqtt *mqtt;
    ferry_bridge *bridge;
} daemon_state;

static void usage(FILE *f) {
    fprintf(f, "usage: broker-bridge [--listen ADDR:PORT] [--mqtt URI] [--data DIR]\n"
               "                     [--key-file FILE] [--client-id ID]\n"
               "                     [--log-level error|warn|info|debug]\n"
               "  --listen     REST API address (default 127.0.0.1:7080)\n"
               "  --mqtt       broker URI (default tcp://127.0.0.1:1883)\n"
               "  --data       LMDB directory (default /var/lib/ferry/bridge)\n"
               "  --key-file   key that encrypts secret config values (default DIR.key, beside\n"
               "               the data directory; created mode 0600 at first start)\n"
               "  --client-id  MQTT client id (default ferry-bridge)\n"
               "  --log-level  default info, or FERRY_LOG_LEVEL\n");
}

static bool parse_level(const char *s, ferry_log_level *out) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (ferry_log_level)i;
            return true;
        }
    }
    return false;
}

/* Any thread: Paho callbacks and API writes wake the loop (uv_async_send coalesces). */
static void wake(void *ctx) {
    uv_async_send(&((daemon_state *)ctx)->wake);
}

/* Several wake-ups may have been merged into this one: drain everything. */
static void on_wake(uv_async_t *h) {
    daemon_state *d = h->data;
    ferry_bmqtt_drain(d->mqtt, d->bridge);
    ferry_bridge_pump(d->bridge);
}

static void on_tick(uv_timer_t *h) {
    daemon_state *d = h->data;
    ferry_bmqtt_tick(d->mqtt);
    ferry_bridge_tick(d->bridge);
}

static void on_signal(uv_signal_t *h, int signum) {
    LOG_INFO("signal %d: stopping", signum);
    uv_stop(h->loop);
}

int main(int argc, char **argv) {
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"mqtt", required_argument, NULL, 'm'},
                                         {"data", required_argument, NULL, 'd'},
                                         {"key-file", required_argument, NULL, 'k'},
                                         {"client-id", required_argument, NULL, 'c'},
                                         {"log-level", required_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *listen = "127.0.0.1:7080", *uri = "tcp://127.0.0.1:1883";
    const char *data = "/var/lib/ferry/bridge", *client_id = "ferry-bridge", *key_file = NULL;
    daemon_state d = {0};
    ferry_api *api = NULL;
    ferry_log_level level;
    int rc = 1, opt;

    ferry_log_init("broker-bridge");
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            listen = optarg;
            break;
        case 'm':
            uri = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'k':
            key_file = optarg;
            break;
        case 'c':
            client_id = optarg;
            break;
        case 'v':
            if (!parse_level(optarg, &level)) {
                fprintf(stderr, "broker-bridge: unknown log level '%s'\n", optarg);
                return 2;
            }
            ferry_log_threshold = level;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)(ferry_now_ms() ^ getpid()));

    d.loop = uv_default_loop();
    uv_async_init(d.loop, &d.wake, on_wake);
    uv_timer_init(d.loop, &d.tick);
    uv_signal_init(d.loop, &d.sigint);
    uv_signal_init(d.loop, &d.sigterm);
    d.wake.data = d.tick.data = &d;

    ferry_bmqtt_config mc = {.uri = uri, .client_id = client_id, .wake = wake, .wake_ctx = &d};
    if (ferry_bmqtt_create(&mc, &d.mqtt) != FERRY_OK)
        goto out;
    ferry_bridge_config bc = {.data_dir = data,
                              .key_file = key_file,
                              .publish = ferry_bmqtt_publish,
                              .publish_ctx = d.mqtt,
                              .kick = wake,
                              .kick_ctx = &d};
    if (ferry_bridge_open(&bc, &d.bridge) != FERRY_OK) {
        LOG_ERROR("cannot open the store in %s or its key file (see above); exiting", data);
        goto out;
    }
    if (ferry_api_start(listen, d.bridge, &api) != FERRY_OK)
        goto out;
    if (ferry_bmqtt_connect(d.mqtt) != FERRY_OK)
        goto out;
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_timer_start(&d.tick, on_tick, 1000, 1000);
    LOG_INFO("broker-bridge running (data %s)", data);
    uv_run(d.loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    /* Stop the producers first (API thread, then Paho's threads), then the loop's handles. */
    ferry_api_stop(api);
    ferry_bmqtt_destroy(d.mqtt);
    uv_close((uv_handle_t *)&d.wake, NULL);
    uv_close((uv_handle_t *)&d.tick, NULL);
    uv_close((uv_handle_t *)&d.sigint, NULL);
    uv_close((uv_handle_t *)&d.sigterm, NULL);
    uv_run(d.loop, UV_RUN_DEFAULT);
    uv_loop_close(d.loop);
    ferry_bridge_close(d.bridge);
    if (rc == 0)
        LOG_INFO("stopped");
    return rc;
}
