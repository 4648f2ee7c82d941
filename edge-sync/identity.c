/* edge-sync identity: enrollment and the files that keep the node's identity (see identity.h). */
#include "identity.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/labels.h"
#include "ferry/secrets.h"

#define ANSWER_CAP (256 * 1024) /* the bridge's answer (a CA certificate chain at most) */
#define ENROLL_TIMEOUT_S 30L

/* {data}/identity/{file} into buf. */
static ferry_err path_of(const char *data_dir, const char *file, char *buf, size_t len) {
    int n = snprintf(buf, len, "%s/identity%s%s", data_dir, file[0] != '\0' ? "/" : "", file);
    return n < 0 || (size_t)n >= len ? FERRY_EINVAL : FERRY_OK;
}

static ferry_err make_dirs(const char *data_dir) {
    char dir[PATH_MAX];
    if ((mkdir(data_dir, 0700) != 0 && errno != EEXIST) ||
        path_of(data_dir, "", dir, sizeof(dir)) != FERRY_OK ||
        (mkdir(dir, 0700) != 0 && errno != EEXIST) || chmod(dir, 0700) != 0) {
        LOG_ERROR("identity: cannot create %s/identity: %s", data_dir, strerror(errno));
        return FERRY_EIO;
    }
    return FERRY_OK;
}

/* Write len bytes to path atomically, mode 0600 (replacing an earlier enrollment's). */
static ferry_err write_file(const char *path, const void *data, size_t len) {
    return ferry_secrets_write_file(path, "the node's identity file", data, len, false);
}

/* ---- the bridge's answer ---- */

/* A string member of at most max - 1 bytes without NUL, copied into out; optional members may be
 * absent (out becomes ""). */
static bool take(const json_t *obj, const char *key, bool optional, char *out, size_t max) {
    const json_t *v = json_object_get(obj, key);
    out[0] = '\0';
    if (v == NULL)
        return optional;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return false;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return true;
}

/* Check an enrollment answer (untrusted) and fill the non-key fields of id. */
static ferry_err check_answer(const json_t *a, ferry_identity *id, char *why, size_t whylen) {
    const json_t *mqtt = json_object_get(a, "mqtt");
    char pub[FERRY_SIGN_PUB_B64 + 1], expect[160];
    const char *bad = NULL;

    if (!json_is_object(a) || !json_is_object(mqtt))
        bad = "not an object with \"mqtt\"";
    else if (!take(a, "namespace", false, id->ns, sizeof(id->ns)) || !ferry_name_valid(id->ns))
        bad = "namespace";
    else if (!take(a, "node", false, id->node, sizeof(id->node)) || !ferry_name_valid(id->node))
        bad = "node";
    else if (!take(a, "bridgeKey", false, pub, sizeof(pub)) ||
             ferry_sign_pub_decode(pub, id->bridge_pub) != FERRY_OK)
        bad = "bridgeKey";
    else if (!take(mqtt, "uri", false, id->mqtt_uri, sizeof(id->mqtt_uri)))
        bad = "mqtt.uri";
    else if (!take(mqtt, "clientId", false, id->client_id, sizeof(id->client_id)))
        bad = "mqtt.clientId";
    else if (!take(mqtt, "username", true, id->username, sizeof(id->username)) ||
             !take(mqtt, "password", true, id->password, sizeof(id->password)))
        bad = "mqtt.username or mqtt.password";
    if (bad == NULL) {
        snprintf(expect, sizeof(expect), "node.%s.%s", id->ns, id->node);
        if (strcmp(id->client_id, expect) != 0)
            bad = "mqtt.clientId (not this node's)";
    }
    if (bad != NULL) {
        snprintf(why, whylen, "the bridge's answer has no valid %s", bad);
        return FERRY_EFORMAT;
    }
    return FERRY_OK;
}

/* ---- enrolling ---- */

typedef struct {
    char *data;
    size_t len;
    bool over;
} answer_buf;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
    answer_buf *a = ud;
    size_t n = size * nmemb;
    if (a->over || a->len + n > ANSWER_CAP) {
        a->over = true;
        return 0;
    }
    char *d = ferry_realloc(a->data, a->len + n + 1);
    if (d == NULL)
        return 0;
    memcpy(d + a->len, p, n);
    a->data = d;
    a->len += n;
    a->data[a->len] = '\0';
    return n;
}

/* POST body to url; *out is the parsed answer (2xx only). */
static ferry_err post(const char *url, const char *body, const char *ca_file, json_t **out,
                      char *err, size_t errlen) {
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    char cerr[CURL_ERROR_SIZE] = "";
    answer_buf a = {0};
    long status = 0;
    ferry_err rc = FERRY_EIO;

    *out = NULL;
    if (c == NULL || hdrs == NULL) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, ENROLL_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    if (ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "cannot reach the bridge at %s: %s", url,
                 cerr[0] != '\0' ? cerr : curl_easy_strerror(cc));
        goto out;
    }
    json_t *j = a.data != NULL ? json_loadb(a.data, a.len, 0, NULL) : NULL;
    if (status < 200 || status > 299) {
        const char *msg = json_string_value(json_object_get(j, "error"));
        snprintf(err, errlen, "the bridge refused the enrollment (HTTP %ld): %.300s", status,
                 msg != NULL ? msg : "no message");
        json_decref(j);
        goto out;
    }
    if (j == NULL) {
        snprintf(err, errlen, "the bridge's answer is not JSON");
        rc = FERRY_EFORMAT;
        goto out;
    }
    *out = j;
    rc = FERRY_OK;
out:
    ferry_free(a.data);
    curl_slist_free_all(hdrs);
    if (c != NULL)
        curl_easy_cleanup(c);
    return rc;
}

/* New key pairs in the identity folder (earlier ones are replaced). */
static ferry_err new_keys(const char *data_dir, ferry_identity *id) {
    static const char *const files[] = {"sign.key", "box.key"};
    ferry_keypair *kp[] = {&id->sign, &id->box};
    char path[PATH_MAX];
    for (size_t i = 0; i < 2; i++) {
        ferry_err err = path_of(data_dir, files[i], path, sizeof(path));
        if (err != FERRY_OK)
            return err;
        if (unlink(path) != 0 && errno != ENOENT)
            return FERRY_EIO;
        if ((err = ferry_secrets_key_load(path, true, kp[i]->seed, NULL)) != FERRY_OK)
            return err;
    }
    if (ferry_sign_keypair(&id->sign) != FERRY_OK || ferry_box_keypair(&id->box) != FERRY_OK)
        return FERRY_EIO;
    return FERRY_OK;
}

ferry_err ferry_identity_enroll(const char *data_dir, const char *url, const char *token,
                                const char *ca_file, char *err, size_t errlen) {
    ferry_identity id;
    char sign[FERRY_SIGN_PUB_B64], box[FERRY_SIGN_PUB_B64], path[PATH_MAX];
    json_t *body = NULL, *answer = NULL, *keep = NULL;
    char *text = NULL, *kept = NULL;
    ferry_err rc;

    memset(&id, 0, sizeof(id));
    snprintf(err, errlen, "out of memory");
    if ((rc = make_dirs(data_dir)) != FERRY_OK || (rc = new_keys(data_dir, &id)) != FERRY_OK) {
        snprintf(err, errlen, "cannot make the node's keys in %s/identity (see the log)", data_dir);
        goto out;
    }
    ferry_sign_pub_encode(id.sign.pub, sign);
    ferry_sign_pub_encode(id.box.pub, box);
    rc = FERRY_ENOMEM;
    if ((body = json_pack("{s:s, s:s, s:s}", "token", token, "signKey", sign, "boxKey", box)) ==
            NULL ||
        (text = json_dumps(body, JSON_COMPACT)) == NULL)
        goto out;
    if ((rc = post(url, text, ca_file, &answer, err, errlen)) != FERRY_OK ||
        (rc = check_answer(answer, &id, err, errlen)) != FERRY_OK)
        goto out;
    const char *ca = json_string_value(json_object_get(json_object_get(answer, "mqtt"), "ca"));
    if (ca != NULL && ((rc = path_of(data_dir, "ca.pem", path, sizeof(path))) != FERRY_OK ||
                       (rc = write_file(path, ca, strlen(ca))) != FERRY_OK)) {
        snprintf(err, errlen, "cannot write %s", path);
        goto out;
    }
    /* What the node keeps: the answer as checked (the CA went to its own file). */
    rc = FERRY_ENOMEM;
    keep = json_deep_copy(answer);
    if (keep == NULL)
        goto out;
    json_object_del(json_object_get(keep, "mqtt"), "ca");
    if ((kept = json_dumps(keep, JSON_INDENT(2))) == NULL)
        goto out;
    if ((rc = path_of(data_dir, "enrollment.json", path, sizeof(path))) != FERRY_OK ||
        (rc = write_file(path, kept, strlen(kept))) != FERRY_OK) {
        snprintf(err, errlen, "cannot write %s", path);
        goto out;
    }
    snprintf(err, errlen, "enrolled as node %s/%s", id.ns, id.node);
out:
    if (kept != NULL)
        ferry_secrets_wipe(kept, strlen(kept));
    ferry_free(kept);
    ferry_free(text);
    json_decref(body);
    json_decref(answer);
    json_decref(keep);
    ferry_identity_clear(&id);
    return rc;
}

/* ---- loading ---- */

/* Read a small file that only its owner may read. *out from ferry_malloc, NUL-terminated. */
static ferry_err read_private(const char *path, char **out) {
    char *buf = ferry_malloc(ANSWER_CAP + 1);
    size_t len = 0;
    ferry_err err = buf != NULL ? ferry_secrets_read_file(path, "the node's identity file", buf,
                                                          ANSWER_CAP, &len)
                                : FERRY_ENOMEM;
    *out = NULL;
    if (err != FERRY_OK) {
        ferry_free(buf);
        return err;
    }
    buf[len] = '\0';
    *out = buf;
    return FERRY_OK;
}

ferry_err ferry_identity_load(const char *data_dir, ferry_identity *id) {
    char path[PATH_MAX], why[160];
    char *text = NULL;
    json_t *j = NULL;
    ferry_err err;

    memset(id, 0, sizeof(*id));
    if ((err = path_of(data_dir, "enrollment.json", path, sizeof(path))) != FERRY_OK ||
        (err = read_private(path, &text)) != FERRY_OK)
        goto out;
    err = FERRY_EINVAL;
    if ((j = json_loads(text, 0, NULL)) == NULL ||
        check_answer(j, id, why, sizeof(why)) != FERRY_OK) {
        LOG_ERROR("identity: %s is unreadable (%s); enroll again", path,
                  j == NULL ? "not JSON" : why);
        goto out;
    }
    if ((err = path_of(data_dir, "sign.key", path, sizeof(path))) != FERRY_OK ||
        (err = ferry_secrets_key_load(path, false, id->sign.seed, NULL)) != FERRY_OK ||
        (err = path_of(data_dir, "box.key", path, sizeof(path))) != FERRY_OK ||
        (err = ferry_secrets_key_load(path, false, id->box.seed, NULL)) != FERRY_OK) {
        LOG_ERROR("identity: the node's keys in %s/identity are missing or unfit; enroll again",
                  data_dir);
        err = FERRY_EINVAL;
        goto out;
    }
    if ((err = ferry_sign_keypair(&id->sign)) != FERRY_OK ||
        (err = ferry_box_keypair(&id->box)) != FERRY_OK)
        goto out;
    if ((err = path_of(data_dir, "ca.pem", path, sizeof(path))) != FERRY_OK)
        goto out;
    if (access(path, R_OK) == 0)
        snprintf(id->ca_file, sizeof(id->ca_file), "%s", path);
    err = FERRY_OK;
out:
    if (text != NULL)
        ferry_secrets_wipe(text, strlen(text));
    ferry_free(text);
    json_decref(j);
    if (err != FERRY_OK)
        ferry_identity_clear(id);
    return err;
}

void ferry_identity_clear(ferry_identity *id) {
    ferry_secrets_wipe(id, sizeof(*id));
}
