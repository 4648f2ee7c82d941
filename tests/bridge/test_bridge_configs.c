/* Unit tests of broker-bridge's config objects and what comes with them: CRUD, secret values
 * sealed at rest (never in the LMDB file, never returned), the key file, the "resolved" member of
 * the wire documents, re-publishing on a config change, references checked on app writes, the
 * selector preview, scheduled deployment, node GPUs and the status summary. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include "bridge_test.h"
#include "records.h"
#include "ferry/base64.h"
#include "ferry/codec.h"
#include "ferry/bundle.h"
#include "ferry/patch.h"
#include "ferry/sign.h"

typedef bridge_fixture fixture;

/* ---- helpers ---- */

/* Create config body (stolen, JSON text) and return its version. */
static json_int_t create_cfg(fixture *f, const char *text) {
    json_t *body = J(text), *out = NULL;
    ferry_detail e;
    if (ferry_bridge_config_create(f->b, "default", body, &out, &e) != FERRY_OK)
        fail_msg("config create failed: %s (%s)", e.message, e.field);
    json_int_t v = json_integer_value(json_object_get(out, "version"));
    json_decref(out);
    json_decref(body);
    return v;
}

static json_int_t update_cfg(fixture *f, const char *name, const char *text) {
    json_t *body = J(text), *out = NULL;
    ferry_detail e;
    if (ferry_bridge_config_update(f->b, "default", name, body, &out, &e) != FERRY_OK)
        fail_msg("config update failed: %s (%s)", e.message, e.field);
    json_int_t v = json_integer_value(json_object_get(out, "version"));
    json_decref(out);
    json_decref(body);
    return v;
}

static json_int_t create_app(fixture *f, const char *text) {
    json_t *body = J(text), *out = NULL;
    ferry_detail e;
    if (ferry_bridge_app_create(f->b, "default", body, &out, &e) != FERRY_OK)
        fail_msg("app create failed: %s (%s)", e.message, e.field);
    json_int_t v = json_integer_value(json_object_get(out, "version"));
    json_decref(out);
    json_decref(body);
    return v;
}

static json_int_t app_version(fixture *f, const char *name) {
    json_t *out = NULL;
    ferry_detail e;
    assert_int_equal(ferry_bridge_app_get(f->b, "default", name, &out, &e), FERRY_OK);
    json_int_t v = json_integer_value(json_object_get(out, "version"));
    json_decref(out);
    return v;
}

static void node_create(fixture *f, const char *name, const char *labels) {
    json_t *body = json_pack("{s:s, s:o}", "name", name, "labels", J(labels)), *out = NULL;
    ferry_detail e;
    if (ferry_bridge_node_create(f->b, "default", body, &out, &e) != FERRY_OK)
        fail_msg("node create failed: %s (%s)", e.message, e.field);
    json_decref(out);
    json_decref(body);
}

/* An enrolled node's keys (made from its name). */
typedef struct {
    ferry_keypair sign, box;
} node_keys;

/* Register name with labels and enroll it: only enrolled nodes get secret bundles. */
static void enroll_node(fixture *f, const char *name, const char *labels, node_keys *k) {
    json_t *out = NULL, *body = NULL;
    ferry_detail e;
    char sign[FERRY_SIGN_PUB_B64], box[FERRY_SIGN_PUB_B64];
    memset(k, 0, sizeof(*k));
    memcpy(k->sign.seed, name, strlen(name) < 32 ? strlen(name) : 32);
    memcpy(k->box.seed, k->sign.seed, 32);
    k->box.seed[31] ^= 0x5a;
    assert_int_equal(ferry_sign_keypair(&k->sign), FERRY_OK);
    assert_int_equal(ferry_box_keypair(&k->box), FERRY_OK);
    node_create(f, name, labels);
    assert_int_equal(ferry_bridge_node_enroll_token(f->b, "default", name, &out, &e), FERRY_OK);
    ferry_sign_pub_encode(k->sign.pub, sign);
    ferry_sign_pub_encode(k->box.pub, box);
    body = json_pack("{s:O, s:s, s:s}", "token", json_object_get(out, "token"), "signKey", sign,
                     "boxKey", box);
    json_decref(out);
    if (ferry_bridge_enroll(f->b, body, &out, &e) != FERRY_OK)
        fail_msg("enroll failed: %s", e.message);
    json_decref(out);
    json_decref(body);
}

/* The secret bundle of app sent to node (an app.secrets message, or an entry of a node.sync), as
 * the node opens it with its key; NULL when none was sent. */
static json_t *opened_bundle(fixture *f, const node_keys *k, const char *node, const char *app) {
    char topic[160], sync[160], aad[320];
    const json_t *entry = NULL;
    snprintf(topic, sizeof(topic), "ferry/default/nodes/%s/secrets/%s", node, app);
    snprintf(sync, sizeof(sync), "ferry/default/nodes/%s/sync", node);
    for (size_t i = 0; i < f->rec.n; i++) {
        const published *p = &f->rec.items[i];
        if (strcmp(p->topic, topic) == 0)
            entry = p->msg;
        size_t j;
        json_t *b;
        if (strcmp(p->topic, sync) == 0)
            json_array_foreach(json_object_get(p->msg, "secrets"), j, b) {
                if (strcmp(json_string_value(json_object_get(b, "app")), app) == 0)
                    entry = b;
            }
    }
    if (entry == NULL)
        return NULL;
    const char *digest = json_string_value(json_object_get(entry, "digest"));
    const json_t *sealed = json_object_get(entry, "sealed");
    unsigned char *raw = NULL, *plain = NULL;
    size_t rlen = 0, plen = 0;
    snprintf(aad, sizeof(aad), "default/%s/%s/%s", node, app, digest);
    assert_int_equal(
        ferry_base64_decode(json_string_value(sealed), json_string_length(sealed), &raw, &rlen),
        FERRY_OK);
    assert_int_equal(ferry_box_open(&k->box, aad, strlen(aad), raw, rlen, &plain, &plen), FERRY_OK);
    json_t *bundle = json_loadb((const char *)plain, plen, 0, NULL);
    assert_non_null(bundle);
    ferry_free(raw);
    ferry_free(plain);
    return bundle;
}

/* What the node deploys: the public spec with the bundle it got merged back (new). */
static json_t *full_spec(fixture *f, const node_keys *k, const char *node, const char *app,
                         const json_t *pub) {
    json_t *bundle = opened_bundle(f, k, node, app), *full = NULL;
    ferry_detail e;
    if (ferry_bundle_merge(pub, bundle, &full, &e) != FERRY_OK)
        fail_msg("the bundle of %s sent to %s does not fit its spec: %s: %s", app, node, e.field,
                 e.message);
    json_decref(bundle);
    return full;
}

/* A node message on topic (msg stolen), signed with key when not NULL. */
static ferry_err node_says_as(fixture *f, const char *topic, json_t *msg,
                              const ferry_keypair *key) {
    return node_message(f->b, topic, msg, key);
}

static ferry_err node_says(fixture *f, const char *topic, json_t *msg) {
    return node_says_as(f, topic, msg, NULL);
}

/* The published message of type on topic (the last one), or fail. */
static published *find_msg(fixture *f, const char *type, const char *topic) {
    published *found = NULL;
    for (size_t i = 0; i < f->rec.n; i++) {
        if (strcmp(msg_type(&f->rec.items[i]), type) == 0 &&
            (topic == NULL || strcmp(f->rec.items[i].topic, topic) == 0))
            found = &f->rec.items[i];
    }
    if (found == NULL)
        fail_msg("no %s on %s among %zu messages", type, topic != NULL ? topic : "any topic",
                 f->rec.n);
    return found;
}

/* The text of base64 file content (new C string). */
static char *b64_text(const json_t *data) {
    unsigned char *out = NULL;
    size_t len = 0;
    assert_non_null(data);
    assert_int_equal(
        ferry_base64_decode(json_string_value(data), json_string_length(data), &out, &len),
        FERRY_OK);
    char *s = strndup((const char *)out, len);
    ferry_free(out);
    return s;
}

static const json_t *file_of(const json_t *spec, const char *config, const char *file) {
    return json_object_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(spec, "resolved"), "configs"), config),
            "files"),
        file);
}

static void expect_file(const json_t *spec, const char *config, const char *file, const char *text,
                        int mode) {
    const json_t *entry = file_of(spec, config, file);
    if (entry == NULL)
        fail_msg("no file %s of config %s in resolved", file, config);
    char *got = b64_text(json_object_get(entry, "data"));
    assert_string_equal(got, text);
    free(got);
    assert_int_equal(json_integer_value(json_object_get(entry, "mode")), mode);
}

static void sha256_digest(const char *text, char out[80]) {
    unsigned char md[32];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL), 1);
    strcpy(out, "sha256:");
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

/* Whether needle occurs anywhere in the file at path (the raw LMDB bytes). */
static bool file_contains(const char *path, const char *needle) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    assert_int_equal(fread(buf, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    bool found = memmem(buf, (size_t)size, needle, strlen(needle)) != NULL;
    free(buf);
    return found;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode) {
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    fchmod(fd, mode);
    close(fd);
}

static size_t read_file(const char *path, unsigned char *buf, size_t cap) {
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, cap);
    close(fd);
    assert_true(n >= 0);
    return (size_t)n;
}

#define SECRET_MARK "s3cret-PLAINTEXT-4f1c"
#define KEY_MARK "KEY-PLAINTEXT-9a7e"
#define PASS_MARK "pass-PLAINTEXT-77b2"

#define CFG_CONFIG                                                                                 \
    "{\"name\":\"app-config\",\"kind\":\"config\",\"data\":{\"app.conf\":\"port=80\\n\"},"         \
    "\"binaryData\":{\"logo.png\":\"AAEC\"}}"
#define CFG_SECRET                                                                                 \
    "{\"name\":\"app-secret\",\"kind\":\"secret\",\"data\":{\"password\":\"" SECRET_MARK "\"}}"
#define CFG_CERT                                                                                   \
    "{\"name\":\"app-cert\",\"kind\":\"certificate\",\"certificate\":{"                            \
    "\"cert\":\"-----BEGIN CERTIFICATE-----\\nCERT\\n-----END CERTIFICATE-----\\n\","              \
    "\"key\":\"-----BEGIN PRIVATE KEY-----\\n" KEY_MARK "\\n-----END PRIVATE KEY-----\\n\","       \
    "\"ca\":\"-----BEGIN CERTIFICATE-----\\nCA\\n-----END CERTIFICATE-----\\n\"}}"
#define CFG_REGISTRY                                                                               \
    "{\"name\":\"my-registry\",\"kind\":\"registry\",\"registry\":{\"server\":\"127.0.0.1:5000\"," \
    "\"username\":\"u\",\"password\":\"" PASS_MARK "\"}}"

/* An app named name mounting the config, secret and certificate above and pulling with the
 * registry; selector on region=east. */
static char *full_app(const char *name) {
    static char buf[2048];
    snprintf(buf, sizeof(buf),
             "{\"name\":\"%s\",\"selector\":{\"matchLabels\":{\"region\":\"east\"}},"
             "\"volumes\":[{\"name\":\"cfg\",\"config\":{\"name\":\"app-config\"}},"
             "{\"name\":\"creds\",\"secret\":{\"name\":\"app-secret\"}},"
             "{\"name\":\"tls\",\"certificate\":{\"name\":\"app-cert\"}}],"
             "\"registries\":[\"my-registry\"],"
             "\"services\":[{\"name\":\"web\",\"image\":\"127.0.0.1:5000/web:1\","
             "\"volumeMounts\":[{\"name\":\"cfg\",\"mountPath\":\"/etc/app\"},"
             "{\"name\":\"creds\",\"mountPath\":\"/run/creds\",\"readOnly\":true},"
             "{\"name\":\"tls\",\"mountPath\":\"/tls\"}]}]}",
             name);
    return buf;
}

static void create_all_configs(fixture *f) {
    create_cfg(f, CFG_CONFIG);
    create_cfg(f, CFG_SECRET);
    create_cfg(f, CFG_CERT);
    create_cfg(f, CFG_REGISTRY);
}

/* ---- key file ---- */

static void test_key_file(void **state) {
    fixture *f = *state;
    struct stat st;
    unsigned char k1[64], k2[64];

    /* Created at first start beside the data folder, 0600, 32 bytes; reused afterwards. */
    assert_int_equal(stat(f->key_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(read_file(f->key_path, k1, sizeof(k1)), 32);
    create_cfg(f, CFG_SECRET);
    bridge_fixture_reopen(f);
    assert_int_equal(read_file(f->key_path, k2, sizeof(k2)), 32);
    assert_memory_equal(k1, k2, 32);

    /* Readable by others: refused. */
    ferry_bridge_close(f->b);
    f->b = NULL;
    assert_int_equal(chmod(f->key_path, 0644), 0);
    assert_int_equal(bridge_fixture_open(f), FERRY_EINVAL);
    assert_null(f->b);
    assert_int_equal(chmod(f->key_path, 0600), 0);

    /* Wrong size: refused. */
    write_file(f->key_path, k1, 31, 0600);
    assert_int_equal(bridge_fixture_open(f), FERRY_EINVAL);

    /* Another key: the stored secret does not decrypt: refused. */
    unsigned char other[32];
    memcpy(other, k1, 32);
    other[0] ^= 0xff;
    write_file(f->key_path, other, 32, 0600);
    assert_int_equal(bridge_fixture_open(f), FERRY_EINVAL);

    /* No key while the store holds sealed values: refused, and no new key is made. */
    unlink(f->key_path);
    assert_int_equal(bridge_fixture_open(f), FERRY_EINVAL);
    assert_int_equal(stat(f->key_path, &st), -1);

    /* The right key again: the secret decrypts into what nodes get. */
    write_file(f->key_path, k1, 32, 0600);
    assert_int_equal(bridge_fixture_open(f), FERRY_OK);
    node_keys k;
    enroll_node(f, "n9", "{}", &k);
    settle(f);
    create_app(f, "{\"name\":\"a\",\"volumes\":[{\"name\":\"s\",\"secret\":{\"name\":"
                  "\"app-secret\"}}],\"services\":[{\"name\":\"x\",\"image\":\"x:1\"}]}");
    assert_int_equal(flush_outbox(f), 2); /* app.secrets to n9, then app.put */
    published *put = &f->rec.items[1];
    assert_string_equal(msg_type(put), FERRY_MSG_APP_PUT);
    json_t *full = full_spec(f, &k, "n9", "a", json_object_get(put->msg, "spec"));
    expect_file(full, "app-secret", "password", SECRET_MARK, 0600);
    json_decref(full);

    /* An explicit key file path is honoured (created there). */
    char custom[700];
    snprintf(custom, sizeof(custom), "%s-custom.key", f->dir);
    unlink(custom);
    char *dir2 = tmp_dir();
    ferry_bridge *b2 = NULL;
    ferry_bridge_config cfg = {
        .data_dir = dir2, .key_file = custom, .publish = record_publish, .publish_ctx = &f->rec};
    assert_int_equal(ferry_bridge_open(&cfg, &b2), FERRY_OK);
    assert_int_equal(stat(custom, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    ferry_bridge_close(b2);
    unlink(custom);
    rm_dir(dir2);
}

/* ---- CRUD ---- */

static void test_config_crud(void **state) {
    fixture *f = *state;
    json_t *out = NULL, *body = NULL;
    ferry_detail e;
    ferry_bridge_page pg = {.page = 1, .page_size = 20};

    create_all_configs(f);
    assert_int_equal(rev_of(f->b), 4);
    assert_int_equal(flush_outbox(f), 0); /* configs alone send nothing */

    /* Duplicate: 409 naming the name; invalid: 400 naming the field; nothing stored. */
    body = J(CFG_CONFIG);
    assert_int_equal(ferry_bridge_config_create(f->b, "default", body, &out, &e), FERRY_EEXIST);
    assert_string_equal(e.field, "name");
    json_decref(body);
    body = J("{\"name\":\"bad\",\"kind\":\"config\",\"data\":{\"../b\":\"x\"}}");
    assert_int_equal(ferry_bridge_config_create(f->b, "default", body, &out, &e), FERRY_EINVAL);
    assert_true(strncmp(e.field, "data", 4) == 0);
    json_decref(body);
    body = J("{\"name\":\"bad\",\"kind\":\"vault\"}");
    assert_int_equal(ferry_bridge_config_create(f->b, "default", body, &out, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "kind");
    json_decref(body);
    assert_null(out);
    assert_int_equal(rev_of(f->b), 4);

    /* Get: the config as sent plus the server's members. */
    assert_int_equal(ferry_bridge_config_get(f->b, "default", "app-config", &out, &e), FERRY_OK);
    assert_string_equal(json_string_value(json_object_get(out, "kind")), "config");
    assert_string_equal(json_string_value(json_object_get(out, "namespace")), "default");
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(out, "data"), "app.conf")), "port=80\n");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(out, "binaryData"), "logo.png")), "AAEC");
    assert_non_null(json_string_value(json_object_get(out, "createdAt")));
    json_decref(out);
    assert_int_equal(ferry_bridge_config_get(f->b, "default", "nope", &out, &e), FERRY_ENOTFOUND);
    assert_int_equal(ferry_bridge_config_get(f->b, "default", "Bad_Name", &out, &e), FERRY_EINVAL);

    /* List: paging, name filter, kind filter. */
    assert_int_equal(ferry_bridge_config_list(f->b, "default", &pg, &out, &e), FERRY_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 4);
    json_decref(out);
    pg.page_size = 2;
    pg.page = 2;
    assert_int_equal(ferry_bridge_config_list(f->b, "default", &pg, &out, &e), FERRY_OK);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
    assert_string_equal(/* key order: app-config, app-cert, app-secret, my-registry */
                        json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "items"), 0), "name")),
                        "app-secret");
    json_decref(out);
    pg = (ferry_bridge_page){.page = 1, .page_size = 20, .name = "APP-"};
    assert_int_equal(ferry_bridge_config_list(f->b, "default", &pg, &out, &e), FERRY_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 3);
    json_decref(out);
    pg = (ferry_bridge_page){.page = 1, .page_size = 20, .kind = "registry"};
    assert_int_equal(ferry_bridge_config_list(f->b, "default", &pg, &out, &e), FERRY_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    json_decref(out);
    pg.kind = "vault";
    assert_int_equal(ferry_bridge_config_list(f->b, "default", &pg, &out, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "kind");
    pg = (ferry_bridge_page){.page = 1, .page_size = 20};
    assert_int_equal(ferry_bridge_config_list(f->b, "other", &pg, &out, &e), FERRY_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 0);
    json_decref(out);

    /* Update: a new version; stale version 409; kind and name cannot change. */
    json_int_t v =
        update_cfg(f, "app-config", "{\"kind\":\"config\",\"data\":{\"app.conf\":\"port=81\\n\"}}");
    assert_int_equal(v, 5);
    body = J("{\"name\":\"app-config\",\"kind\":\"config\",\"version\":1}");
    assert_int_equal(ferry_bridge_config_update(f->b, "default", "app-config", body, &out, &e),
                     FERRY_ECONFLICT);
    json_decref(body);
    body = J("{\"name\":\"app-config\",\"kind\":\"secret\"}");
    assert_int_equal(ferry_bridge_config_update(f->b, "default", "app-config", body, &out, &e),
                     FERRY_EINVAL);
    assert_string_equal(e.field, "kind");
    json_decref(body);
    body = J("{\"name\":\"other\",\"kind\":\"config\"}");
    assert_int_equal(ferry_bridge_config_update(f->b, "default", "app-config", body, &out, &e),
                     FERRY_EINVAL);
    assert_string_equal(e.field, "name");
    assert_int_equal(ferry_bridge_config_update(f->b, "default", "nope", body, &out, &e),
                     FERRY_EINVAL); /* the name still differs */
    json_decref(body);
    body = J("{\"kind\":\"config\"}");
    assert_int_equal(ferry_bridge_config_update(f->b, "default", "nope", body, &out, &e),
                     FERRY_ENOTFOUND);
    json_decref(body);
    assert_int_equal(rev_of(f->b), 5);

    /* A GET answer sent back (read-only members included) is accepted for a plain config. */
    assert_int_equal(ferry_bridge_config_get(f->b, "default", "app-config", &out, &e), FERRY_OK);
    body = out;
    assert_int_equal(ferry_bridge_config_update(f->b, "default", "app-config", body, &out, &e),
                     FERRY_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 6);
    json_decref(out);
    json_decref(body);

    /* Delete: takes a rev; then gone. */
    assert_int_equal(ferry_bridge_config_delete(f->b, "default", "app-config", &out, &e), FERRY_OK);
    assert_true(json_is_true(json_object_get(out, "deleted")));
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 7);
    json_decref(out);
    assert_int_equal(ferry_bridge_config_get(f->b, "default", "app-config", &out, &e),
                     FERRY_ENOTFOUND);
    assert_int_equal(ferry_bridge_config_delete(f->b, "default", "app-config", &out, &e),
                     FERRY_ENOTFOUND);
}

/* ---- secrets ---- */

static void test_secrets_never_returned_nor_stored(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;
    char d_secret[80], d_key[80], d_pass[80], path[700];

    create_all_configs(f);
    sha256_digest(SECRET_MARK, d_secret);
    sha256_digest("-----BEGIN PRIVATE KEY-----\n" KEY_MARK "\n-----END PRIVATE KEY-----\n", d_key);
    sha256_digest(PASS_MARK, d_pass);

    /* Get shows the digest in place of each value, and only it. */
    assert_int_equal(ferry_bridge_config_get(f->b, "default", "app-secret", &out, &e), FERRY_OK);
    json_t *want = json_pack("{s:s}", "digest", d_secret);
    assert_json_equal(json_object_get(json_object_get(out, "data"), "password"), want);
    json_decref(want);
    json_decref(out);
    assert_int_equal(ferry_bridge_config_get(f->b, "default", "app-cert", &out, &e), FERRY_OK);
    json_t *cert = json_object_get(out, "certificate");
    assert_string_equal(json_string_value(json_object_get(json_object_get(cert, "key"), "digest")),
                        d_key);
    assert_int_equal(json_object_size(json_object_get(cert, "key")), 1);
    assert_contains(json_string_value(json_object_get(cert, "cert")), "CERT"); /* not secret */
    json_decref(out);
    assert_int_equal(ferry_bridge_config_get(f->b, "default", "my-registry", &out, &e), FERRY_OK);
    json_t *reg = json_object_get(out, "registry");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(reg, "password"), "digest")), d_pass);
    assert_string_equal(json_string_value(json_object_get(reg, "username")), "u");
    json_decref(out);

    /* Nor in the list. */
    ferry_bridge_page pg = {.page = 1, .page_size = 20};
    assert_int_equal(ferry_bridge_config_list(f->b, "default", &pg, &out, &e), FERRY_OK);
    char *text = json_dumps(out, JSON_COMPACT);
    assert_null(strstr(text, SECRET_MARK));
    assert_null(strstr(text, KEY_MARK));
    assert_null(strstr(text, PASS_MARK));
    assert_contains(text, d_secret);
    free(text);
    json_decref(out);

    /* An app that uses them: the nodes it targets get the plaintext (their only way to write the
     * files), sealed to each of them; the topic every node of the label reads has none of it. */
    node_keys k;
    enroll_node(f, "n1", "{\"region\":\"east\"}", &k);
    create_app(f, full_app("web"));
    assert_int_equal(flush_outbox(f), 4); /* 2 node.sync (register, enroll), app.secrets, put */
    json_t *spec = json_object_get(find_msg(f, FERRY_MSG_APP_PUT, NULL)->msg, "spec");
    char *put_text = json_dumps(spec, JSON_COMPACT);
    assert_null(strstr(put_text, SECRET_MARK));
    free(put_text);
    json_t *full = full_spec(f, &k, "n1", "web", spec);
    expect_file(full, "app-secret", "password", SECRET_MARK, 0600);
    json_decref(full);

    /* ... but neither the records nor the outbox hold any of it in clear, base64 or not. */
    ferry_bridge_close(f->b);
    f->b = NULL;
    snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
    static const char *const marks[] = {SECRET_MARK, KEY_MARK, PASS_MARK};
    for (size_t i = 0; i < 3; i++) {
        char *b64 = ferry_base64_encode(marks[i], strlen(marks[i]), NULL);
        if (file_contains(path, marks[i]))
            fail_msg("'%s' is in the LMDB file in clear", marks[i]);
        assert_false(file_contains(path, b64));
        ferry_free(b64);
    }
    char *b64 = ferry_base64_encode(SECRET_MARK, strlen(SECRET_MARK), NULL);
    assert_false(file_contains(path, b64));
    ferry_free(b64);
    assert_true(file_contains(path, "port=80")); /* plain configs are stored as they are */

    /* The outbox, sealed, still publishes after a restart. */
    assert_int_equal(bridge_fixture_open(f), FERRY_OK);
    assert_int_equal(flush_outbox(f), 4);
    spec = json_object_get(find_msg(f, FERRY_MSG_APP_PUT, NULL)->msg, "spec");
    full = full_spec(f, &k, "n1", "web", spec);
    expect_file(full, "app-secret", "password", SECRET_MARK, 0600);
    json_decref(full);
}

/* Files in folders (a function's code, a secret at db/password) are stored, sealed, shown as
 * digests and delivered like any others: the AAD "ns/name/data.db/password" still names one
 * value, as ns and name hold no '/'. A name that is both a file and a folder is refused. */
static void test_files_in_folders(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;
    char d_secret[80];
    node_keys k;

    create_cfg(f, "{\"name\":\"fn-code\",\"kind\":\"config\",\"data\":{\"index.py\":\"main\","
                  "\"lib/util.py\":\"util\"},\"binaryData\":{\"lib/data/b.bin\":\"AAEC\"}}");
    create_cfg(f, "{\"name\":\"fn-secret\",\"kind\":\"secret\",\"data\":{\"db/password\":"
                  "\"" SECRET_MARK "\",\"db/user\":\"u\"}}");
    sha256_digest(SECRET_MARK, d_secret);
    assert_int_equal(ferry_bridge_config_get(f->b, "default", "fn-secret", &out, &e), FERRY_OK);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(out, "data"), "db/password"), "digest")),
        d_secret);
    json_decref(out);
    json_t *bad = J("{\"name\":\"fn-bad\",\"kind\":\"config\",\"data\":{\"lib\":\"x\","
                    "\"lib/util.py\":\"y\"}}");
    assert_int_equal(ferry_bridge_config_create(f->b, "default", bad, &out, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "data.lib/util.py");
    assert_contains(e.message, "'lib'");
    json_decref(bad);

    enroll_node(f, "n1", "{\"region\":\"east\"}", &k);
    create_app(f, "{\"name\":\"fn\",\"selector\":{\"matchLabels\":{\"region\":\"east\"}},"
                  "\"volumes\":[{\"name\":\"code\",\"config\":{\"name\":\"fn-code\"}},"
                  "{\"name\":\"s\",\"secret\":{\"name\":\"fn-secret\"}}],"
                  "\"services\":[{\"name\":\"fn\",\"image\":\"i\",\"volumeMounts\":["
                  "{\"name\":\"code\",\"mountPath\":\"/app\"},"
                  "{\"name\":\"code\",\"mountPath\":\"/util.py\",\"subPath\":\"lib/util.py\"},"
                  "{\"name\":\"s\",\"mountPath\":\"/run/s\"}]}]}");
    assert_int_equal(flush_outbox(f), 4); /* 2 node.sync (register, enroll), app.secrets, put */
    json_t *spec = json_object_get(find_msg(f, FERRY_MSG_APP_PUT, NULL)->msg, "spec");
    assert_null(json_object_get(file_of(spec, "fn-secret", "db/password"), "data"));
    json_t *full = full_spec(f, &k, "n1", "fn", spec);
    expect_file(full, "fn-secret", "db/password", SECRET_MARK, 0600);
    expect_file(full, "fn-secret", "db/user", "u", 0600);
    expect_file(full, "fn-code", "lib/util.py", "util", 0644);
    expect_file(full, "fn-code", "index.py", "main", 0644);
    json_decref(full);
}

/* ---- what nodes receive ---- */

static void test_wire_doc(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;
    node_keys k;

    create_all_configs(f);
    enroll_node(f, "n1", "{\"region\":\"east\"}", &k);
    node_create(f, "n2", "{\"region\":\"east\"}"); /* never enrolled: no bundle for it */
    settle(f);
    json_int_t v = create_app(f, full_app("web"));
    create_app(f, "{\"name\":\"plain\",\"services\":[{\"name\":\"x\",\"image\":\"x:1\"}]}");
    assert_int_equal(flush_outbox(f), 3); /* web's bundle to n1, web's put, plain's put */
    assert_string_equal(f->rec.items[0].topic, "ferry/default/nodes/n1/secrets/web");

    /* app.put: the stored spec plus resolved; the node-side checks accepted it (recorder). The
     * secret material stands as digests: every node of the label reads this topic. */
    published *p = find_msg(f, FERRY_MSG_APP_PUT, "ferry/default/labels/region=east/apps/web");
    assert_int_equal(msg_int(p, "version"), v);
    json_t *pub = json_object_get(p->msg, "spec");
    json_t *resolved = json_object_get(pub, "resolved");
    assert_non_null(resolved);
    assert_int_equal(json_object_size(json_object_get(resolved, "configs")), 3);
    assert_null(json_object_get(file_of(pub, "app-secret", "password"), "data"));
    assert_non_null(json_object_get(file_of(pub, "app-secret", "password"), "digest"));
    assert_null(json_object_get(file_of(pub, "app-cert", "tls.key"), "data"));
    assert_null(
        json_object_get(json_array_get(json_object_get(resolved, "registries"), 0), "password"));
    char *text = json_dumps(pub, JSON_COMPACT);
    assert_null(strstr(text, SECRET_MARK));
    assert_null(strstr(text, KEY_MARK));
    assert_null(strstr(text, PASS_MARK));
    free(text);
    /* What the enrolled node deploys, with its bundle. */
    json_t *spec = full_spec(f, &k, "n1", "web", pub);
    resolved = json_object_get(spec, "resolved");
    assert_null(json_object_get(resolved, "secrets"));
    json_t *cfg = json_object_get(json_object_get(resolved, "configs"), "app-config");
    assert_string_equal(json_string_value(json_object_get(cfg, "kind")), "config");
    assert_int_equal(json_integer_value(json_object_get(cfg, "version")), 1);
    expect_file(spec, "app-config", "app.conf", "port=80\n", 0644);
    assert_string_equal(
        json_string_value(json_object_get(file_of(spec, "app-config", "logo.png"), "data")),
        "AAEC");
    expect_file(spec, "app-secret", "password", SECRET_MARK, 0600);
    expect_file(spec, "app-cert", "tls.key",
                "-----BEGIN PRIVATE KEY-----\n" KEY_MARK "\n-----END PRIVATE KEY-----\n", 0600);
    expect_file(spec, "app-cert", "tls.crt",
                "-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n", 0644);
    expect_file(spec, "app-cert", "ca.crt",
                "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n", 0644);
    json_t *want = J("[{\"name\":\"my-registry\",\"server\":\"127.0.0.1:5000\",\"username\":\"u\","
                     "\"password\":\"" PASS_MARK "\"}]");
    assert_json_equal(json_object_get(resolved, "registries"), want);
    json_decref(want);
    json_decref(spec);
    /* The bundle of n1 does not open with another key. */
    node_keys other;
    memset(&other, 0, sizeof(other));
    memset(other.box.seed, 77, 32);
    assert_int_equal(ferry_box_keypair(&other.box), FERRY_OK);
    const json_t *sealed = json_object_get(f->rec.items[0].msg, "sealed");
    unsigned char *raw = NULL, *plain = NULL;
    size_t rlen = 0, plen = 0;
    assert_int_equal(
        ferry_base64_decode(json_string_value(sealed), json_string_length(sealed), &raw, &rlen),
        FERRY_OK);
    char aad[200];
    snprintf(aad, sizeof(aad), "default/n1/web/%s",
             json_string_value(json_object_get(f->rec.items[0].msg, "digest")));
    assert_int_equal(ferry_box_open(&other.box, aad, strlen(aad), raw, rlen, &plain, &plen),
                     FERRY_EINVAL);
    ferry_free(raw);

    /* The API shows the stored app without resolved. */
    assert_int_equal(ferry_bridge_app_get(f->b, "default", "web", &out, &e), FERRY_OK);
    assert_null(json_object_get(out, "resolved"));
    json_decref(out);

    /* An app without references goes out as stored: no resolved member. */
    p = find_msg(f, FERRY_MSG_APP_PUT, "ferry/default/all/apps/plain");
    assert_null(json_object_get(json_object_get(p->msg, "spec"), "resolved"));

    /* A hello answer carries the same public document, and the bundle the node lacks. */
    pub = json_incref(pub);
    ack_all(f->b, &f->rec);
    recorder_clear(&f->rec);
    assert_int_equal(node_says_as(f, "ferry/default/nodes/n1/hello",
                                  J("{\"type\":\"node.hello\",\"ns\":\"default\",\"node\":"
                                    "\"n1\",\"reason\":\"connect\",\"apps\":{}}"),
                                  &k.sign),
                     FERRY_OK);
    published *sync = find_msg(f, FERRY_MSG_NODE_SYNC, "ferry/default/nodes/n1/sync");
    json_t *apps = json_object_get(sync->msg, "apps");
    json_t *web = NULL;
    for (size_t i = 0; i < json_array_size(apps); i++) {
        if (strcmp(json_string_value(json_object_get(json_array_get(apps, i), "app")), "web") == 0)
            web = json_array_get(apps, i);
    }
    assert_non_null(web);
    assert_json_equal(json_object_get(web, "spec"), pub);
    spec = full_spec(f, &k, "n1", "web", pub);
    expect_file(spec, "app-secret", "password", SECRET_MARK, 0600);
    json_decref(spec);
    /* A hello that holds the bundle gets none again. */
    recorder_clear(&f->rec);
    json_t *hello = J("{\"type\":\"node.hello\",\"ns\":\"default\",\"node\":\"n1\","
                      "\"reason\":\"connect\",\"apps\":{}}");
    json_object_set_new(
        hello, "secrets",
        json_pack("{s:O}", "web", json_object_get(json_object_get(pub, "resolved"), "secrets")));
    assert_int_equal(node_says_as(f, "ferry/default/nodes/n1/hello", hello, &k.sign), FERRY_OK);
    sync = find_msg(f, FERRY_MSG_NODE_SYNC, "ferry/default/nodes/n1/sync");
    assert_null(json_object_get(sync->msg, "secrets"));
    json_decref(pub);
}

/* ---- config change ---- */

static void test_config_change_republishes(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;

    create_all_configs(f);
    create_app(f, full_app("web"));
    json_int_t v_reg = create_app(f, "{\"name\":\"reg-only\",\"registries\":[\"my-registry\"],"
                                     "\"services\":[{\"name\":\"x\",\"image\":\"x:1\"}]}");
    json_int_t v_plain =
        create_app(f, "{\"name\":\"plain\",\"services\":[{\"name\":\"x\",\"image\":\"x:1\"}]}");
    assert_int_equal(flush_outbox(f), 3);
    json_t *old_wire = json_incref(json_object_get(
        find_msg(f, FERRY_MSG_APP_PUT, "ferry/default/labels/region=east/apps/web")->msg, "spec"));
    json_int_t base = app_version(f, "web");
    ack_all(f->b, &f->rec);
    recorder_clear(&f->rec);

    /* A config change: a new config version, then a new version of each app that uses it, with
     * the new file in what it is sent. */
    json_int_t cv = update_cfg(f, "app-config",
                               "{\"name\":\"app-config\",\"kind\":\"config\","
                               "\"data\":{\"app.conf\":\"port=8080\\n\"},"
                               "\"binaryData\":{\"logo.png\":\"AAEC\"}}");
    json_int_t v = app_version(f, "web");
    assert_true(v > cv && cv > base);
    assert_int_equal(app_version(f, "reg-only"), v_reg); /* unchanged */
    assert_int_equal(app_version(f, "plain"), v_plain);
    assert_int_equal(flush_outbox(f), 1);
    published *p = &f->rec.items[0];
    assert_string_equal(p->topic, "ferry/default/labels/region=east/apps/web");
    assert_string_equal(msg_type(p), FERRY_MSG_APP_PATCH); /* one file of a larger app */
    assert_int_equal(msg_int(p, "base"), base);
    assert_int_equal(msg_int(p, "version"), v);
    json_t *patched = NULL;
    assert_int_equal(ferry_patch_apply(old_wire, json_object_get(p->msg, "patch"), &patched),
                     FERRY_OK);
    expect_file(patched, "app-config", "app.conf", "port=8080\n", 0644);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(json_object_get(patched, "resolved"), "configs"),
                            "app-config"),
            "version")),
        cv);
    /* The rest as before: the secret stands as the same digest (only bundles carry it). */
    assert_json_equal(json_object_get(file_of(patched, "app-secret", "password"), "digest"),
                      json_object_get(file_of(old_wire, "app-secret", "password"), "digest"));
    ack_all(f->b, &f->rec);
    recorder_clear(&f->rec);

    /* What a node would rebuild from a sync equals the patched document. */
    node_create(f, "n1", "{\"region\":\"east\"}");
    assert_int_equal(flush_outbox(f), 1);
    json_t *apps = json_object_get(f->rec.items[0].msg, "apps");
    json_t *web = NULL;
    for (size_t i = 0; i < json_array_size(apps); i++) {
        if (strcmp(json_string_value(json_object_get(json_array_get(apps, i), "app")), "web") == 0)
            web = json_array_get(apps, i);
    }
    assert_non_null(web);
    assert_int_equal(json_integer_value(json_object_get(web, "version")), v);
    assert_json_equal(json_object_get(web, "spec"), patched);
    json_decref(patched);
    json_decref(old_wire);
    ack_all(f->b, &f->rec);
    recorder_clear(&f->rec);

    /* A registry change reaches both apps that pull with it; a secret change only web. */
    update_cfg(f, "my-registry",
               "{\"name\":\"my-registry\",\"kind\":\"registry\",\"registry\":{\"server\":"
               "\"127.0.0.1:5000\",\"username\":\"u\",\"password\":\"new-pass\"}}");
    assert_int_equal(flush_outbox(f), 2);
    assert_true(app_version(f, "reg-only") > v_reg);
    ack_all(f->b, &f->rec);
    recorder_clear(&f->rec);
    update_cfg(f, "app-secret",
               "{\"name\":\"app-secret\",\"kind\":\"secret\",\"data\":{\"password\":\"new\"}}");
    assert_int_equal(flush_outbox(f), 1);
    assert_string_equal(f->rec.items[0].topic, "ferry/default/labels/region=east/apps/web");
    ack_all(f->b, &f->rec);
    recorder_clear(&f->rec);

    /* A config of another namespace with the same name changes nothing here. */
    json_t *body = J(CFG_CONFIG);
    assert_int_equal(ferry_bridge_config_create(f->b, "other", body, &out, &e), FERRY_OK);
    json_decref(out);
    assert_int_equal(ferry_bridge_config_update(f->b, "other", "app-config", body, &out, &e),
                     FERRY_OK);
    json_decref(out);
    json_decref(body);
    assert_int_equal(flush_outbox(f), 0);
}

/* ---- references ---- */

static void test_delete_in_use_conflict(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;

    create_all_configs(f);
    create_app(f, full_app("web"));
    create_app(f, full_app("api"));
    create_app(f, full_app("old"));
    assert_int_equal(ferry_bridge_app_delete(f->b, "default", "old", &out, &e), FERRY_OK);
    json_decref(out);
    uint64_t rev = rev_of(f->b);

    assert_int_equal(ferry_bridge_config_delete(f->b, "default", "app-secret", &out, &e),
                     FERRY_ECONFLICT);
    assert_string_equal(e.field, "name");
    assert_string_equal(e.message, "config 'app-secret' is used by apps: api, web");
    assert_int_equal(ferry_bridge_config_delete(f->b, "default", "my-registry", &out, &e),
                     FERRY_ECONFLICT);
    assert_contains(e.message, "api, web");
    assert_int_equal(rev_of(f->b), rev);

    /* Once no app uses it, it goes. */
    assert_int_equal(ferry_bridge_app_delete(f->b, "default", "web", &out, &e), FERRY_OK);
    json_decref(out);
    assert_int_equal(ferry_bridge_app_delete(f->b, "default", "api", &out, &e), FERRY_OK);
    json_decref(out);
    assert_int_equal(ferry_bridge_config_delete(f->b, "default", "app-secret", &out, &e), FERRY_OK);
    json_decref(out);
}

static void test_missing_reference_refused(void **state) {
    fixture *f = *state;
    json_t *out = NULL, *body = NULL;
    ferry_detail e;

    /* Nothing exists yet: the first reference that fails is named; nothing is stored. */
    body = J(full_app("web"));
    assert_int_equal(ferry_bridge_app_create(f->b, "default", body, &out, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "volumes[0].config.name");
    assert_contains(e.message, "'app-config' not found");
    assert_null(out);
    assert_int_equal(rev_of(f->b), 0);
    assert_int_equal(ferry_bridge_app_get(f->b, "default", "web", &out, &e), FERRY_ENOTFOUND);
    assert_int_equal(flush_outbox(f), 0);

    create_cfg(f, CFG_CONFIG);
    create_cfg(f, CFG_SECRET);
    create_cfg(f, CFG_CERT);
    assert_int_equal(ferry_bridge_app_create(f->b, "default", body, &out, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "registries[0]");
    json_decref(body);

    /* A reference to a config of another kind. */
    body = J("{\"name\":\"web\",\"volumes\":[{\"name\":\"v\",\"secret\":{\"name\":"
             "\"app-config\"}}],\"services\":[{\"name\":\"x\",\"image\":\"x:1\"}]}");
    assert_int_equal(ferry_bridge_app_create(f->b, "default", body, &out, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "volumes[0].secret.name");
    assert_contains(e.message, "is a config, not a secret");
    json_decref(body);
    body = J("{\"name\":\"web\",\"registries\":[\"app-secret\"],"
             "\"services\":[{\"name\":\"x\",\"image\":\"x:1\"}]}");
    assert_int_equal(ferry_bridge_app_create(f->b, "default", body, &out, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "registries[0]");
    json_decref(body);
    assert_int_equal(rev_of(f->b), 3);

    /* An update to a missing reference changes nothing either. */
    json_int_t v =
        create_app(f, "{\"name\":\"web\",\"services\":[{\"name\":\"x\",\"image\":\"x:1\"}]}");
    settle(f);
    body = J("{\"name\":\"web\",\"volumes\":[{\"name\":\"v\",\"config\":{\"name\":\"gone\"}}],"
             "\"services\":[{\"name\":\"x\",\"image\":\"x:1\"}]}");
    assert_int_equal(ferry_bridge_app_update(f->b, "default", "web", body, &out, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "volumes[0].config.name");
    json_decref(body);
    assert_int_equal(app_version(f, "web"), v);
    assert_int_equal(flush_outbox(f), 0);
}

/* ---- selector preview ---- */

static void test_selector_preview(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;
    node_create(f, "n1", "{\"region\":\"east\",\"tier\":\"gw\"}");
    node_create(f, "n2", "{\"region\":\"east\",\"tier\":\"edge\",\"gpu\":\"yes\"}");
    node_create(f, "n3", "{\"region\":\"west\",\"tier\":\"gw\"}");

    static const struct {
        const char *selector;
        const char *names;
    } cases[] = {
        {"region=east,tier in (gw,edge),!gpu", "n1"},
        {"region=east", "n1,n2"},
        {"gpu", "n2"},
        {"tier notin (edge), region != west", "n1"},
        {"", "n1,n2,n3"},
        {"{\"matchLabels\":{\"tier\":\"gw\"}}", "n1,n3"},
        {"{\"matchExpressions\":[{\"key\":\"region\",\"operator\":\"NotIn\",\"values\":"
         "[\"east\"]}]}",
         "n3"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ferry_bridge_page pg = {.page = 1, .page_size = 20, .selector = cases[i].selector};
        char got[64] = "";
        if (ferry_bridge_node_list(f->b, "default", &pg, &out, &e) != FERRY_OK)
            fail_msg("selector '%s': %s", cases[i].selector, e.message);
        json_t *items = json_object_get(out, "items");
        for (size_t k = 0; k < json_array_size(items); k++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? "," : "",
                     json_string_value(json_object_get(json_array_get(items, k), "name")));
        if (strcmp(got, cases[i].names) != 0)
            fail_msg("selector '%s' matched '%s', expected '%s'", cases[i].selector, got,
                     cases[i].names);
        json_decref(out);
    }

    /* Paging counts the matches only. */
    ferry_bridge_page pg = {.page = 2, .page_size = 1, .selector = "region=east"};
    assert_int_equal(ferry_bridge_node_list(f->b, "default", &pg, &out, &e), FERRY_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "items"), 0), "name")),
                        "n2");
    json_decref(out);

    /* Errors name the selector. */
    static const char *const bad[] = {"region in (",
                                      "Bad Key=1",
                                      "{",
                                      "{\"matchLabels\":1}",
                                      "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":",
                                      "\"In\"}]}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pg = (ferry_bridge_page){.page = 1, .page_size = 20, .selector = bad[i]};
        if (ferry_bridge_node_list(f->b, "default", &pg, &out, &e) != FERRY_EINVAL)
            fail_msg("selector '%s' was accepted", bad[i]);
        assert_true(strncmp(e.field, "selector", 8) == 0); /* "selector" or a path inside it */
    }
}

/* ---- scheduled deployment, GPUs, summary ---- */

static json_t *status_msg(const char *node, const char *app, json_int_t version,
                          const char *phase) {
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:[]}", "type", "app.status", "ns",
                     "default", "node", node, "app", app, "version", version, "phase", phase,
                     "message", "", "ts", (json_int_t)ferry_now_ms(), "containers");
}

static json_t *online_msg(const char *node, bool online, const char *gpu) {
    json_t *m = json_pack("{s:s, s:s, s:s, s:b}", "type", "node.online", "ns", "default", "node",
                          node, "online", online);
    if (gpu != NULL)
        json_object_set_new(m, "gpu", J(gpu));
    return m;
}

static void test_scheduled_and_summary(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;

    node_create(f, "n1", "{\"region\":\"east\"}");
    node_create(f, "n2", "{\"region\":\"east\"}");
    json_int_t v = create_app(f, "{\"name\":\"later\",\"selector\":{\"matchLabels\":{\"region\":"
                                 "\"east\"}},\"deploy\":{\"at\":\"2099-01-01T01:00:00+01:00\"},"
                                 "\"services\":[{\"name\":\"x\",\"image\":\"x:1\"}]}");
    json_int_t vj = create_app(f, "{\"name\":\"job\",\"workload\":\"job\",\"selector\":{"
                                  "\"matchLabels\":{\"region\":\"east\"}},\"deploy\":{\"at\":"
                                  "\"2001-01-01T00:00:00Z\"},"
                                  "\"services\":[{\"name\":\"x\",\"image\":\"x:1\"}]}");

    /* Before its time: Scheduled in GET, list and the status summary. */
    assert_int_equal(ferry_bridge_app_get(f->b, "default", "later", &out, &e), FERRY_OK);
    assert_string_equal(json_string_value(json_object_get(out, "deployState")), "Scheduled");
    /* The view can be sent back as it is. */
    json_t *again = NULL;
    assert_int_equal(ferry_bridge_app_update(f->b, "default", "later", out, &again, &e), FERRY_OK);
    v = json_integer_value(json_object_get(again, "version"));
    json_decref(again);
    json_decref(out);
    ferry_bridge_page pg = {.page = 1, .page_size = 20};
    assert_int_equal(ferry_bridge_app_list(f->b, "default", &pg, &out, &e), FERRY_OK);
    json_t *items = json_object_get(out, "items");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "name")),
                        "job");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "deployState")),
                        "Active");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "deployState")),
                        "Scheduled");
    json_decref(out);

    /* Nodes hold it and report Scheduled; the summary counts them. */
    assert_int_equal(node_says(f, "ferry/default/nodes/n1/online", online_msg("n1", true, NULL)),
                     FERRY_OK);
    assert_int_equal(node_says(f, "ferry/default/nodes/n1/status/later",
                               status_msg("n1", "later", v, "Scheduled")),
                     FERRY_OK);
    assert_int_equal(ferry_bridge_app_status(f->b, "default", "later", &out, &e), FERRY_OK);
    json_t *want = J("{\"targeted\":2,\"applied\":1,\"running\":0,\"failed\":0,\"succeeded\":0,"
                     "\"scheduled\":1,\"notReporting\":1,\"deployState\":\"Scheduled\","
                     "\"deployAt\":\"2099-01-01T00:00:00Z\"}");
    assert_json_equal(json_object_get(out, "summary"), want);
    json_decref(want);
    json_t *n1 = json_array_get(json_object_get(out, "nodes"), 0);
    assert_string_equal(json_string_value(json_object_get(n1, "phase")), "Scheduled");
    json_decref(out);

    /* A job past its time: Deploying until every target reports, then Deployed; Succeeded
     * counted. */
    assert_int_equal(node_says(f, "ferry/default/nodes/n2/online", online_msg("n2", true, NULL)),
                     FERRY_OK);
    assert_int_equal(
        node_says(f, "ferry/default/nodes/n1/status/job", status_msg("n1", "job", vj, "Succeeded")),
        FERRY_OK);
    assert_int_equal(ferry_bridge_app_status(f->b, "default", "job", &out, &e), FERRY_OK);
    json_t *sum = json_object_get(out, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "succeeded")), 1);
    assert_string_equal(json_string_value(json_object_get(sum, "deployState")), "Deploying");
    json_decref(out);
    assert_int_equal(
        node_says(f, "ferry/default/nodes/n2/status/job", status_msg("n2", "job", vj, "Failed")),
        FERRY_OK);
    assert_int_equal(ferry_bridge_app_status(f->b, "default", "job", &out, &e), FERRY_OK);
    sum = json_object_get(out, "summary");
    want = J("{\"targeted\":2,\"applied\":2,\"running\":0,\"failed\":1,\"succeeded\":1,"
             "\"scheduled\":0,\"notReporting\":0,\"deployState\":\"Deployed\","
             "\"deployAt\":\"2001-01-01T00:00:00Z\"}");
    assert_json_equal(sum, want);
    json_decref(want);
    json_decref(out);
}

static void test_node_gpu(void **state) {
    fixture *f = *state;
    json_t *out = NULL;
    ferry_detail e;
    static const char gpu[] = "{\"sharing\":true,\"devices\":[{\"index\":0,\"model\":\"NVIDIA "
                              "H100 80GB HBM3\",\"memoryMiB\":81559}]}";

    node_create(f, "n1", "{\"region\":\"east\"}");
    assert_int_equal(ferry_bridge_node_get(f->b, "default", "n1", &out, &e), FERRY_OK);
    assert_null(json_object_get(out, "gpu")); /* never reported */
    json_decref(out);

    assert_int_equal(node_says(f, "ferry/default/nodes/n1/online", online_msg("n1", true, gpu)),
                     FERRY_OK);
    json_t *want = J(gpu);
    assert_int_equal(ferry_bridge_node_get(f->b, "default", "n1", &out, &e), FERRY_OK);
    assert_json_equal(json_object_get(out, "gpu"), want);
    json_decref(out);
    ferry_bridge_page pg = {.page = 1, .page_size = 20};
    assert_int_equal(ferry_bridge_node_list(f->b, "default", &pg, &out, &e), FERRY_OK);
    assert_json_equal(json_object_get(json_array_get(json_object_get(out, "items"), 0), "gpu"),
                      want);
    json_decref(out);
    assert_int_equal(ferry_bridge_node_apps(f->b, "default", "n1", &out, &e), FERRY_OK);
    assert_json_equal(json_object_get(out, "gpu"), want);
    json_decref(out);

    /* The last will (online: false) carries none: the report is kept. */
    assert_int_equal(node_says(f, "ferry/default/nodes/n1/online", online_msg("n1", false, NULL)),
                     FERRY_OK);
    assert_int_equal(ferry_bridge_node_get(f->b, "default", "n1", &out, &e), FERRY_OK);
    assert_false(json_is_true(json_object_get(out, "online")));
    assert_json_equal(json_object_get(out, "gpu"), want);
    json_decref(out);
    json_decref(want);

    /* A malformed report is not shown; a report without gpu clears it. */
    assert_int_equal(node_says(f, "ferry/default/nodes/n1/online",
                               online_msg("n1", true, "{\"sharing\":\"yes\",\"devices\":[]}")),
                     FERRY_OK);
    assert_int_equal(ferry_bridge_node_get(f->b, "default", "n1", &out, &e), FERRY_OK);
    assert_null(json_object_get(out, "gpu"));
    assert_true(json_is_true(json_object_get(out, "online")));
    json_decref(out);
    assert_int_equal(node_says(f, "ferry/default/nodes/n1/online", online_msg("n1", true, gpu)),
                     FERRY_OK);
    assert_int_equal(node_says(f, "ferry/default/nodes/n1/online", online_msg("n1", true, NULL)),
                     FERRY_OK);
    assert_int_equal(ferry_bridge_node_get(f->b, "default", "n1", &out, &e), FERRY_OK);
    assert_null(json_object_get(out, "gpu"));
    json_decref(out);
}

/* ---- record checks ---- */

static void test_config_records_checked(void **state) {
    fixture *f = *state;
    (void)f;
    json_t *rec = J("{\"ns\":\"default\",\"name\":\"s\",\"kind\":\"secret\",\"version\":3,"
                    "\"createdAt\":1,\"updatedAt\":2,\"config\":{\"name\":\"s\",\"kind\":"
                    "\"secret\",\"data\":{\"p\":{\"enc\":\"AAAA\",\"digest\":\"sha256:"
                    "0000000000000000000000000000000000000000000000000000000000000000\"}}}}");
    assert_true(bridge__config_record_ok("default/s", rec));
    assert_false(bridge__config_record_ok("default/t", rec)); /* under another key */
    json_t *bad = json_deep_copy(rec);
    json_object_set_new(json_object_get(json_object_get(bad, "config"), "data"), "p",
                        json_string("plain"));
    assert_false(bridge__config_record_ok("default/s", bad)); /* a secret not sealed */
    json_decref(bad);
    bad = json_deep_copy(rec);
    json_object_set_new(json_object_get(bad, "config"), "kind", json_string("config"));
    assert_false(bridge__config_record_ok("default/s", bad)); /* kinds disagree */
    json_decref(bad);
    bad = json_deep_copy(rec);
    json_object_set_new(json_object_get(bad, "config"), "bogus", json_true());
    assert_false(bridge__config_record_ok("default/s", bad)); /* not a valid config */
    json_decref(bad);
    json_decref(rec);
}

/* A hello costs bounded work: a node gets HELLO_BURST answers at once, then about one a second
 * (the rest are dropped; the node asks again after 30 s). */
static void test_hello_budget(void **state) {
    fixture *f = *state;
    node_create(f, "n1", "{}");
    node_create(f, "n2", "{}");
    settle(f);
    int64_t t0 = ferry_mono_ms();
    for (int i = 0; i < 25; i++)
        assert_int_equal(
            node_says(f, "ferry/default/nodes/n1/hello",
                      json_pack("{s:s, s:s, s:s, s:s, s:{}}", "type", "node.hello", "ns", "default",
                                "node", "n1", "reason", "retry", "apps")),
            FERRY_OK);
    /* 20 at once, plus one per second the loop took (slow under sanitizers). */
    size_t refills = (size_t)((ferry_mono_ms() - t0) / 1000);
    assert_true(f->rec.n >= 20 && f->rec.n <= 20 + refills);
    size_t answered = f->rec.n;
    /* Another node's budget is its own. */
    assert_int_equal(node_says(f, "ferry/default/nodes/n2/hello",
                               json_pack("{s:s, s:s, s:s, s:s, s:{}}", "type", "node.hello", "ns",
                                         "default", "node", "n2", "reason", "connect", "apps")),
                     FERRY_OK);
    assert_int_equal(f->rec.n, answered + 1);
    assert_string_equal(f->rec.items[answered].topic, "ferry/default/nodes/n2/sync");
}

/* A node.sync stays under the payload cap: apps whose specs (configs resolved) do not fit are
 * listed without spec, and the node's next hello (holding what came) gets the rest. */
static void test_big_sync_split(void **state) {
    fixture *f = *state;
    size_t big = 900u * 1024u;
    char *text = malloc(big + 1), name[32];
    memset(text, 'x', big);
    text[big] = '\0';
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "big%d", i);
        json_t *body = json_pack("{s:s, s:s, s:{s:s}}", "name", name, "kind", "config", "data", "f",
                                 text),
               *out = NULL;
        ferry_detail e;
        if (ferry_bridge_config_create(f->b, "default", body, &out, &e) != FERRY_OK)
            fail_msg("config create failed: %s (%s)", e.message, e.field);
        json_decref(body);
        json_decref(out);
        char app[512];
        snprintf(app, sizeof(app),
                 "{\"name\":\"%s\",\"volumes\":[{\"name\":\"c\",\"config\":{\"name\":"
                 "\"%s\"}}],\"services\":[{\"name\":\"s\",\"image\":\"img:1\","
                 "\"volumeMounts\":[{\"name\":\"c\",\"mountPath\":\"/c\"}]}]}",
                 name, name);
        create_app(f, app);
    }
    free(text);
    node_create(f, "n1", "{}");
    settle(f);

    json_t *held = json_object();
    for (int round = 0; round < 5 && json_object_size(held) < 5; round++) {
        json_t *hello = json_pack("{s:s, s:s, s:s, s:s, s:O}", "type", "node.hello", "ns",
                                  "default", "node", "n1", "reason", "gap", "apps", held);
        recorder_clear(&f->rec);
        assert_int_equal(node_says(f, "ferry/default/nodes/n1/hello", hello), FERRY_OK);
        published *p = find_msg(f, "node.sync", "ferry/default/nodes/n1/sync");
        assert_true(p->len <= FERRY_MAX_PAYLOAD);
        json_t *apps = json_object_get(p->msg, "apps"), *entry;
        size_t i, specs = 0;
        assert_int_equal(json_array_size(apps), 5); /* every app listed, with or without spec */
        json_array_foreach(apps, i, entry) {
            if (json_object_get(entry, "spec") == NULL)
                continue;
            specs++;
            json_object_set(held, json_string_value(json_object_get(entry, "app")),
                            json_object_get(entry, "version"));
        }
        /* 1.2 MiB each on the wire (base64): not all fit one sync, but each answer moves on. */
        assert_true(specs >= 1);
        assert_true(round > 0 || specs < 5);
        printf("round %d: %zu specs in %zu bytes\n", round, specs, p->len);
    }
    assert_int_equal(json_object_size(held), 5);
    json_decref(held);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_file, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_config_crud, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_secrets_never_returned_nor_stored,
                                        bridge_fixture_setup, bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_files_in_folders, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_wire_doc, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_config_change_republishes, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_delete_in_use_conflict, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_missing_reference_refused, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_selector_preview, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_scheduled_and_summary, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_node_gpu, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_config_records_checked, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_big_sync_split, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_hello_budget, bridge_fixture_setup,
                                        bridge_fixture_teardown),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
