/* ferryctl: decode/encode Ferry payloads, validate and diff apps, write golden files and seeds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/app.h"
#include "ferry/codec.h"
#include "ferry/common.h"
#include "ferry/patch.h"
#include "ferry/proto.h"
#include "samples.h"

#define INPUT_MAX (256u * 1024u * 1024u) /* a long mosquitto_sub capture */

static const char usage[] =
    "usage: ferryctl COMMAND [ARGS]\n"
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
    "Exit status: 0 ok, 1 invalid or undecodable input, 2 usage or I/O error.\n";

/* Read FILE (or stdin for NULL or "-") whole. Caller frees *out. */
static int read_all(const char *path, unsigned char **out, size_t *len) {
    FILE *f = path == NULL || strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;

    *out = NULL;
    *len = 0;
    if (f == NULL) {
        fprintf(stderr, "ferryctl: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (n == cap) {
            size_t ncap = cap != 0 ? cap * 2 : 65536;
            unsigned char *nb = ncap <= INPUT_MAX + 1 ? ferry_realloc(buf, ncap) : NULL;
            if (nb == NULL) {
                fprintf(stderr, "ferryctl: input larger than %u bytes\n", INPUT_MAX);
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "ferryctl: read error on %s\n", path != NULL ? path : "stdin");
        goto out;
    }
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    ferry_free(buf);
    if (f != stdin)
        fclose(f);
    return rc;
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

int main(int argc, char **argv) {
    ferry_log_init("ferryctl");
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
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
