/* Unit tests of edge-sync/plan.c: every decision of the reconciler, from plain data (hand-made
 * observations of the engine and desired apps with made-up hashes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ferry/app.h"
#include "plan.h"

/* ---- building inputs ---- */

typedef struct {
    ferry_observed items[32];
    ferry_observation o;
} obs_t;

static void obs_reset(obs_t *b) {
    memset(b, 0, sizeof(*b));
    b->o.items = b->items;
}

/* A container's new state; a stopped one gets a log tail, as observe.c reads them. */
static void set_status(ferry_observed *c, const char *status, long long exit_code) {
    snprintf(c->st.status, sizeof(c->st.status), "%s", status);
    c->st.exit_code = exit_code;
    if (strcmp(status, "exited") == 0) {
        char name[sizeof(c->name)];
        memcpy(name, c->name, sizeof(name));
        snprintf(c->log_tail, sizeof(c->log_tail), "tail of %s", name);
    }
}

static ferry_observed *obs_add(obs_t *b, ferry_role role, int replica, const char *member,
                               const char *hash, long long version, const char *status,
                               long long exit_code) {
    ferry_observed *c = &b->items[b->o.n++];
    memset(c, 0, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "id-%zu", b->o.n);
    snprintf(c->name, sizeof(c->name), "ferry.n1.ns.app.%d%s%s", replica, member != NULL ? "." : "",
             member != NULL ? member : "");
    snprintf(c->image, sizeof(c->image), "img:1");
    c->role = role;
    c->replica = replica;
    snprintf(c->member, sizeof(c->member), "%s", member != NULL ? member : "");
    snprintf(c->hash, sizeof(c->hash), "%s", hash);
    c->version = version;
    set_status(c, status, exit_code);
    return c;
}

/* A desired app over spec, every member's hash "h-NAME" and the infra hash "h-infra". */
typedef struct {
    ferry_app_desired d;
    ferry_pod_in pods[4];
    ferry_member inits[4][4], services[4][4];
    json_t *spec;
} desired_t;

static void desired(desired_t *w, json_t *spec, long long version) {
    json_t *norm = ferry_app_normalize(spec);
    assert_non_null(norm);
    json_decref(spec);
    memset(w, 0, sizeof(*w));
    w->spec = norm;
    ferry_plan_desired_init(&w->d, "app", version, norm);
    snprintf(w->d.infra_hash, sizeof(w->d.infra_hash), "h-infra");
    w->d.pod = w->pods;
    for (int r = 0; r < w->d.pods && r < 4; r++) {
        w->pods[r].inits = w->inits[r];
        w->pods[r].services = w->services[r];
        for (size_t k = 0; k < w->d.n_inits; k++) {
            ferry_member *m = &w->inits[r][k];
            m->obj = json_array_get(json_object_get(norm, "initServices"), k);
            m->name = json_string_value(json_object_get(m->obj, "name"));
            m->image = json_string_value(json_object_get(m->obj, "image"));
            snprintf(m->hash, sizeof(m->hash), "h-%s", m->name);
        }
        for (size_t k = 0; k < w->d.n_services; k++) {
            ferry_member *m = &w->services[r][k];
            m->obj = json_array_get(json_object_get(norm, "services"), k);
            m->name = json_string_value(json_object_get(m->obj, "name"));
            m->image = json_string_value(json_object_get(m->obj, "image"));
            snprintf(m->hash, sizeof(m->hash), "h-%s", m->name);
        }
    }
}

static void desired_done(desired_t *w) {
    json_decref(w->spec);
}

/* An app with services web and db, optionally init containers and a workload. */
static json_t *app_spec(const char *workload, int inits, int replicas) {
    json_t *spec =
        json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:i}", "name", "app", "services", "name",
                  "web", "image", "img:1", "name", "db", "image", "img:1", "replicas", replicas);
    json_t *list = json_array();
    for (int i = 0; i < inits; i++)
        json_array_append_new(
            list, json_pack("{s:s, s:s}", "name", i == 0 ? "init-a" : "init-b", "image", "img:1"));
    json_object_set_new(spec, "initServices", list);
    if (workload != NULL)
        json_object_set_new(spec, "workload", json_string(workload));
    return spec;
}

static const ferry_directive RUN = {.kind = FERRY_DIRECTIVE_RUN};

static ferry_app_plan plan(const ferry_directive *dir, const ferry_app_desired *d,
                           const ferry_observation *o, const ferry_failures *f) {
    ferry_app_plan p;
    assert_int_equal(ferry_plan_app(dir, d, o, f, &p), FERRY_OK);
    return p;
}

/* Actions as text, "create infra 0; create service 0/1 ..." */
static const char *actions(const ferry_app_plan *p, char *buf, size_t len) {
    static const char *const kinds[] = {"create", "start", "stop", "remove", "remove-pod", "wait"};
    static const char *const roles[] = {"infra", "init", "service", "other"};
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < p->n; i++) {
        const ferry_action *a = &p->actions[i];
        off += (size_t)snprintf(buf + off, len - off, "%s%s %s %d/%d%s%s", i ? "; " : "",
                                kinds[a->kind], roles[a->role], a->replica, a->index,
                                a->id[0] ? " " : "", a->id);
    }
    return buf;
}

/* ---- tests ---- */

static void test_create_in_order(void **state) {
    desired_t w;
    obs_t b;
    char buf[512];
    (void)state;
    desired(&w, app_spec(NULL, 0, 1), 3);
    obs_reset(&b);
    /* Nothing runs: the infra container first, alone. */
    ferry_app_plan p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "create infra 0/0");
    assert_string_equal(p.phase, "Deploying");
    assert_int_equal(json_array_size(p.containers), 2); /* both services reported, waiting */
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(p.containers, 0), "state")), "waiting");
    ferry_app_plan_clear(&p);
    /* Infra created but not started: start it. */
    obs_add(&b, FERRY_ROLE_INFRA, 0, NULL, "h-infra", 3, "created", 0);
    p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "start infra 0/0 id-1");
    ferry_app_plan_clear(&p);
    /* Infra runs: every service at once. */
    snprintf(b.items[0].st.status, sizeof(b.items[0].st.status), "running");
    p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "create service 0/0; create service 0/1");
    ferry_app_plan_clear(&p);
    /* Everything runs: nothing to do. */
    obs_add(&b, FERRY_ROLE_SERVICE, 0, "web", "h-web", 3, "running", 0);
    obs_add(&b, FERRY_ROLE_SERVICE, 0, "db", "h-db", 3, "running", 0);
    p = plan(&RUN, &w.d, &b.o, NULL);
    assert_int_equal(p.n, 0);
    assert_string_equal(p.phase, "Running");
    assert_string_equal(p.message, "");
    ferry_app_plan_clear(&p);
    desired_done(&w);
}

static void test_replace_on_hash_change(void **state) {
    desired_t w;
    obs_t b;
    char buf[512];
    (void)state;
    desired(&w, app_spec(NULL, 0, 1), 4);
    obs_reset(&b);
    obs_add(&b, FERRY_ROLE_INFRA, 0, NULL, "h-infra", 3, "running", 0);
    obs_add(&b, FERRY_ROLE_SERVICE, 0, "web", "old-web", 3, "running", 0);
    obs_add(&b, FERRY_ROLE_SERVICE, 0, "db", "h-db", 3, "running", 0);
    /* Only the changed service is replaced (its old container named for the act step). */
    ferry_app_plan p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "create service 0/0 id-2");
    ferry_app_plan_clear(&p);
    /* A changed pod network (ports, hostNetwork) replaces the whole pod. */
    snprintf(b.items[0].hash, sizeof(b.items[0].hash), "old-infra");
    p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "remove-pod infra 0/0");
    ferry_app_plan_clear(&p);
    desired_done(&w);
}

static void test_remove(void **state) {
    ferry_directive dir = {.kind = FERRY_DIRECTIVE_REMOVE};
    obs_t b;
    char buf[512];
    (void)state;
    obs_reset(&b);
    obs_add(&b, FERRY_ROLE_INFRA, 0, NULL, "h", 3, "running", 0);
    ferry_app_plan p = plan(&dir, NULL, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "remove-pod infra -1/0");
    assert_string_equal(p.phase, "Deploying");
    assert_true(p.report);
    ferry_app_plan_clear(&p);
    obs_reset(&b);
    p = plan(&dir, NULL, &b.o, NULL);
    assert_int_equal(p.n, 0);
    assert_string_equal(p.phase, "Removed");
    ferry_app_plan_clear(&p);
    /* An app the store does not know: its containers go, and nothing is reported. */
    dir.kind = FERRY_DIRECTIVE_FORGET;
    obs_add(&b, FERRY_ROLE_SERVICE, 0, "x", "h", 3, "running", 0);
    p = plan(&dir, NULL, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "remove-pod infra -1/0");
    assert_false(p.report);
    ferry_app_plan_clear(&p);
}

static void test_extras_and_replicas_go(void **state) {
    desired_t w;
    obs_t b;
    char buf[512];
    (void)state;
    desired(&w, app_spec(NULL, 0, 1), 3);
    obs_reset(&b);
    obs_add(&b, FERRY_ROLE_INFRA, 0, NULL, "h-infra", 3, "running", 0);
    obs_add(&b, FERRY_ROLE_SERVICE, 0, "web", "h-web", 3, "running", 0);
    obs_add(&b, FERRY_ROLE_SERVICE, 0, "db", "h-db", 3, "running", 0);
    obs_add(&b, FERRY_ROLE_SERVICE, 0, "cache", "h-cache", 3, "running", 0); /* not in spec */
    obs_add(&b, FERRY_ROLE_INFRA, 1, NULL, "h-infra", 3, "running", 0);      /* replica 1 of 1 */
    ferry_app_plan p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)),
                        "remove service 0/0 id-4; remove-pod infra 1/0");
    ferry_app_plan_clear(&p);
    desired_done(&w);
}

static void test_init_order(void **state) {
    desired_t w;
    obs_t b;
    char buf[512];
    (void)state;
    desired(&w, app_spec(NULL, 2, 1), 3);
    obs_reset(&b);
    obs_add(&b, FERRY_ROLE_INFRA, 0, NULL, "h-infra", 3, "running", 0);
    /* The first init container, and nothing else. */
    ferry_app_plan p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "create init 0/0");
    assert_true(p.busy);
    ferry_app_plan_clear(&p);
    /* It runs: wait for it. */
    ferry_observed *a = obs_add(&b, FERRY_ROLE_INIT, 0, "init-a", "h-init-a", 3, "running", 0);
    p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "wait init 0/0 id-2");
    assert_string_equal(p.message, "init container init-a running");
    assert_string_equal(p.phase, "Deploying");
    ferry_app_plan_clear(&p);
    /* It exited 0: the second one. */
    set_status(a, "exited", 0);
    p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "create init 0/1");
    ferry_app_plan_clear(&p);
    /* Both done: the services. */
    obs_add(&b, FERRY_ROLE_INIT, 0, "init-b", "h-init-b", 3, "exited", 0);
    p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "create service 0/0; create service 0/1");
    ferry_app_plan_clear(&p);
    /* The first one changes: it, the second one and the services run again, in order. */
    obs_add(&b, FERRY_ROLE_SERVICE, 0, "web", "h-web", 3, "running", 0);
    snprintf(a->hash, sizeof(a->hash), "old");
    p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)),
                        "remove init 0/0 id-2; remove init 0/0 id-3; remove service 0/0 id-4");
    ferry_app_plan_clear(&p);
    /* An init container that failed fails the app, naming it, with the end of its log. */
    snprintf(a->hash, sizeof(a->hash), "h-init-a");
    set_status(a, "exited", 3);
    p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(p.phase, "Failed");
    assert_string_equal(p.message, "init container init-a exited with code 3; last log: tail of "
                                   "ferry.n1.ns.app.0.init-a");
    assert_string_equal(actions(&p, buf, sizeof(buf)), ""); /* what runs stays */
    ferry_app_plan_clear(&p);
    desired_done(&w);
}

static void test_job_finished(void **state) {
    desired_t w;
    obs_t b;
    char buf[512];
    (void)state;
    desired(&w, app_spec("job", 0, 1), 5);
    obs_reset(&b);
    obs_add(&b, FERRY_ROLE_INFRA, 0, NULL, "h-infra", 5, "running", 0);
    obs_add(&b, FERRY_ROLE_SERVICE, 0, "web", "h-web", 5, "exited", 0);
    ferry_observed *db = obs_add(&b, FERRY_ROLE_SERVICE, 0, "db", "h-db", 5, "running", 0);
    assert_false(ferry_plan_job_pod_done(&w.d, &b.o, 0));
    ferry_app_plan p = plan(&RUN, &w.d, &b.o, NULL);
    assert_int_equal(p.n, 0);
    assert_string_equal(p.phase, "Running");
    ferry_app_plan_clear(&p);
    /* Every service exited: the pod is done; its infra container is stopped, nothing restarts. */
    set_status(db, "exited", 0);
    assert_true(ferry_plan_job_pod_done(&w.d, &b.o, 0));
    w.pods[0].done = true;
    p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "stop infra 0/0 id-1");
    assert_string_equal(p.phase, "Succeeded");
    assert_true(p.finished);
    ferry_app_plan_clear(&p);
    /* A service that failed fails the job, with its code and log. */
    set_status(db, "exited", 2);
    p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(p.phase, "Failed");
    assert_string_equal(p.message, "job failed: service db exited with code 2 (restarted 0 "
                                   "times); last log: tail of ferry.n1.ns.app.0.db");
    ferry_app_plan_clear(&p);
    /* A new version of the job: the pods of the old run go first. */
    desired_done(&w);
    desired(&w, app_spec("job", 0, 1), 6);
    p = plan(&RUN, &w.d, &b.o, NULL);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "remove-pod infra 0/0");
    ferry_app_plan_clear(&p);
    desired_done(&w);
}

static void test_failures_are_reported_not_retried(void **state) {
    desired_t w;
    obs_t b;
    ferry_failures f = {0};
    ferry_failure x = {.kind = FERRY_FAIL_MEMBER,
                       .replica = 0,
                       .role = FERRY_ROLE_SERVICE,
                       .index = 1,
                       .message = "image img:1 is not on the node"};
    char buf[512];
    (void)state;
    desired(&w, app_spec(NULL, 0, 1), 3);
    obs_reset(&b);
    obs_add(&b, FERRY_ROLE_INFRA, 0, NULL, "h-infra", 3, "running", 0);
    obs_add(&b, FERRY_ROLE_SERVICE, 0, "web", "h-web", 3, "running", 0);
    ferry_failures_add(&f, &x);
    ferry_app_plan p = plan(&RUN, &w.d, &b.o, &f);
    assert_int_equal(p.n, 0);
    assert_string_equal(p.phase, "Failed");
    assert_string_equal(p.message, "image img:1 is not on the node");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(p.containers, 1), "error")),
        "image img:1 is not on the node");
    ferry_app_plan_clear(&p);
    /* The pod's own failure (a host port in use) stops everything after it. */
    x = (ferry_failure){.kind = FERRY_FAIL_POD, .replica = 0, .message = "the pod: port taken"};
    ferry_failures_add(&f, &x);
    b.o.n = 0;
    p = plan(&RUN, &w.d, &b.o, &f);
    assert_string_equal(actions(&p, buf, sizeof(buf)), "");
    assert_string_equal(p.message, "the pod: port taken");
    ferry_app_plan_clear(&p);
    ferry_failures_free(&f);
    desired_done(&w);
}

static void test_crash_is_failed(void **state) {
    desired_t w;
    obs_t b;
    (void)state;
    desired(&w, app_spec(NULL, 0, 1), 3);
    obs_reset(&b);
    obs_add(&b, FERRY_ROLE_INFRA, 0, NULL, "h-infra", 3, "running", 0);
    obs_add(&b, FERRY_ROLE_SERVICE, 0, "web", "h-web", 3, "running", 0);
    ferry_observed *db = obs_add(&b, FERRY_ROLE_SERVICE, 0, "db", "h-db", 3, "exited", 1);
    db->st.restarts = 4;
    ferry_app_plan p = plan(&RUN, &w.d, &b.o, NULL);
    assert_int_equal(p.n, 0);
    assert_string_equal(p.phase, "Failed");
    assert_string_equal(p.message, "service db exited with code 1 (restarted 4 times); last log: "
                                   "tail of ferry.n1.ns.app.0.db");
    ferry_app_plan_clear(&p);
    desired_done(&w);
}

/* ---- the node ---- */

static json_t *node_labels(const char *region) {
    return json_pack("{s:b, s:{s:s}}", "registered", 1, "labels", "region", region);
}

static json_t *node_spec(const char *name, const char *svc, const char *extra) {
    json_t *spec =
        json_pack("{s:s, s:{s:{s:s}}, s:[{s:s, s:s}]}", "name", name, "selector", "matchLabels",
                  "region", "east", "services", "name", svc, "image", "img:1");
    if (extra != NULL)
        json_object_set_new(spec, "deploy", json_pack("{s:s}", "at", extra));
    return spec;
}

static void test_node_clash(void **state) {
    json_t *node = node_labels("east");
    json_t *a = node_spec("a", "web", NULL), *b = node_spec("b", "web", NULL);
    ferry_directive d[2];
    (void)state;
    /* Neither runs yet: the lower version (the app that came first) takes the name. */
    ferry_node_app apps[2] = {{"a", 9, false, a, false}, {"b", 4, false, b, false}};
    ferry_plan_node(node, apps, 2, false, 0, d);
    assert_int_equal(d[0].kind, FERRY_DIRECTIVE_REFUSE);
    assert_string_equal(d[0].message, "service web is already run by app b on this node");
    assert_int_equal(d[1].kind, FERRY_DIRECTIVE_RUN);
    /* What runs keeps running (after a restart too), whatever its version. */
    apps[0].has_services = true;
    ferry_plan_node(node, apps, 2, false, 0, d);
    assert_int_equal(d[0].kind, FERRY_DIRECTIVE_RUN);
    assert_int_equal(d[1].kind, FERRY_DIRECTIVE_REFUSE);
    assert_string_equal(d[1].message, "service web is already run by app a on this node");
    /* A deleted app holds nothing. */
    apps[0].deleted = true;
    ferry_plan_node(node, apps, 2, false, 0, d);
    assert_int_equal(d[0].kind, FERRY_DIRECTIVE_REMOVE);
    assert_int_equal(d[1].kind, FERRY_DIRECTIVE_RUN);
    json_decref(a);
    json_decref(b);
    json_decref(node);
}

static void test_node_targeting_and_schedule(void **state) {
    json_t *east = node_labels("east"), *west = node_labels("west");
    json_t *later = node_spec("later", "a", "2030-01-01T00:00:00Z");
    json_t *past = node_spec("past", "b", "2020-01-01T00:00:00Z");
    json_t *gpu = node_spec("gpu", "c", NULL);
    json_object_set_new(json_array_get(json_object_get(gpu, "services"), 0), "resources",
                        json_pack("{s:{s:i}}", "limits", "gpuCompute", 50));
    ferry_node_app apps[3] = {{"later", 1, false, later, false},
                              {"past", 2, false, past, false},
                              {"gpu", 3, false, gpu, false}};
    ferry_directive d[3];
    int64_t now = 1800000000000LL; /* 2027-01-15 */
    (void)state;
    ferry_plan_node(east, apps, 3, false, now, d);
    assert_int_equal(d[0].kind, FERRY_DIRECTIVE_SCHEDULED);
    assert_int_equal(d[0].at_ms, 1893456000000LL);
    assert_string_equal(d[0].message, "deploys at 2030-01-01T00:00:00Z");
    assert_int_equal(d[1].kind, FERRY_DIRECTIVE_RUN);
    assert_int_equal(d[2].kind, FERRY_DIRECTIVE_REFUSE);
    assert_non_null(strstr(d[2].message, "--gpu-sharing"));
    ferry_plan_node(east, apps, 3, true, now, d);
    assert_int_equal(d[2].kind, FERRY_DIRECTIVE_RUN);
    /* Not selected, or the node not registered: removed. */
    ferry_plan_node(west, apps, 3, true, now, d);
    for (int i = 0; i < 3; i++)
        assert_int_equal(d[i].kind, FERRY_DIRECTIVE_REMOVE);
    json_object_set_new(east, "registered", json_false());
    ferry_plan_node(east, apps, 3, true, now, d);
    assert_int_equal(d[1].kind, FERRY_DIRECTIVE_REMOVE);
    /* Scheduled: reported as such, nothing touched. */
    obs_t b;
    obs_reset(&b);
    obs_add(&b, FERRY_ROLE_SERVICE, 0, "a", "h", 1, "running", 0);
    ferry_directive sched = {.kind = FERRY_DIRECTIVE_SCHEDULED, .message = "deploys at X"};
    ferry_app_plan p = plan(&sched, NULL, &b.o, NULL);
    assert_int_equal(p.n, 0);
    assert_string_equal(p.phase, "Scheduled");
    assert_string_equal(p.message, "deploys at X");
    ferry_app_plan_clear(&p);
    json_decref(east);
    json_decref(west);
    json_decref(later);
    json_decref(past);
    json_decref(gpu);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_in_order),
        cmocka_unit_test(test_replace_on_hash_change),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_extras_and_replicas_go),
        cmocka_unit_test(test_init_order),
        cmocka_unit_test(test_job_finished),
        cmocka_unit_test(test_failures_are_reported_not_retried),
        cmocka_unit_test(test_crash_is_failed),
        cmocka_unit_test(test_node_clash),
        cmocka_unit_test(test_node_targeting_and_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
