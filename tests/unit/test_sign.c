/* Unit tests of schema/sign.c: Ed25519 signatures over topic and payload, and X25519 sealed
 * boxes, with the RFC 8032 key vector and every way a forgery or a wrong recipient can try. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ferry/sign.h"

static void hex(const char *s, unsigned char *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        sscanf(s + 2 * i, "%2hhx", &out[i]);
}

static void test_rfc8032_public_key(void **state) {
    ferry_keypair kp;
    unsigned char want[32];
    (void)state;
    hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", kp.seed, 32);
    hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", want, 32);
    assert_int_equal(ferry_sign_keypair(&kp), FERRY_OK);
    assert_memory_equal(kp.pub, want, 32);
}

static void test_sign_and_verify(void **state) {
    ferry_keypair kp, other;
    char sig[FERRY_SIGN_SIG_B64];
    static const char topic[] = "ferry/default/nodes/a/sync";
    static const unsigned char payload[] = {0x82, 0xa1, 'v', 0x01, 0x00, 0xff};
    (void)state;
    memset(kp.seed, 7, 32);
    memset(other.seed, 8, 32);
    assert_int_equal(ferry_sign_keypair(&kp), FERRY_OK);
    assert_int_equal(ferry_sign_keypair(&other), FERRY_OK);
    assert_int_equal(ferry_sign_message(&kp, topic, payload, sizeof(payload), sig), FERRY_OK);
    assert_int_equal(strlen(sig), FERRY_SIGN_SIG_B64 - 1);
    assert_true(ferry_sign_verify(kp.pub, topic, strlen(topic), payload, sizeof(payload), sig));
    /* Another key, another topic (a replay onto node b), changed bytes: all refused. */
    assert_false(ferry_sign_verify(other.pub, topic, strlen(topic), payload, sizeof(payload), sig));
    assert_false(
        ferry_sign_verify(kp.pub, "ferry/default/nodes/b/sync", 26, payload, sizeof(payload), sig));
    unsigned char changed[sizeof(payload)];
    memcpy(changed, payload, sizeof(payload));
    changed[3] = 0x02;
    assert_false(ferry_sign_verify(kp.pub, topic, strlen(topic), changed, sizeof(changed), sig));
    /* The boundary between topic and payload is part of what is signed. */
    assert_false(
        ferry_sign_verify(kp.pub, topic, strlen(topic) - 1, payload, sizeof(payload), sig));
    /* Malformed signatures. */
    assert_false(ferry_sign_verify(kp.pub, topic, strlen(topic), payload, sizeof(payload), NULL));
    assert_false(ferry_sign_verify(kp.pub, topic, strlen(topic), payload, sizeof(payload), ""));
    assert_false(ferry_sign_verify(kp.pub, topic, strlen(topic), payload, sizeof(payload), "!!"));
    char bad[FERRY_SIGN_SIG_B64];
    memcpy(bad, sig, sizeof(bad));
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    assert_false(ferry_sign_verify(kp.pub, topic, strlen(topic), payload, sizeof(payload), bad));
}

static void test_public_key_text(void **state) {
    ferry_keypair kp;
    char b64[FERRY_SIGN_PUB_B64];
    unsigned char back[32];
    (void)state;
    memset(kp.seed, 3, 32);
    assert_int_equal(ferry_sign_keypair(&kp), FERRY_OK);
    ferry_sign_pub_encode(kp.pub, b64);
    assert_int_equal(ferry_sign_pub_decode(b64, back), FERRY_OK);
    assert_memory_equal(back, kp.pub, 32);
    assert_int_equal(ferry_sign_pub_decode("AAAA", back), FERRY_EINVAL);
    assert_int_equal(ferry_sign_pub_decode(NULL, back), FERRY_EINVAL);
    b64[5] = '*';
    assert_int_equal(ferry_sign_pub_decode(b64, back), FERRY_EINVAL);
}

static void test_box(void **state) {
    ferry_keypair node, other;
    unsigned char *sealed = NULL, *plain = NULL;
    size_t slen = 0, plen = 0;
    static const char secret[] = "password=hunter2";
    (void)state;
    memset(node.seed, 11, 32);
    memset(other.seed, 12, 32);
    assert_int_equal(ferry_box_keypair(&node), FERRY_OK);
    assert_int_equal(ferry_box_keypair(&other), FERRY_OK);
    assert_int_equal(
        ferry_box_seal(node.pub, "ns/a/web", 8, secret, sizeof(secret) - 1, &sealed, &slen),
        FERRY_OK);
    assert_int_equal(slen, sizeof(secret) - 1 + FERRY_BOX_OVERHEAD);
    assert_null(memmem(sealed, slen, "hunter2", 7));
    assert_int_equal(ferry_box_open(&node, "ns/a/web", 8, sealed, slen, &plain, &plen), FERRY_OK);
    assert_int_equal(plen, sizeof(secret) - 1);
    assert_string_equal((char *)plain, secret);
    ferry_free(plain);
    /* Another node, another place, a flipped byte, a truncated box: none opens. */
    assert_int_equal(ferry_box_open(&other, "ns/a/web", 8, sealed, slen, &plain, &plen),
                     FERRY_EINVAL);
    assert_int_equal(ferry_box_open(&node, "ns/b/web", 8, sealed, slen, &plain, &plen),
                     FERRY_EINVAL);
    sealed[slen - 1] ^= 1;
    assert_int_equal(ferry_box_open(&node, "ns/a/web", 8, sealed, slen, &plain, &plen),
                     FERRY_EINVAL);
    assert_int_equal(
        ferry_box_open(&node, "ns/a/web", 8, sealed, FERRY_BOX_OVERHEAD - 1, &plain, &plen),
        FERRY_EFORMAT);
    /* An all-zero ephemeral key (a low-order point) is refused, not a crash. */
    memset(sealed, 0, 32);
    assert_int_not_equal(ferry_box_open(&node, "ns/a/web", 8, sealed, slen, &plain, &plen),
                         FERRY_OK);
    assert_null(plain);
    ferry_free(sealed);
    /* Two seals of the same text differ (fresh ephemeral key and nonce). */
    unsigned char *a = NULL, *b = NULL;
    size_t al, bl;
    assert_int_equal(ferry_box_seal(node.pub, "", 0, "x", 1, &a, &al), FERRY_OK);
    assert_int_equal(ferry_box_seal(node.pub, "", 0, "x", 1, &b, &bl), FERRY_OK);
    assert_memory_not_equal(a, b, al);
    ferry_free(a);
    ferry_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8032_public_key),
        cmocka_unit_test(test_sign_and_verify),
        cmocka_unit_test(test_public_key_text),
        cmocka_unit_test(test_box),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
