/* Unit tests of broker-bridge's token store (tokens.c): the admin token file, creating, listing,
 * reading and deleting tokens, and finding the grant of a presented token. */
#include <fcntl.h>
#include <sys/stat.h>

#include "bridge_test.h"
#include "tokens.h"

static void admin_path(const bridge_fixture *f, char *buf, size_t len) {
    snprintf(buf, len, "%s.admin-token", f->dir);
}

/* The file's content, NUL-terminated, into buf; its mode into *mode. */
static void read_file(const char *path, char *buf, size_t len, mode_t *mode) {
    struct stat st;
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, len - 1, fp);
    buf[n] = '\0';
    assert_int_equal(fstat(fileno(fp), &st), 0);
    *mode = st.st_mode & 07777;
    fclose(fp);
}

static void write_file(const char *path, const char *text, mode_t mode) {
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static ferry_err auth(bridge_fixture *f, const char *token, ferry_auth_grant *g) {
    return ferry_tokens_authenticate(f->b, token, strlen(token), g);
}

static void test_token_text(void **state) {
    char a[FERRY_TOKEN_LEN + 1], b[FERRY_TOKEN_LEN + 1];
    (void)state;
    assert_int_equal(ferry_tokens__generate(a), FERRY_OK);
    assert_int_equal(ferry_tokens__generate(b), FERRY_OK);
    assert_int_equal(strlen(a), FERRY_TOKEN_LEN);
    assert_int_equal(FERRY_TOKEN_LEN, 49);
    assert_true(strncmp(a, "ferry_", 6) == 0);
    assert_int_equal(
        strspn(a + 6, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    assert_string_not_equal(a, b);
    assert_true(ferry_tokens__well_formed(a, strlen(a)));
    assert_false(ferry_tokens__well_formed(a, strlen(a) - 1));
    a[20] = '+';
    assert_false(ferry_tokens__well_formed(a, strlen(a)));
    a[20] = 'A';
    a[0] = 'F';
    assert_false(ferry_tokens__well_formed(a, strlen(a)));
}

static void test_admin_file(void **state) {
    bridge_fixture *f = *state;
    char path[700], text[300], again[300];
    mode_t mode = 0;
    bool created = false;
    ferry_auth_grant g;

    /* First start: the file appears, mode 0600, one token and a newline. */
    admin_path(f, path, sizeof(path));
    assert_int_equal(ferry_tokens_admin_file(f->b, path, &created), FERRY_OK);
    assert_true(created);
    read_file(path, text, sizeof(text), &mode);
    assert_int_equal(mode, 0600);
    assert_int_equal(strlen(text), FERRY_TOKEN_LEN + 1);
    assert_int_equal(text[FERRY_TOKEN_LEN], '\n');
    text[FERRY_TOKEN_LEN] = '\0';
    assert_int_equal(auth(f, text, &g), FERRY_OK);
    assert_string_equal(g.id, "admin");
    assert_string_equal(g.name, "admin");
    assert_int_equal(g.role, FERRY_ROLE_ADMIN);
    assert_true(g.all_namespaces);
    assert_true(g.privileged);

    /* Restart: the same file, the same token. */
    bridge_fixture_reopen(f);
    assert_int_equal(ferry_tokens_admin_file(f->b, path, &created), FERRY_OK);
    assert_false(created);
    read_file(path, again, sizeof(again), &mode);
    assert_int_equal(strlen(again), FERRY_TOKEN_LEN + 1);
    assert_true(strncmp(again, text, FERRY_TOKEN_LEN) == 0);
    assert_int_equal(auth(f, text, &g), FERRY_OK);

    /* A token written by hand (no newline) replaces the stored one; the old one stops working. */
    char mine[FERRY_TOKEN_LEN + 1];
    assert_int_equal(ferry_tokens__generate(mine), FERRY_OK);
    write_file(path, mine, 0600);
    assert_int_equal(ferry_tokens_admin_file(f->b, path, &created), FERRY_OK);
    assert_int_equal(auth(f, mine, &g), FERRY_OK);
    assert_int_equal(auth(f, text, &g), FERRY_ENOTFOUND);

    /* Deleted: a new one is made at the next start. */
    unlink(path);
    assert_int_equal(ferry_tokens_admin_file(f->b, path, &created), FERRY_OK);
    assert_true(created);
    assert_int_equal(auth(f, mine, &g), FERRY_ENOTFOUND);

    /* Refused: readable by group or others, not one token, not a regular file. */
    write_file(path, mine, 0640);
    assert_int_equal(ferry_tokens_admin_file(f->b, path, NULL), FERRY_EINVAL);
    write_file(path, mine, 0604);
    assert_int_equal(ferry_tokens_admin_file(f->b, path, NULL), FERRY_EINVAL);
    write_file(path, "ferry_short\n", 0600);
    assert_int_equal(ferry_tokens_admin_file(f->b, path, NULL), FERRY_EINVAL);
    write_file(path, "", 0600);
    assert_int_equal(ferry_tokens_admin_file(f->b, path, NULL), FERRY_EINVAL);
    unlink(path);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(ferry_tokens_admin_file(f->b, path, NULL), FERRY_EINVAL);
    rmdir(path);
    /* Its folder missing: an I/O error, nothing stored. */
    assert_int_equal(ferry_tokens_admin_file(f->b, "/nonexistent/dir/admin-token", NULL),
                     FERRY_EIO);
}

static void test_crud(void **state) {
    bridge_fixture *f = *state;
    char path[700], token[FERRY_TOKEN_LEN + 1], id[32];
    json_t *out = NULL, *body = NULL;
    ferry_detail e = {"", ""};
    ferry_auth_grant g;

    admin_path(f, path, sizeof(path));
    assert_int_equal(ferry_tokens_admin_file(f->b, path, NULL), FERRY_OK);
    body = J("{\"name\":\"ci\",\"role\":\"editor\",\"namespaces\":[\"b\",\"a\"]}");
    assert_int_equal(ferry_tokens_create(f->b, body, &out, &e), FERRY_OK);
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(out, "token")));
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(out, "id")));
    assert_int_equal(strlen(id), 16);
    assert_int_equal(strspn(id, "0123456789abcdef"), 16);
    json_decref(out);
    assert_int_equal(auth(f, token, &g), FERRY_OK);
    assert_string_equal(g.id, id);
    assert_string_equal(g.name, "ci");
    assert_int_equal(g.role, FERRY_ROLE_EDITOR);
    assert_int_equal(g.n_namespaces, 2);
    assert_string_equal(g.namespaces[0], "b");

    /* Names are unique; "admin" is the file's. */
    assert_int_equal(ferry_tokens_create(f->b, body, &out, &e), FERRY_EEXIST);
    assert_null(out);
    assert_string_equal(e.field, "name");
    json_decref(body);
    body = J("{\"name\":\"admin\",\"role\":\"admin\"}");
    assert_int_equal(ferry_tokens_create(f->b, body, &out, &e), FERRY_EEXIST);
    json_decref(body);
    body = J("{\"name\":\"ro\",\"role\":\"viewer\"}");
    assert_int_equal(ferry_tokens_create(f->b, body, &out, &e), FERRY_EINVAL);
    assert_string_equal(e.field, "namespaces");
    json_decref(body);
    body = J("{\"name\":\"audit\",\"role\":\"viewer\",\"namespaces\":[\"*\"]}");
    assert_int_equal(ferry_tokens_create(f->b, body, &out, &e), FERRY_OK);
    json_decref(out);
    json_decref(body);

    /* Survives a restart; listed by name, never with the token or its digest. */
    bridge_fixture_reopen(f);
    assert_int_equal(auth(f, token, &g), FERRY_OK);
    assert_int_equal(ferry_tokens_list(f->b, &out, &e), FERRY_OK);
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 3);
    const char *order[] = {"admin", "audit", "ci"};
    for (size_t i = 0; i < 3; i++) {
        json_t *it = json_array_get(items, i);
        assert_string_equal(json_string_value(json_object_get(it, "name")), order[i]);
        assert_int_equal(json_object_size(it),
                         6); /* id name role namespaces privileged createdAt */
    }
    char *text = json_dumps(out, 0);
    assert_null(strstr(text, "ferry_"));
    assert_null(strstr(text, "sha256"));
    free(text);
    json_decref(out);
    assert_int_equal(ferry_tokens_get(f->b, id, &out, &e), FERRY_OK);
    json_t *want = J("{\"name\":\"ci\",\"role\":\"editor\",\"namespaces\":[\"b\",\"a\"],"
                     "\"privileged\":false}");
    assert_string_equal(json_string_value(json_object_get(out, "id")), id);
    json_object_del(out, "id");
    json_object_del(out, "createdAt");
    assert_json_equal(out, want);
    json_decref(want);
    json_decref(out);
    assert_int_equal(ferry_tokens_get(f->b, "0123456789abcdef", &out, &e), FERRY_ENOTFOUND);
    assert_int_equal(ferry_tokens_get(f->b, "../t/admin", &out, &e), FERRY_ENOTFOUND);

    /* Deleted: gone at once; the admin token cannot be. */
    assert_int_equal(ferry_tokens_delete(f->b, "admin", &out, &e), FERRY_ECONFLICT);
    assert_int_equal(ferry_tokens_delete(f->b, id, &out, &e), FERRY_OK);
    want = J("{\"name\":\"ci\",\"deleted\":true}");
    json_object_set_new(want, "id", json_string(id));
    assert_json_equal(out, want);
    json_decref(want);
    json_decref(out);
    assert_int_equal(auth(f, token, &g), FERRY_ENOTFOUND);
    assert_int_equal(ferry_tokens_delete(f->b, id, &out, &e), FERRY_ENOTFOUND);
    assert_int_equal(ferry_tokens_get(f->b, id, &out, &e), FERRY_ENOTFOUND);

    /* Not tokens of ours. */
    assert_int_equal(auth(f, "", &g), FERRY_ENOTFOUND);
    assert_int_equal(auth(f, "ferry_", &g), FERRY_ENOTFOUND);
    token[10] ^= 1;
    assert_int_equal(auth(f, token, &g), FERRY_ENOTFOUND);
    /* The rev is the apps' and nodes' version counter: tokens leave it alone. */
    assert_int_equal(rev_of(f->b), 0);
}

/* Failing allocations while reading tokens (list, authenticate): a clean error, no leak (ASan
 * checks the leaks). Writes are left out: the record codec under them (schema/record.c) copies
 * the record with json_copy, which drops members silently when an allocation fails. */
static void test_alloc_failures(void **state) {
    bridge_fixture *f = *state;
    char path[700], token[FERRY_TOKEN_LEN + 1];
    json_t *body = J("{\"name\":\"ci\",\"role\":\"editor\",\"namespaces\":[\"a\"]}");
    json_t *out = NULL;
    ferry_detail e;
    ferry_auth_grant g;
    ferry_err err = FERRY_ENOMEM;

    admin_path(f, path, sizeof(path));
    assert_int_equal(ferry_tokens_admin_file(f->b, path, NULL), FERRY_OK);
    assert_int_equal(ferry_tokens_create(f->b, body, &out, &e), FERRY_OK);
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(out, "token")));
    json_decref(out);
    json_decref(body);
    for (long n = 1; n < 500 && err != FERRY_OK; n++) {
        out = NULL;
        ferry_alloc_fail_after(n);
        err = ferry_tokens_list(f->b, &out, &e);
        ferry_alloc_fail_after(0);
        if (err != FERRY_OK)
            assert_null(out);
    }
    assert_int_equal(err, FERRY_OK);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
    json_decref(out);
    err = FERRY_ENOMEM;
    for (long n = 1; n < 500 && err != FERRY_OK; n++) {
        ferry_alloc_fail_after(n);
        err = ferry_tokens_authenticate(f->b, token, strlen(token), &g);
        ferry_alloc_fail_after(0);
        assert_true(err == FERRY_OK || err == FERRY_ENOMEM || err == FERRY_ENOTFOUND);
    }
    assert_int_equal(err, FERRY_OK);
    assert_string_equal(g.name, "ci");
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_text),
        cmocka_unit_test_setup_teardown(test_admin_file, bridge_fixture_setup,
                                        bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_crud, bridge_fixture_setup, bridge_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, bridge_fixture_setup,
                                        bridge_fixture_teardown),
    };
    return FERRY_RUN_TESTS(tests, argc, argv);
}
