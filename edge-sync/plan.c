/* edge-sync plan: the reconciler's decisions from plain data (see plan.h). */
#include "plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/app.h"
#include "ferry/quantity.h"
#include "pod.h"

#define PHASE_RUNNING "Running"
#define PHASE_DEPLOYING "Deploying"
#define PHASE_FAILED "Failed"
#define PHASE_SUCCEEDED "Succeeded"
#define PHASE_SCHEDULED "Scheduled"
#define PHASE_REMOVED "Removed"

/* ---- small helpers ---- */

void ferry_observation_free(ferry_observation *o) {
    if (o == NULL)
        return;
    ferry_free(o->items);
    o->items = NULL;
    o->n = 0;
}

void ferry_failures_add(ferry_failures *f, const ferry_failure *x) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        ferry_failure *items = ferry_realloc(f->items, cap * sizeof(*items));
        if (items == NULL)
            return;
        f->items = items;
        f->cap = cap;
    }
    f->items[f->n++] = *x;
}

void ferry_failures_free(ferry_failures *f) {
    if (f == NULL)
        return;
    ferry_free(f->items);
    memset(f, 0, sizeof(*f));
}

/* Podman reports a container between restarts as "stopped" where Docker says "exited". */
static bool exited(const char *status) {
    return strcmp(status, "exited") == 0 || strcmp(status, "dead") == 0 ||
           strcmp(status, "stopped") == 0;
}

static const ferry_observed *find(const ferry_observation *o, int replica, ferry_role role,
                                  const char *member) {
    for (size_t i = 0; i < o->n; i++) {
        const ferry_observed *c = &o->items[i];
        if (c->replica == replica && c->role == role &&
            (member == NULL || strcmp(c->member, member) == 0))
            return c;
    }
    return NULL;
}

static const ferry_failure *failure(const ferry_failures *f, ferry_failure_kind kind, int replica,
                                    ferry_role role, int index, const char *id) {
    for (size_t i = 0; f != NULL && i < f->n; i++) {
        const ferry_failure *x = &f->items[i];
        if (x->kind != kind)
            continue;
        if (kind == FERRY_FAIL_REMOVE
                ? strcmp(x->id, id) == 0
                : x->replica == replica &&
                      (kind == FERRY_FAIL_POD || (x->role == role && x->index == index)))
            return x;
    }
    return NULL;
}

/* ---- the node ---- */

static bool container_wants_gpu(const json_t *svc) {
    const json_t *limits = json_object_get(json_object_get(svc, "resources"), "limits");
    return json_object_get(limits, "gpuMemory") != NULL ||
           json_object_get(limits, "gpuCompute") != NULL;
}

static bool app_wants_gpu(const json_t *spec) {
    static const char *const lists[] = {"services", "initServices"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *svc;
        json_array_foreach(json_object_get(spec, lists[l]), i, svc) {
            if (container_wants_gpu(svc))
                return true;
        }
    }
    return false;
}

/* The time an app is scheduled for, when that is still ahead: true with *at (wall-clock ms). */
static bool scheduled(const char *app, const json_t *spec, int64_t now, int64_t *at) {
    const char *s = json_string_value(json_object_get(json_object_get(spec, "deploy"), "at"));
    if (s == NULL)
        return false;
    if (ferry_time_parse_rfc3339(s, at) != FERRY_OK) {
        LOG_WARN("app %s: deploy.at %s is not an RFC 3339 time; deploying now", app, s);
        return false;
    }
    return *at > now;
}

/* The order in which apps claim their service names (see ferry_plan_node). */
static int clash_order(const void *a, const void *b) {
    const ferry_node_app *x = *(const ferry_node_app *const *)a;
    const ferry_node_app *y = *(const ferry_node_app *const *)b;
    if (x->has_services != y->has_services)
        return x->has_services ? -1 : 1;
    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The service name of apps[i] held by an app earlier in the order, or NULL; *holder names it. */
static const char *taken_name(const ferry_node_app *app, json_t *taken, const char **holder) {
    size_t j;
    json_t *svc;
    json_array_foreach(json_object_get(app->spec, "services"), j, svc) {
        const char *s = json_string_value(json_object_get(svc, "name"));
        if (s != NULL && (*holder = json_string_value(json_object_get(taken, s))) != NULL)
            return s;
    }
    return NULL;
}

void ferry_plan_node(const json_t *node, const ferry_node_app *apps, size_t n, bool gpu_sharing,
                     int64_t now_ms, ferry_directive *out) {
    const ferry_node_app **order = n > 0 ? ferry_calloc(n, sizeof(*order)) : NULL;
    json_t *taken = json_object();
    bool registered = json_is_true(json_object_get(node, "registered"));
    size_t nrun = 0;

    for (size_t i = 0; i < n; i++) {
        const ferry_node_app *a = &apps[i];
        ferry_directive *d = &out[i];
        memset(d, 0, sizeof(*d));
        d->kind = FERRY_DIRECTIVE_REMOVE;
        if (a->deleted || a->spec == NULL || !registered ||
            !ferry_selector_matches(json_object_get(a->spec, "selector"),
                                    json_object_get(node, "labels")))
            continue;
        if (scheduled(a->name, a->spec, now_ms, &d->at_ms)) {
            /* Nothing is touched: what runs (an older version) runs on until then. */
            d->kind = FERRY_DIRECTIVE_SCHEDULED;
            snprintf(d->message, sizeof(d->message), "deploys at %s",
                     json_string_value(json_object_get(json_object_get(a->spec, "deploy"), "at")));
            continue;
        }
        d->kind = FERRY_DIRECTIVE_RUN;
        if (order != NULL)
            order[nrun++] = a;
    }
    if (order != NULL && taken != NULL) {
        qsort(order, nrun, sizeof(*order), clash_order);
        for (size_t k = 0; k < nrun; k++) {
            const ferry_node_app *a = order[k];
            ferry_directive *d = &out[a - apps];
            const char *holder = NULL, *clash = taken_name(a, taken, &holder);
            size_t j;
            json_t *svc;
            if (clash != NULL) {
                d->kind = FERRY_DIRECTIVE_REFUSE;
                snprintf(d->message, sizeof(d->message),
                         "service %s is already run by app %s on this node", clash, holder);
                continue;
            }
            json_array_foreach(json_object_get(a->spec, "services"), j, svc) {
                const char *s = json_string_value(json_object_get(svc, "name"));
                if (s != NULL)
                    json_object_set_new(taken, s, json_string(a->name));
            }
        }
    }
    /* GPU limits cannot be honoured without sharing; the clash check came first, as before. */
    for (size_t i = 0; i < n; i++) {
        if (out[i].kind == FERRY_DIRECTIVE_RUN && !gpu_sharing && app_wants_gpu(apps[i].spec)) {
            out[i].kind = FERRY_DIRECTIVE_REFUSE;
            snprintf(out[i].message, sizeof(out[i].message),
                     "this node does not offer GPU sharing (start edge-sync with --gpu-sharing on "
                     "a node with NVIDIA GPUs)");
        }
    }
    ferry_free(order);
    json_decref(taken);
}

/* ---- the desired app ---- */

void ferry_plan_desired_init(ferry_app_desired *d, const char *app, long long version,
                             const json_t *spec) {
    const char *policy = json_string_value(json_object_get(spec, "restartPolicy"));
    const json_t *limit = json_object_get(spec, "backoffLimit");
    long long replicas = (long long)json_integer_value(json_object_get(spec, "replicas"));
    const char *workload = ferry_pod_workload(spec);

    memset(d, 0, sizeof(*d));
    d->app = app;
    d->version = version;
    d->spec = spec;
    d->job = strcmp(workload, "job") == 0;
    d->pods = strcmp(workload, "daemonset") == 0 || replicas < 1 ? 1 : (int)replicas;
    d->retries = d->job && policy != NULL && strcmp(policy, "OnFailure") == 0
                     ? (json_is_integer(limit) ? (long long)json_integer_value(limit) : 6)
                     : 0;
    d->n_inits = json_array_size(json_object_get(spec, "initServices"));
    d->n_services = json_array_size(json_object_get(spec, "services"));
}

/* true when a job's service has ended for good: exited, and either with code 0 or with no
 * restart of the engine's on-failure policy to come. */
static bool job_member_done(const ferry_app_desired *d, const ferry_cstate *st) {
    return exited(st->status) &&
           (st->exit_code == 0 || d->retries == 0 || st->restarts >= d->retries);
}

static const char *member_name(const ferry_app_desired *d, const char *list, size_t i) {
    return json_string_value(
        json_object_get(json_array_get(json_object_get(d->spec, list), i), "name"));
}

static const char *member_image(const ferry_app_desired *d, const char *list, size_t i) {
    return json_string_value(
        json_object_get(json_array_get(json_object_get(d->spec, list), i), "image"));
}

/* The init container of replica r that failed for this version, or NULL. */
static const ferry_observed *failed_init(const ferry_app_desired *d, const ferry_observation *o,
                                         int r) {
    for (size_t k = 0; k < d->n_inits; k++) {
        const ferry_observed *c = find(o, r, FERRY_ROLE_INIT, member_name(d, "initServices", k));
        if (c == NULL || c->version != d->version || !exited(c->st.status))
            return NULL;
        if (c->st.exit_code != 0)
            return c;
    }
    return NULL;
}

bool ferry_plan_job_pod_done(const ferry_app_desired *d, const ferry_observation *o, int r) {
    if (!d->job)
        return false;
    if (failed_init(d, o, r) != NULL)
        return true; /* a failed init container ends the pod: restartPolicy is about services */
    for (size_t k = 0; k < d->n_services; k++) {
        const ferry_observed *c = find(o, r, FERRY_ROLE_SERVICE, member_name(d, "services", k));
        if (c == NULL || c->version != d->version || !job_member_done(d, &c->st))
            return false;
    }
    return true;
}

/* ---- the app ---- */

static void add_action(ferry_app_plan *p, ferry_action_kind kind, int replica, ferry_role role,
                       int index, const char *id) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        ferry_action *a = ferry_realloc(p->actions, cap * sizeof(*a));
        if (a == NULL)
            return; /* the next pass plans it again */
        p->actions = a;
        p->cap = cap;
    }
    ferry_action *a = &p->actions[p->n++];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->replica = replica;
    a->role = role;
    a->index = index;
    snprintf(a->id, sizeof(a->id), "%s", id != NULL ? id : "");
}

static void set_msg(ferry_app_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(ferry_app_plan *p, const char *fmt, ...) {
    va_list ap;
    if (p->message[0] != '\0')
        return; /* the first problem is the one to report */
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof(p->message), fmt, ap);
    va_end(ap);
}

/* One status entry: the container's state, or "waiting" when there is none. */
static void add_entry(json_t *list, const char *name, const char *image, const ferry_observed *c,
                      const char *error) {
    ferry_cstate none = {.status = "waiting"};
    const ferry_cstate *st = c != NULL ? &c->st : &none;
    char errbuf[1024];
    snprintf(errbuf, sizeof(errbuf), "%s", error != NULL && error[0] != '\0' ? error : st->error);
    ferry_text_scrub(errbuf); /* engine text goes into a protocol string: valid UTF-8 only */
    json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "name", name, "state",
                                          st->status, "restarts", (json_int_t)st->restarts,
                                          "exitCode", (json_int_t)st->exit_code, "error", errbuf,
                                          "image", image != NULL ? image : ""));
}

/* What one app's plan builds up. */
typedef struct {
    const ferry_app_desired *d;
    const ferry_observation *o;
    const ferry_failures *f;
    ferry_app_plan *p;
    json_t *inits; /* status entries of the init containers, listed after the services */
    bool failed, all_running, any_running;
    int done_pods;
    bool job_failed;
    char job_msg[2048];
} app_run;

/* Append why a job's service failed to buf ("job failed: service X exited with code N ..."). */
static void job_failure(const char *name, const ferry_observed *c, char *buf, size_t len) {
    size_t n = strlen(buf);
    snprintf(buf + n, len - n,
             "%sservice %s exited with code %lld (restarted %lld times); last log: %s",
             n ? "; " : "job failed: ", name, c->st.exit_code, c->st.restarts, c->log_tail);
}

/* A job pod ended: count it, and its failure (why, "" when it succeeded). */
static void job_pod_ended(app_run *run, const char *why) {
    size_t n = strlen(run->job_msg);
    run->done_pods++;
    if (why[0] == '\0')
        return;
    run->job_failed = true;
    snprintf(run->job_msg + n, sizeof(run->job_msg) - n, "%s%s", n ? "; " : "", why);
}

/* Report the services of a pod that cannot start them (yet): their containers as they are. */
static void report_waiting_services(app_run *run, int r, const char *error) {
    for (size_t k = 0; k < run->d->n_services; k++) {
        const char *name = member_name(run->d, "services", k);
        add_entry(run->p->containers, name, member_image(run->d, "services", k),
                  find(run->o, r, FERRY_ROLE_SERVICE, name), error);
    }
    run->all_running = false;
}

/* A job pod that ran to completion: nothing of it starts again; its infra container is stopped
 * (the exited containers stay as the record) and its state is reported. */
static void plan_done_pod(app_run *run, int r) {
    const ferry_app_desired *d = run->d;
    const ferry_observed *infra = find(run->o, r, FERRY_ROLE_INFRA, NULL);
    const ferry_observed *init = failed_init(d, run->o, r);
    char why[2048] = "";

    if (infra != NULL && !exited(infra->st.status))
        add_action(run->p, FERRY_ACT_STOP, r, FERRY_ROLE_INFRA, 0, infra->id);
    if (init != NULL) {
        add_entry(run->inits, init->member, init->image, init, NULL);
        for (size_t k = 0; k < d->n_services; k++) /* never started: "waiting" */
            add_entry(run->p->containers, member_name(d, "services", k),
                      member_image(d, "services", k), NULL, NULL);
        snprintf(why, sizeof(why), "init container %s exited with code %lld; last log: %s",
                 init->member, init->st.exit_code, init->log_tail);
        job_pod_ended(run, why);
        return;
    }
    for (size_t k = 0; k < d->n_services; k++) {
        const char *name = member_name(d, "services", k);
        const ferry_observed *c = find(run->o, r, FERRY_ROLE_SERVICE, name);
        add_entry(run->p->containers, name, member_image(d, "services", k), c, NULL);
        if (c != NULL && c->st.exit_code != 0)
            job_failure(name, c, why, sizeof(why));
    }
    job_pod_ended(run, why);
    for (size_t k = 0; k < d->n_inits; k++) {
        const char *name = member_name(d, "initServices", k);
        add_entry(run->inits, name, member_image(d, "initServices", k),
                  find(run->o, r, FERRY_ROLE_INIT, name), NULL);
    }
}

/* Remove a container unless removing it already failed in this pass. true when asked for. */
static bool remove_once(app_run *run, const ferry_observed *c) {
    if (failure(run->f, FERRY_FAIL_REMOVE, 0, FERRY_ROLE_OTHER, 0, c->id) != NULL)
        return false;
    add_action(run->p, FERRY_ACT_REMOVE, c->replica, c->role, 0, c->id);
    return true;
}

/* Remove, for init container k of replica r to run again, everything that comes after it: the
 * services, k itself and the init containers after it (and ones the spec no longer has). false
 * when nothing could be asked for (removing them failed in this pass). */
static bool restart_from_init(app_run *run, int r, size_t k) {
    const ferry_pod_in *pod = &run->d->pod[r];
    bool asked = false;
    for (size_t i = 0; i < run->o->n; i++) {
        const ferry_observed *c = &run->o->items[i];
        bool later = c->role != FERRY_ROLE_INFRA;
        if (c->replica != r || c->role == FERRY_ROLE_INFRA)
            continue;
        for (size_t j = 0; c->role == FERRY_ROLE_INIT && j < run->d->n_inits; j++)
            if (strcmp(c->member, pod->inits[j].name) == 0)
                later = j >= k;
        if (later)
            asked = remove_once(run, c) || asked;
    }
    return asked;
}

/* The init containers of replica r, in order. true when every one exited 0 for this spec (the
 * services may start); otherwise the next step is planned, or the failure reported (and
 * init_failure says why an init container failed). */
static bool plan_inits(app_run *run, int r, char *init_failure, size_t len) {
    const ferry_app_desired *d = run->d;
    const ferry_pod_in *pod = &d->pod[r];

    for (size_t k = 0; k < d->n_inits; k++) {
        const ferry_member *m = &pod->inits[k];
        const ferry_observed *cur = find(run->o, r, FERRY_ROLE_INIT, m->name);
        const ferry_failure *fail =
            failure(run->f, FERRY_FAIL_MEMBER, r, FERRY_ROLE_INIT, (int)k, NULL);
        const char *error = m->error[0] != '\0' ? m->error : NULL;

        if (error == NULL && fail == NULL && cur != NULL && strcmp(cur->hash, m->hash) != 0) {
            /* Not run for this spec yet: it and everything after it run again, in order. */
            if (restart_from_init(run, r, k)) {
                run->p->busy = true;
                set_msg(run->p, "init container %s changed; running it again", m->name);
                add_entry(run->inits, m->name, m->image, cur, NULL);
                return false;
            }
            fail = failure(run->f, FERRY_FAIL_REMOVE, 0, FERRY_ROLE_OTHER, 0, cur->id);
        }
        if (error != NULL || fail != NULL) {
            run->failed = true;
            if (error != NULL)
                set_msg(run->p, "init container %s: %s", m->name, error);
            else
                set_msg(run->p, "%s", fail->message);
            add_entry(run->inits, m->name, m->image, error != NULL ? NULL : cur,
                      error != NULL ? error : fail->message);
            return false;
        }
        if (cur != NULL && exited(cur->st.status)) {
            add_entry(run->inits, m->name, m->image, cur, NULL);
            if (cur->st.exit_code == 0)
                continue;
            run->failed = true;
            snprintf(init_failure, len, "init container %s exited with code %lld; last log: %s",
                     m->name, cur->st.exit_code, cur->log_tail);
            ferry_text_scrub(init_failure);
            set_msg(run->p, "%s", init_failure);
            return false;
        }
        /* To be made, started, or running: the next pass comes soon. */
        if (cur == NULL)
            add_action(run->p, FERRY_ACT_CREATE, r, FERRY_ROLE_INIT, (int)k, NULL);
        else if (strcmp(cur->st.status, "created") == 0)
            add_action(run->p, FERRY_ACT_START, r, FERRY_ROLE_INIT, (int)k, cur->id);
        else if (strcmp(cur->st.status, "unknown") != 0)
            add_action(run->p, FERRY_ACT_WAIT, r, FERRY_ROLE_INIT, (int)k, cur->id);
        run->p->busy = true;
        set_msg(run->p, "init container %s running", m->name);
        add_entry(run->inits, m->name, m->image, cur, NULL);
        return false;
    }
    return true;
}

/* A service's status after this plan, with what it means for the app. */
static void report_service(app_run *run, const char *name, const char *image,
                           const ferry_observed *c, const char *error, bool *member_done) {
    const ferry_cstate none = {.status = "waiting"};
    const ferry_cstate *st = c != NULL ? &c->st : &none;

    add_entry(run->p->containers, name, image, c, error);
    *member_done = false;
    if (strcmp(st->status, "running") == 0)
        run->any_running = true;
    else
        run->all_running = false;
    if (error != NULL && error[0] != '\0')
        return;
    if (!exited(st->status) && strcmp(st->status, "restarting") != 0)
        return;
    if (run->d->job) {
        /* Exit 0 is a job's success; a failure the engine retries is reported on the way. */
        *member_done = job_member_done(run->d, st);
        if (st->exit_code != 0 && !*member_done)
            set_msg(run->p,
                    "service %s exited with code %lld; the engine restarts it (%lld of %lld)", name,
                    st->exit_code, st->restarts, run->d->retries);
        return;
    }
    run->failed = true;
    set_msg(run->p, "service %s exited with code %lld (restarted %lld times); last log: %s", name,
            st->exit_code, st->restarts, c->log_tail);
}

/* Everything of one replica that is not done: infra, init containers, services. */
static void plan_pod(app_run *run, int r) {
    const ferry_app_desired *d = run->d;
    const ferry_pod_in *pod = &d->pod[r];
    const ferry_observed *infra = find(run->o, r, FERRY_ROLE_INFRA, NULL);
    const ferry_failure *fail = failure(run->f, FERRY_FAIL_POD, r, FERRY_ROLE_INFRA, 0, NULL);
    char init_failure[1024] = "", why[2048] = "";
    bool pod_done = d->job, member_done;

    if (infra != NULL && strcmp(infra->hash, d->infra_hash) != 0) {
        /* The pod's network changed: every container joined to it goes with it. */
        add_action(run->p, FERRY_ACT_REMOVE_POD, r, FERRY_ROLE_INFRA, 0, NULL);
        set_msg(run->p, "replacing pod %d", r);
        report_waiting_services(run, r, NULL);
        return;
    }
    const char *pod_error = pod->error[0] != '\0' ? pod->error
                            : fail != NULL        ? fail->message
                                                  : NULL;
    if (pod_error != NULL) {
        run->failed = true;
        set_msg(run->p, "%s", pod_error);
        report_waiting_services(run, r, pod_error);
        return;
    }
    if (infra == NULL) {
        add_action(run->p, FERRY_ACT_CREATE, r, FERRY_ROLE_INFRA, 0, NULL);
        set_msg(run->p, "creating pod %d", r);
        report_waiting_services(run, r, NULL);
        return;
    }
    if (strcmp(infra->st.status, "running") != 0) {
        add_action(run->p, FERRY_ACT_START, r, FERRY_ROLE_INFRA, 0, infra->id);
        set_msg(run->p, "starting pod %d", r);
        report_waiting_services(run, r, NULL);
        return;
    }
    if (!plan_inits(run, r, init_failure, sizeof(init_failure))) {
        report_waiting_services(run, r, NULL);
        if (d->job && init_failure[0] != '\0')
            job_pod_ended(run, init_failure); /* a failed init container ends a job pod */
        goto extras;
    }
    for (size_t k = 0; k < d->n_services; k++) {
        const ferry_member *m = &pod->services[k];
        const ferry_observed *cur = find(run->o, r, FERRY_ROLE_SERVICE, m->name);
        const ferry_failure *mf =
            failure(run->f, FERRY_FAIL_MEMBER, r, FERRY_ROLE_SERVICE, (int)k, NULL);
        const char *error = m->error[0] != '\0' ? m->error : mf != NULL ? mf->message : NULL;

        if (error == NULL && (cur == NULL || strcmp(cur->hash, m->hash) != 0)) {
            add_action(run->p, FERRY_ACT_CREATE, r, FERRY_ROLE_SERVICE, (int)k,
                       cur != NULL ? cur->id : NULL);
            pod_done = false;
            run->all_running = false;
            add_entry(run->p->containers, m->name, m->image, cur, NULL);
            continue;
        }
        if (error == NULL && strcmp(cur->st.status, "created") == 0) {
            add_action(run->p, FERRY_ACT_START, r, FERRY_ROLE_SERVICE, (int)k, cur->id);
            pod_done = false;
            run->all_running = false;
            add_entry(run->p->containers, m->name, m->image, cur, NULL);
            continue;
        }
        if (error != NULL) {
            run->failed = true;
            set_msg(run->p, "%s", error);
        }
        report_service(run, m->name, m->image, cur, error, &member_done);
        if (d->job && (error != NULL || !member_done))
            pod_done = false;
        else if (d->job && cur->st.exit_code != 0)
            job_failure(m->name, cur, why, sizeof(why));
    }
    if (pod_done)
        job_pod_ended(run, why);
extras:
    /* Services and init containers the spec no longer has. */
    for (size_t i = 0; i < run->o->n; i++) {
        const ferry_observed *c = &run->o->items[i];
        bool wanted = false;
        if (c->replica != r || c->role == FERRY_ROLE_INFRA)
            continue;
        if (c->role == FERRY_ROLE_SERVICE)
            for (size_t k = 0; k < d->n_services; k++)
                wanted = wanted || strcmp(c->member, pod->services[k].name) == 0;
        else if (c->role == FERRY_ROLE_INIT)
            for (size_t k = 0; k < d->n_inits; k++)
                wanted = wanted || strcmp(c->member, pod->inits[k].name) == 0;
        if (!wanted)
            remove_once(run, c);
    }
}

/* Plan a desired app that runs (directive RUN). */
static void plan_run(app_run *run) {
    const ferry_app_desired *d = run->d;
    ferry_app_plan *p = run->p;

    if (d->job) {
        /* A job runs once per app version: pods of an older version make way for a new run. */
        for (size_t i = 0; i < run->o->n; i++) {
            const ferry_observed *c = &run->o->items[i];
            if (c->version != d->version && c->replica >= 0 && c->replica < d->pods) {
                add_action(p, FERRY_ACT_REMOVE_POD, c->replica, FERRY_ROLE_INFRA, 0, NULL);
                set_msg(p, "removing the pods of the previous run");
                return;
            }
        }
    }
    if (d->error[0] != '\0') {
        run->failed = true;
        set_msg(p, "%s", d->error);
    } else {
        for (int r = 0; r < d->pods; r++) {
            if (d->pod[r].done)
                plan_done_pod(run, r);
            else
                plan_pod(run, r);
        }
    }
    /* Replicas beyond the count. */
    for (size_t i = 0; i < run->o->n; i++) {
        int r = run->o->items[i].replica;
        bool seen = false;
        if (r >= 0 && r < d->pods)
            continue;
        for (size_t k = 0; k < p->n; k++)
            seen =
                seen || (p->actions[k].kind == FERRY_ACT_REMOVE_POD && p->actions[k].replica == r);
        if (!seen)
            add_action(p, FERRY_ACT_REMOVE_POD, r, FERRY_ROLE_INFRA, 0, NULL);
    }
    if (d->job && run->done_pods == d->pods) {
        p->finished = true;
        p->phase = run->job_failed ? PHASE_FAILED : PHASE_SUCCEEDED;
        snprintf(p->message, sizeof(p->message), "%s", run->job_failed ? run->job_msg : "");
        ferry_text_scrub(p->message);
    } else if (run->failed) {
        p->phase = PHASE_FAILED;
    } else if (p->busy || p->n > 0) {
        p->phase = PHASE_DEPLOYING;
    } else if (d->job) {
        p->phase = run->any_running ? PHASE_RUNNING : PHASE_DEPLOYING;
    } else {
        p->phase = run->all_running ? PHASE_RUNNING : PHASE_DEPLOYING;
    }
}

void ferry_app_plan_clear(ferry_app_plan *p) {
    if (p == NULL)
        return;
    ferry_free(p->actions);
    json_decref(p->containers);
    memset(p, 0, sizeof(*p));
}

ferry_err ferry_plan_app(const ferry_directive *dir, const ferry_app_desired *d,
                         const ferry_observation *o, const ferry_failures *f, ferry_app_plan *out) {
    app_run run = {.d = d, .o = o, .f = f, .p = out, .all_running = true};
    ferry_err err = FERRY_OK;

    memset(out, 0, sizeof(*out));
    out->containers = json_array();
    run.inits = json_array();
    out->report = dir->kind != FERRY_DIRECTIVE_FORGET;
    if (out->containers == NULL || run.inits == NULL) {
        err = FERRY_ENOMEM;
        goto out;
    }
    switch (dir->kind) {
    case FERRY_DIRECTIVE_SCHEDULED:
        out->phase = PHASE_SCHEDULED;
        snprintf(out->message, sizeof(out->message), "%s", dir->message);
        break;
    case FERRY_DIRECTIVE_REFUSE:
        /* It does not run here: what it had goes (it may not run half-way). */
        if (o->n > 0)
            add_action(out, FERRY_ACT_REMOVE_POD, -1, FERRY_ROLE_INFRA, 0, NULL);
        out->phase = PHASE_FAILED;
        snprintf(out->message, sizeof(out->message), "%s", dir->message);
        break;
    case FERRY_DIRECTIVE_REMOVE:
    case FERRY_DIRECTIVE_FORGET:
        if (o->n > 0)
            add_action(out, FERRY_ACT_REMOVE_POD, -1, FERRY_ROLE_INFRA, 0, NULL);
        out->phase = o->n > 0 ? PHASE_DEPLOYING : PHASE_REMOVED;
        snprintf(out->message, sizeof(out->message), "%s",
                 o->n > 0 ? "removing the app's containers" : "");
        break;
    case FERRY_DIRECTIVE_RUN:
        if (d == NULL) {
            err = FERRY_EINVAL;
            goto out;
        }
        plan_run(&run);
        break;
    }
    size_t i;
    json_t *e;
    json_array_foreach(run.inits, i, e) json_array_append(out->containers, e);
    /* PROTOCOL.md caps the list; the first entries (services before init containers) stay. */
    while (json_array_size(out->containers) > FERRY_MAX_STATUS_CONTAINERS)
        json_array_remove(out->containers, json_array_size(out->containers) - 1);
out:
    json_decref(run.inits);
    if (err != FERRY_OK)
        ferry_app_plan_clear(out);
    return err;
}
