/* ferryctl: the command line: API commands (cli.h) and offline ones (decode/encode payloads,
 * validate and diff apps, write golden files and seeds). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/app.h"
#include "ferry/codec.h"
#include "ferry/common.h"
#include "ferry/patch.h"
#include "ferry/proto.h"
#include "cli.h"
#include "manifest.h"
#include "samples.h"

#define INPUT_MAX (256u * 1024u * 1024u) /* a long mosquitto_sub capture */

static const char usage[] =
    "usage: ferryctl COMMAND [ARGS] [OPTIONS]\n"
    "\n"
    "API commands (kubectl conventions; ferryctl COMMAND --help for each, with an example):\n"
    "  apply -f FILE|DIR|-   create or update apps, configs and nodes from YAML or JSON manifests\n"
    "  get RESOURCE [NAME...] [-l SELECTOR] [--search TEXT] [-o wide|json|yaml|name]\n"
    "                        list apps, nodes or configs (every page), or show some\n"
    "  describe RESOURCE NAME...\n"
    "                        the detail of an app (status per node and container), node or config\n"
    "  delete RESOURCE NAME...\n"
    "                        delete apps, nodes or configs\n"
    "  label node NAME KEY=VALUE... KEY-...\n"
    "                        set or remove a node's labels\n"
    "  rollout status app NAME [--timeout DURATION]\n"
    "                        wait until every targeted node runs the app's current version\n"
    "  logs APP --node NODE [--service NAME] [--tail N] [--since DURATION]\n"
    "                        a service's container log on an edge node (fetched over MQTT)\n"
    "RESOURCE: app(s), node(s), config(s).\n"
    "\n"
    "Offline commands:\n"
    "  decode [FILE]         decode msgpack from FILE (default stdin): either lines of\n"
    "                        \"TOPIC HEXPAYLOAD\" (mosquitto_sub -v -t 'ferry/#' -F '%t %x'),\n"
    "                        printed as \"TOPIC {json}\", or one raw payload, printed as JSON\n"
    "  encode [FILE]         JSON in, raw msgpack out (no \"v\" is added)\n"
    "  validate FILE         validate an app JSON file: prints \"ok\" or \"FIELD: RULE\"\n"
    "  diff OLD.json NEW.json\n"
    "                        print the patch from OLD to NEW and the sizes of the app.put and\n"
    "                        app.patch payloads that would carry NEW\n"
    "  golden DIR            write golden protocol payloads and their MANIFEST into DIR\n"
    "  seeds DIR             write fuzz seed corpora into DIR/<fuzzer>/\n"
    "\n"
    "Options of every API command:\n"
    "  -s, --server URL      the API (https://127.0.0.1:7080); else $FERRY_SERVER, else the "
    "config\n"
    "      --token TOKEN     the bearer token; else $FERRY_TOKEN, else the config\n"
    "      --ca FILE         the CA certificate (PEM) that signed the API's; else $FERRY_CA, else\n"
    "                        the config, else the system's CAs\n"
    "  -n, --namespace NS    else $FERRY_NAMESPACE, else the config, else \"default\"\n"
    "      --config FILE     the config file; else $FERRY_CONFIG, else ~/.config/ferry/config\n"
    "                        (lines \"server = URL\", \"token = TOKEN\" or \"token-file = PATH\",\n"
    "                        \"ca = PATH\", \"namespace = NS\"; '#' comments; relative paths are\n"
    "                        taken from the file's folder). scripts/up.sh writes "
    ".run/ferryctl.conf.\n"
    "\n"
    "Exit status of the API commands: 0 ok; 1 the server refused or failed a request, or a\n"
    "rollout failed; 2 usage error (command line, manifest, config file); 3 the server cannot be\n"
    "reached; 4 rollout status timed out. Offline commands: 0 ok, 1 invalid or undecodable input,\n"
    "2 usage or I/O error.\n";

/* Per command: its usage, what it does, its options and an example (ferryctl CMD --help). */
static const struct {
    const char *name, *text;
} command_help[] = {
    {"apply",
     "usage: ferryctl apply -f FILE|DIR|- [-f ...] [-n NS]\n"
     "Create or update what manifests describe. A file holds YAML documents (separated by\n"
     "\"---\") or JSON (one object, or an array of objects); a folder is read for its *.yaml,\n"
     "*.yml and *.json files (not its subfolders); - reads stdin. Each document has\n"
     "  apiVersion: ferry/v1 (optional) and kind: App | Config | Node,\n"
     "then the object as the REST API takes it (name, ...; a Config's API kind config, secret,\n"
     "certificate or registry is its \"type\", config by default; \"namespace\" overrides -n).\n"
     "A config object as the API takes it (\"kind\": \"secret\" ...) is read as a Config too.\n"
     "\"kind: List\" with \"items\" (what get -o yaml prints) is read as its items. Everything is\n"
     "checked before anything is sent; configs go first, then nodes, then apps. Each object\n"
     "prints KIND/NAME created, configured or unchanged (the stored spec equals the manifest).\n"
     "An update sends the version it read (a change in between is read again, up to 3 times);\n"
     "a \"version\" in the manifest is sent as it is, and the update fails (409) if another\n"
     "version is stored.\n"
     "Example:\n"
     "  ferryctl apply -f examples/web.yaml\n"
     "  cat app.json | ferryctl apply -f - -n staging\n"},
    {"get",
     "usage: ferryctl get apps|nodes|configs [NAME...] [-n NS] [-l SELECTOR] [--search TEXT]\n"
     "                    [-o wide|json|yaml|name] [--chunk-size N]\n"
     "List every item (all pages, N a request, 500 by default) or the named ones.\n"
     "  apps:    NAME VERSION TARGETED RUNNING FAILED AGE (wide: STATE SELECTOR IMAGES)\n"
     "  nodes:   NAME LABELS ONLINE APPS (wide: ENROLLED GPU AGE)\n"
     "  configs: NAME KIND VERSION DATA AGE (wide: UPDATED)\n"
     "-l filters by labels (Kubernetes form: a=b,c!=d,e in (f,g),!h); the API filters nodes,\n"
     "ferryctl filters apps and configs. --search keeps names that contain TEXT (any case).\n"
     "-o json|yaml prints the objects as manifests (apiVersion, kind) that apply takes back.\n"
     "Example:\n"
     "  ferryctl get apps -o wide\n"
     "  ferryctl get nodes -l region=east\n"},
    {"describe",
     "usage: ferryctl describe app|node|config NAME... [-n NS]\n"
     "An app: its spec in short, the rollout summary of its current version, a table of the\n"
     "targeted nodes (version, phase, online, last report, message) and of their containers\n"
     "(state, restarts, exit code, error), and its changes (the API keeps the current version\n"
     "with the times of creation and last update, not a history of versions).\n"
     "A node: labels, online, enrollment, GPUs, the apps on it and their containers.\n"
     "A config: kind, version, times, its entries with sizes (sealed values by digest).\n"
     "Example:\n"
     "  ferryctl describe app web\n"},
    {"delete",
     "usage: ferryctl delete app|node|config NAME... [-n NS]\n"
     "Delete each named object; prints KIND/NAME deleted. A missing one is an error (exit 1),\n"
     "the others are still deleted.\n"
     "Example:\n"
     "  ferryctl delete app web demo\n"},
    {"label", "usage: ferryctl label node NAME KEY=VALUE... KEY-... [--overwrite] [-n NS]\n"
              "Set labels (KEY=VALUE) and remove them (KEY-) on a node; changing the value of an\n"
              "existing label needs --overwrite. The apps that select the node follow its labels.\n"
              "Example:\n"
              "  ferryctl label node edge-1 tier=gw region-\n"},
    {"rollout",
     "usage: ferryctl rollout status app NAME [--timeout DURATION] [-n NS]\n"
     "Follow the app's current version until every targeted node runs it (exit 0), a node\n"
     "fails it once every target reported it (exit 1, naming the failed nodes, their messages\n"
     "and containers), or DURATION passes (exit 4, naming the nodes not running it; exit 1 if\n"
     "some failed). On a terminal a progress bar is redrawn in place; otherwise a line is\n"
     "printed when the counts change. DURATION: 90, 90s, 5m, 1h, 500ms (default 5m).\n"
     "Example:\n"
     "  ferryctl apply -f web.yaml && ferryctl rollout status app web --timeout 2m\n"},
    {"logs",
     "usage: ferryctl logs APP --node NODE [--service NAME] [--tail N] [--since DURATION] [-n NS]\n"
     "Print the log (stdout and stderr) of the app's service container on an edge node: the\n"
     "bridge asks the node over MQTT and the node answers from its engine (at most the last\n"
     "256 KiB). --service may be left out when the app has one service; --tail N lines (100,\n"
     "at most 10000); --since DURATION back from now (90s, 5m, 1h). An offline node is an\n"
     "error (exit 1), as is a node that does not answer within 15 s.\n"
     "Example:\n"
     "  ferryctl logs web --node edge-1 --service nginx --tail 50\n"},
};

/* Read FILE (or stdin for NULL or "-") whole. Caller frees *out. */
static int read_all(const char *path, unsigned char **out, size_t *len) {
    FILE *f = path == NULL || strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    const char *name = path != NULL ? path : "stdin";

    *out = NULL;
    *len = 0;
    if (f == NULL) {
        fprintf(stderr, "ferryctl: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    *out = (unsigned char *)ctl_read_all(f, INPUT_MAX, len);
    if (*out == NULL && errno == EFBIG)
        fprintf(stderr, "ferryctl: input larger than %u bytes\n", INPUT_MAX);
    else if (*out == NULL)
        fprintf(stderr, "ferryctl: read error on %s: %s\n", name, strerror(errno));
    if (f != stdin)
        fclose(f);
    return *out != NULL ? 0 : -1;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A line "TOPIC HEX": printable topic without spaces, one space, an even number of hex digits. */
static bool topic_hex_line(const unsigned char *s, size_t n) {
    if (n > 0 && s[n - 1] == '\r')
        n--;
    const unsigned char *sp = memchr(s, ' ', n);
    if (sp == NULL || sp == s)
        return false;
    for (const unsigned char *p = s; p < sp; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return false;
    size_t hl = n - (size_t)(sp - s) - 1;
    if (hl % 2 != 0)
        return false;
    for (size_t i = 0; i < hl; i++)
        if (hexval(sp[1 + i]) < 0)
            return false;
    return true;
}

static bool is_line_format(const unsigned char *buf, size_t len) {
    size_t lines = 0;
    for (size_t i = 0; i < len;) {
        const unsigned char *nl = memchr(buf + i, '\n', len - i);
        size_t n = nl != NULL ? (size_t)(nl - (buf + i)) : len - i;
        if (n > 0) {
            if (!topic_hex_line(buf + i, n))
                return false;
            lines++;
        }
        i += n + 1;
    }
    return lines > 0;
}

static int decode_lines(const unsigned char *buf, size_t len) {
    int status = 0;
    for (size_t i = 0; i < len;) {
        const unsigned char *nl = memchr(buf + i, '\n', len - i);
        size_t n = nl != NULL ? (size_t)(nl - (buf + i)) : len - i;
        const unsigned char *line = buf + i;
        i += n + 1;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0)
            continue;
        const unsigned char *sp = memchr(line, ' ', n);
        int tlen = (int)(sp - line);
        size_t hl = n - (size_t)tlen - 1;
        unsigned char *payload = ferry_malloc(hl / 2);
        json_t *v = NULL;
        json_t *msg = NULL;
        char why[256];
        if (payload == NULL) {
            fprintf(stderr, "ferryctl: out of memory\n");
            return 2;
        }
        for (size_t k = 0; k < hl / 2; k++)
            payload[k] = (unsigned char)(hexval(sp[1 + 2 * k]) * 16 + hexval(sp[2 + 2 * k]));
        ferry_err rc = ferry_msgpack_decode_reason(payload, hl / 2, &v, why, sizeof(why));
        if (rc != FERRY_OK) {
            printf("%.*s ERROR %s (%s)\n", tlen, line, why, ferry_strerror(rc));
            status = 1;
        } else {
            char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            printf("%.*s %s\n", tlen, line, text != NULL ? text : "(out of memory)");
            free(text);
            fflush(stdout);
            if (ferry_proto_decode(payload, hl / 2, &msg, why, sizeof(why)) != FERRY_OK)
                fprintf(stderr, "ferryctl: %.*s: not a valid Ferry message: %s\n", tlen, line, why);
        }
        json_decref(v);
        json_decref(msg);
        ferry_free(payload);
    }
    return status;
}

static int cmd_decode(const char *path) {
    unsigned char *buf = NULL;
    size_t len = 0;
    json_t *v = NULL;
    json_t *msg = NULL;
    char why[256];
    int status = 2;

    if (read_all(path, &buf, &len) != 0)
        return 2;
    if (is_line_format(buf, len)) {
        status = decode_lines(buf, len);
        goto out;
    }
    ferry_err rc = ferry_msgpack_decode_reason(buf, len, &v, why, sizeof(why));
    if (rc != FERRY_OK) {
        printf("ERROR %s (%s)\n", why, ferry_strerror(rc));
        status = 1;
        goto out;
    }
    if (json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY) != 0) {
        status = 2;
        goto out;
    }
    printf("\n");
    fflush(stdout);
    if (ferry_proto_decode(buf, len, &msg, why, sizeof(why)) != FERRY_OK)
        fprintf(stderr, "ferryctl: not a valid Ferry message: %s\n", why);
    status = 0;
out:
    json_decref(v);
    json_decref(msg);
    ferry_free(buf);
    return status;
}

static json_t *load_json(const char *path) {
    json_error_t jerr;
    json_t *v;
    if (path == NULL || strcmp(path, "-") == 0)
        v = json_loadf(stdin, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    else
        v = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (v == NULL)
        fprintf(stderr, "ferryctl: %s: line %d: %s\n", path != NULL ? path : "stdin", jerr.line,
                jerr.text);
    return v;
}

static int cmd_encode(const char *path) {
    json_t *v = load_json(path);
    unsigned char *buf = NULL;
    size_t len = 0;
    int status = 2;
    if (v == NULL)
        return 2;
    ferry_err rc = ferry_msgpack_encode(v, &buf, &len);
    if (rc != FERRY_OK)
        fprintf(stderr, "ferryctl: cannot encode: %s\n", ferry_strerror(rc));
    else if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
        fprintf(stderr, "ferryctl: write error: %s\n", strerror(errno));
    else
        status = 0;
    ferry_free(buf);
    json_decref(v);
    return status;
}

static int cmd_validate(const char *path) {
    json_t *v = load_json(path);
    ferry_detail d;
    char text[sizeof(d.field) + 2 + sizeof(d.message)];
    if (v == NULL)
        return 2;
    int status = 0;
    if (ferry_app_validate(v, &d) != FERRY_OK) {
        printf("%s\n", ferry_detail_text(&d, text, sizeof(text)));
        status = 1;
    } else {
        printf("ok\n");
    }
    json_decref(v);
    return status;
}

static json_t *load_app(const char *path, int *status) {
    json_t *raw = load_json(path);
    json_t *app = NULL;
    ferry_detail d;
    char text[sizeof(d.field) + 2 + sizeof(d.message)];
    if (raw == NULL) {
        *status = 2;
    } else if (ferry_app_validate(raw, &d) != FERRY_OK) {
        printf("%s: %s\n", path, ferry_detail_text(&d, text, sizeof(text)));
        *status = 1;
    } else if ((app = ferry_app_normalize(raw)) == NULL) {
        fprintf(stderr, "ferryctl: out of memory\n");
        *status = 2;
    }
    json_decref(raw);
    return app;
}

/* The bench compares the two payloads the bridge could send for an update: the whole app
 * (app.put) or the delta (app.patch). Versions are realistic (rev counters past 255). */
static int cmd_diff(const char *old_path, const char *new_path) {
    int status = 0;
    json_t *from = NULL;
    json_t *to = NULL;
    json_t *patch = NULL;
    json_t *check = NULL;
    json_t *put = NULL;
    json_t *pm = NULL;
    unsigned char *pbuf = NULL;
    unsigned char *mbuf = NULL;
    size_t plen = 0, mlen = 0;
    char *text = NULL;

    if ((from = load_app(old_path, &status)) == NULL || (to = load_app(new_path, &status)) == NULL)
        goto out;
    status = 2;
    if ((patch = ferry_patch_diff(from, to)) == NULL) {
        fprintf(stderr, "ferryctl: out of memory\n");
        goto out;
    }
    if (ferry_patch_apply(from, patch, &check) != FERRY_OK || !json_equal(check, to)) {
        fprintf(stderr, "ferryctl: BUG: the patch does not turn OLD into NEW\n");
        goto out;
    }
    const char *name = json_string_value(json_object_get(to, "name"));
    put = json_pack("{s:s, s:s, s:s, s:i, s:O}", "type", FERRY_MSG_APP_PUT, "ns", "default", "app",
                    name, "version", 1001, "spec", to);
    pm = json_pack("{s:s, s:s, s:s, s:i, s:i, s:O}", "type", FERRY_MSG_APP_PATCH, "ns", "default",
                   "app", name, "base", 1000, "version", 1001, "patch", patch);
    if (put == NULL || pm == NULL || ferry_proto_encode(put, &pbuf, &plen) != FERRY_OK ||
        ferry_proto_encode(pm, &mbuf, &mlen) != FERRY_OK ||
        (text = json_dumps(patch, JSON_COMPACT)) == NULL) {
        fprintf(stderr, "ferryctl: cannot encode the payloads\n");
        goto out;
    }
    printf("%s\n", text);
    printf("app.put bytes: %zu\n", plen);
    printf("app.patch bytes: %zu\n", mlen);
    printf("ratio: %.4f\n", plen > 0 ? (double)mlen / (double)plen : 0.0);
    status = 0;
out:
    free(text);
    ferry_free(pbuf);
    ferry_free(mbuf);
    json_decref(put);
    json_decref(pm);
    json_decref(check);
    json_decref(patch);
    json_decref(from);
    json_decref(to);
    return status;
}

/* A duration: digits with an optional unit ms, s (default), m, h. -1 when malformed. */
static long parse_duration(const char *s) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || v < 0 || v > 1000000000L)
        return -1;
    if (strcmp(end, "ms") == 0)
        return v;
    if (end[0] == '\0' || strcmp(end, "s") == 0)
        return v * 1000;
    if (strcmp(end, "m") == 0)
        return v * 60 * 1000;
    if (strcmp(end, "h") == 0)
        return v * 3600 * 1000;
    return -1;
}

static int command_usage(const char *cmd, bool help) {
    for (size_t i = 0; i < sizeof(command_help) / sizeof(command_help[0]); i++) {
        if (strcmp(command_help[i].name, cmd) == 0) {
            fputs(command_help[i].text, help ? stdout : stderr);
            fputs("Options of every API command and the exit status: ferryctl --help\n",
                  help ? stdout : stderr);
            return help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
    }
    fputs(usage, help ? stdout : stderr);
    return help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
}

/* Parse the options and arguments after the command (GNU getopt_long: options may come after
 * the arguments, "--" ends them). */
static int parse_cmdline(const char *cmd, int argc, char **argv, ctl_cmdline *cl) {
    enum {
        O_SEARCH = 256,
        O_TOKEN,
        O_CONFIG,
        O_CA,
        O_CHUNK,
        O_TIMEOUT,
        O_OVERWRITE,
        O_NODE,
        O_SERVICE,
        O_TAIL,
        O_SINCE
    };
    static const struct option opts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"namespace", required_argument, NULL, 'n'},
        {"selector", required_argument, NULL, 'l'},
        {"output", required_argument, NULL, 'o'},
        {"server", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {"search", required_argument, NULL, O_SEARCH},
        {"token", required_argument, NULL, O_TOKEN},
        {"config", required_argument, NULL, O_CONFIG},
        {"ca", required_argument, NULL, O_CA},
        {"chunk-size", required_argument, NULL, O_CHUNK},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"overwrite", no_argument, NULL, O_OVERWRITE},
        {"node", required_argument, NULL, O_NODE},
        {"service", required_argument, NULL, O_SERVICE},
        {"tail", required_argument, NULL, O_TAIL},
        {"since", required_argument, NULL, O_SINCE},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end = NULL;

    memset(cl, 0, sizeof(*cl));
    cl->chunk_size = 500;
    cl->timeout_ms = 5 * 60 * 1000;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:n:l:o:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (cl->n_files == CTL_MAX_FILES) {
                fprintf(stderr, "error: at most %d -f\n", CTL_MAX_FILES);
                return CTL_EXIT_USAGE;
            }
            cl->files[cl->n_files++] = optarg;
            break;
        case 'n':
            cl->ns = optarg;
            break;
        case 'l':
            cl->selector = optarg;
            break;
        case 'o':
            cl->output = optarg;
            break;
        case 's':
            cl->server = optarg;
            break;
        case 'h':
            return command_usage(cmd, true) == CTL_EXIT_OK ? -1 : CTL_EXIT_USAGE;
        case O_SEARCH:
            cl->search = optarg;
            break;
        case O_TOKEN:
            cl->token = optarg;
            break;
        case O_CONFIG:
            cl->config = optarg;
            break;
        case O_CA:
            cl->ca = optarg;
            break;
        case O_CHUNK:
            cl->chunk_size = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || cl->chunk_size < 1 || cl->chunk_size > 1000) {
                fprintf(stderr, "error: --chunk-size %s: must be 1 to 1000\n", optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        case O_TIMEOUT:
            if ((cl->timeout_ms = parse_duration(optarg)) < 0) {
                fprintf(stderr, "error: --timeout %s: must be like 90, 90s, 5m, 1h or 500ms\n",
                        optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        case O_OVERWRITE:
            cl->overwrite = true;
            break;
        case O_NODE:
            cl->node = optarg;
            break;
        case O_SERVICE:
            cl->service = optarg;
            break;
        case O_TAIL:
            cl->tail = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || cl->tail < 1) {
                fprintf(stderr, "error: --tail %s: must be a number of lines >= 1\n", optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        case O_SINCE:
            if ((cl->since_ms = parse_duration(optarg)) <= 0) {
                fprintf(stderr, "error: --since %s: must be like 90s, 5m or 1h\n", optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        case ':':
            fprintf(stderr, "error: %s: option %s needs a value\n", cmd, argv[optind - 1]);
            return CTL_EXIT_USAGE;
        default:
            fprintf(stderr, "error: %s: unknown option %s; see ferryctl %s --help\n", cmd,
                    argv[optind - 1], cmd);
            return CTL_EXIT_USAGE;
        }
    }
    cl->args = argv + optind;
    cl->n_args = argc - optind;
    return CTL_EXIT_OK;
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*fn)(const ctl_cmdline *);
    } api[] = {
        {"apply", ctl_cmd_apply},   {"get", ctl_cmd_get},     {"describe", ctl_cmd_describe},
        {"delete", ctl_cmd_delete}, {"label", ctl_cmd_label}, {"rollout", ctl_cmd_rollout},
        {"logs", ctl_cmd_logs},
    };
    ferry_log_init("ferryctl");
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0)
        return command_usage(argc > 2 ? argv[2] : "", true);
    for (size_t i = 0; i < sizeof(api) / sizeof(api[0]); i++) {
        if (strcmp(cmd, api[i].name) != 0)
            continue;
        ctl_cmdline cl;
        int rc = parse_cmdline(cmd, argc - 1, argv + 1, &cl);
        if (rc == -1)
            return CTL_EXIT_OK; /* --help */
        if (rc != CTL_EXIT_OK)
            return rc;
        return api[i].fn(&cl);
    }
    const char *a1 = argc > 2 ? argv[2] : NULL;
    if (strcmp(cmd, "decode") == 0 && argc <= 3)
        return cmd_decode(a1);
    if (strcmp(cmd, "encode") == 0 && argc <= 3)
        return cmd_encode(a1);
    if (strcmp(cmd, "validate") == 0 && argc == 3)
        return cmd_validate(a1);
    if (strcmp(cmd, "diff") == 0 && argc == 4)
        return cmd_diff(argv[2], argv[3]);
    if (strcmp(cmd, "golden") == 0 && argc == 3)
        return samples_write_golden(a1) == 0 ? 0 : 2;
    if (strcmp(cmd, "seeds") == 0 && argc == 3)
        return samples_write_seeds(a1) == 0 ? 0 : 2;
    fputs(usage, stderr);
    return 2;
}
