/* Unit tests of schema/bundle.c: the secret material of a wire document split out into a bundle
 * and merged back, and every way a bundle that is not the app's is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "ferry/app.h"
#include "ferry/bundle.h"
#include "unit.h"

/* A wire document with a config, a secret, a certificate and a registry. */
static json_t *wire(void) {
    return J("{\"name\":\"web\",\"services\":[{\"name\":\"s\",\"image\":\"r.example/i:1\","
             "\"volumeMounts\":[{\"name\":\"c\",\"mountPath\":\"/c\"},{\"name\":\"s\","
             "\"mountPath\":\"/s\"},{\"name\":\"t\",\"mountPath\":\"/t\"}]}],"
             "\"volumes\":[{\"name\":\"c\",\"config\":{\"name\":\"conf\"}},{\"name\":\"s\","
             "\"secret\":{\"name\":\"pw\"}},{\"name\":\"t\",\"certificate\":{\"name\":\"tls\"}}],"
             "\"registries\":[\"reg\"],"
             "\"resolved\":{\"configs\":{"
             "\"conf\":{\"kind\":\"config\",\"version\":3,\"files\":{\"a\":{\"data\":\"YQ==\","
             "\"mode\":420}}},"
             "\"pw\":{\"kind\":\"secret\",\"version\":4,\"files\":{\"password\":{\"data\":"
             "\"aHVudGVyMg==\",\"mode\":384}}},"
             "\"tls\":{\"kind\":\"certificate\",\"version\":5,\"files\":{\"tls.crt\":{\"data\":"
             "\"Y2VydA==\",\"mode\":420},\"tls.key\":{\"data\":\"a2V5\",\"mode\":384}}}},"
             "\"registries\":[{\"name\":\"reg\",\"server\":\"r.example\",\"username\":\"u\","
             "\"password\":\"p4ss\"}]}}");
}

static void test_split_and_merge(void **state) {
    json_t *w = wire(), *pub = NULL, *bundle = NULL, *full = NULL;
    char digest[FERRY_SECRETS_DIGEST_LEN];
    ferry_detail d;
    (void)state;
    assert_int_equal(ferry_bundle_split(w, &pub, &bundle, digest), FERRY_OK);
    assert_non_null(bundle);
    /* The public document holds no secret value, and is a valid wire document. */
    char *text = json_dumps(pub, JSON_COMPACT);
    assert_null(strstr(text, "aHVudGVyMg=="));
    assert_null(strstr(text, "a2V5"));
    assert_null(strstr(text, "p4ss"));
    assert_non_null(strstr(text, "YQ=="));     /* a plain config stays */
    assert_non_null(strstr(text, "Y2VydA==")); /* so does a certificate's public part */
    free(text);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(pub, "resolved"), "secrets")), digest);
    if (ferry_app_validate_ex(pub, FERRY_APP_ALLOW_RESOLVED, &d) != FERRY_OK)
        fail_msg("public document invalid: %s: %s", d.field, d.message);
    /* The bundle and its digest. */
    json_t *want = J("{\"configs\":{\"pw\":{\"password\":\"aHVudGVyMg==\"},\"tls\":{"
                     "\"tls.key\":\"a2V5\"}},\"registries\":{\"reg\":\"p4ss\"}}");
    assert_json_equal(bundle, want);
    json_decref(want);
    char again[FERRY_SECRETS_DIGEST_LEN];
    assert_int_equal(ferry_bundle_digest(bundle, again), FERRY_OK);
    assert_string_equal(again, digest);
    /* Merged back: the document as it was. */
    assert_int_equal(ferry_bundle_merge(pub, bundle, &full, &d), FERRY_OK);
    assert_json_equal(full, w);
    json_decref(full);

    /* Another bundle (a changed value), a missing value, an extra one: refused. */
    json_t *b2 = json_deep_copy(bundle);
    json_object_set_new(json_object_get(b2, "registries"), "reg", json_string("other"));
    assert_int_equal(ferry_bundle_merge(pub, b2, &full, &d), FERRY_EINVAL);
    assert_null(full);
    json_decref(b2);
    b2 = json_deep_copy(bundle);
    json_object_del(json_object_get(b2, "configs"), "tls");
    assert_int_equal(ferry_bundle_merge(pub, b2, &full, &d), FERRY_EINVAL);
    json_decref(b2);
    assert_int_equal(ferry_bundle_merge(pub, NULL, &full, &d), FERRY_EINVAL);
    /* A bundle whose digest matches but whose value does not: the public document is changed to
     * name the forged bundle, yet the value's own digest still refuses it. */
    json_t *pub2 = json_deep_copy(pub);
    b2 = json_deep_copy(bundle);
    json_object_set_new(json_object_get(json_object_get(b2, "configs"), "tls"), "tls.key",
                        json_string("b3RoZXI="));
    assert_int_equal(ferry_bundle_digest(b2, again), FERRY_OK);
    json_object_set_new(json_object_get(pub2, "resolved"), "secrets", json_string(again));
    assert_int_equal(ferry_bundle_merge(pub2, b2, &full, &d), FERRY_EINVAL);
    assert_string_equal(d.field, "bundle");
    json_decref(b2);
    json_decref(pub2);
    json_decref(pub);
    json_decref(bundle);
    json_decref(w);
}

static void test_no_secrets(void **state) {
    json_t *w = J("{\"name\":\"web\",\"services\":[{\"name\":\"s\",\"image\":\"i:1\"}]}");
    json_t *pub = NULL, *bundle = NULL, *full = NULL;
    char digest[FERRY_SECRETS_DIGEST_LEN];
    ferry_detail d;
    (void)state;
    assert_int_equal(ferry_bundle_split(w, &pub, &bundle, digest), FERRY_OK);
    assert_null(bundle);
    assert_string_equal(digest, "");
    assert_json_equal(pub, w);
    assert_int_equal(ferry_bundle_merge(pub, NULL, &full, &d), FERRY_OK);
    assert_json_equal(full, w);
    json_decref(full);
    /* A placeholder without resolved.secrets cannot be filled. */
    json_t *odd = wire(), *p2 = NULL, *b2 = NULL;
    assert_int_equal(ferry_bundle_split(odd, &p2, &b2, digest), FERRY_OK);
    json_object_del(json_object_get(p2, "resolved"), "secrets");
    assert_int_equal(ferry_bundle_merge(p2, b2, &full, &d), FERRY_EINVAL);
    json_decref(odd);
    json_decref(p2);
    json_decref(b2);
    json_decref(pub);
    json_decref(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_and_merge),
        cmocka_unit_test(test_no_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
