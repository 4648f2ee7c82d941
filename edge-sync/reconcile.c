/* edge-sync reconciler: the survey of the node and the observe / plan / act loop of one app (see
 * reconcile.h). The engine is the only record of what runs, so a restart at any point loses
 * nothing and never creates duplicates: names are deterministic and every container is found by
 * its labels. That includes what already happened: an init container that exited 0, or a job's
 * exited services, carry the hash and version they were made for and are kept as the record that
 * this step is done. */
#include "reconcile.h"

#include <stdio.h>
#include <string.h>

#include "act.h"
#include "ferry/app.h"
#include "ferry/base64.h"
#include "ferry/bundle.h"
#include "ferry/proto.h"
#include "observe.h"
#include "pod.h"
#include "volumes.h"

#define INIT_WAIT_MS 2000 /* per pass, all init containers together: then the pass moves on */
#define BUSY_PASS_MS 1000 /* how soon the next pass comes while an init container runs */

/* ---- the survey ---- */

void ferry_survey_free(ferry_survey *s) {
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        json_decref(s->items[i].spec);
    ferry_free(s->items);
    memset(s, 0, sizeof(*s));
}

ferry_err ferry_reconcile_survey(const ferry_reconcile_cfg *cfg, ferry_survey *out) {
    ferry_observe_cfg ocfg = {cfg->ops, cfg->engine, cfg->node, cfg->ns};
    ferry_estore_apps apps = {NULL, 0};
    ferry_node_app *in = NULL;
    ferry_directive *dirs = NULL;
    json_t *node = NULL, *engine_apps = NULL, *pod_ips = NULL, *sigs = NULL, *v;
    const char *name;
    ferry_err err;

    memset(out, 0, sizeof(*out));
    if ((err = ferry_estore_snapshot(cfg->store, &node, &apps)) != FERRY_OK ||
        (err = ferry_observe_node(&ocfg, &engine_apps, &pod_ips, &sigs)) != FERRY_OK)
        goto out;
    err = FERRY_ENOMEM;
    size_t cap = apps.n + json_object_size(engine_apps);
    in = ferry_calloc(apps.n, sizeof(*in));
    dirs = ferry_calloc(apps.n, sizeof(*dirs));
    out->items = ferry_calloc(cap, sizeof(*out->items));
    if (in == NULL || dirs == NULL || out->items == NULL)
        goto out;
    for (size_t i = 0; i < apps.n; i++) {
        const ferry_estore_entry *e = &apps.items[i];
        in[i] = (ferry_node_app){e->name, e->app.version, e->app.deleted, e->app.spec,
                                 json_is_true(json_object_get(engine_apps, e->name))};
    }
    ferry_plan_node(node, in, apps.n, cfg->gpu_sharing, ferry_now_ms(), dirs);
    for (size_t i = 0; i < apps.n; i++) {
        ferry_survey_item *it = &out->items[out->n++];
        snprintf(it->name, sizeof(it->name), "%s", apps.items[i].name);
        it->dir = dirs[i];
        it->version = apps.items[i].app.version;
        it->spec = json_incref(apps.items[i].app.spec);
        const char *ip = json_string_value(json_object_get(pod_ips, apps.items[i].name));
        if (ip != NULL && strlen(ip) < sizeof(it->pod_ip))
            snprintf(it->pod_ip, sizeof(it->pod_ip), "%s", ip);
        it->engine_sig = (uint64_t)json_integer_value(json_object_get(sigs, apps.items[i].name));
        it->collectable =
            apps.items[i].app.deleted &&
            it->version <= (long long)json_integer_value(json_object_get(node, "rev"));
        if (dirs[i].kind == FERRY_DIRECTIVE_SCHEDULED &&
            (out->wake_at_ms == 0 || dirs[i].at_ms < out->wake_at_ms))
            out->wake_at_ms = dirs[i].at_ms;
        json_object_del(engine_apps, apps.items[i].name);
    }
    /* Containers of apps the store does not know at all (store lost or app never ours). */
    json_object_foreach(engine_apps, name, v) {
        ferry_survey_item *it = &out->items[out->n++];
        if (strlen(name) >= sizeof(it->name)) {
            out->n--; /* never one of ours: names are DNS labels */
            continue;
        }
        snprintf(it->name, sizeof(it->name), "%s", name);
        it->dir.kind = FERRY_DIRECTIVE_FORGET;
    }
    err = FERRY_OK;
out:
    if (err != FERRY_OK)
        ferry_survey_free(out);
    ferry_free(in);
    ferry_free(dirs);
    ferry_estore_apps_free(&apps);
    json_decref(node);
    json_decref(engine_apps);
    json_decref(pod_ips);
    json_decref(sigs);
    return err;
}

/* ---- one app ---- */

static void desired_free_pods(ferry_app_desired *d) {
    for (int r = 0; d->pod != NULL && r < d->pods; r++) {
        for (size_t k = 0; d->pod[r].inits != NULL && k < d->n_inits; k++)
            json_decref(d->pod[r].inits[k].binds);
        for (size_t k = 0; d->pod[r].services != NULL && k < d->n_services; k++)
            json_decref(d->pod[r].services[k].binds);
        ferry_free(d->pod[r].inits);
        ferry_free(d->pod[r].services);
    }
    ferry_free(d->pod);
    d->pod = NULL;
}

static bool replica_has_containers(const ferry_observation *o, int replica) {
    for (size_t i = 0; i < o->n; i++)
        if (o->items[i].replica == replica)
            return true;
    return false;
}

/* Bind strings and content hash of one member of pod r. */
static void make_member(const ferry_volumes_ref *vref, int r, const json_t *spec, const json_t *obj,
                        bool init, ferry_member *m) {
    m->obj = obj;
    m->name = json_string_value(json_object_get(obj, "name"));
    m->image = json_string_value(json_object_get(obj, "image"));
    if (ferry_volumes_binds(vref, r, spec, obj, &m->binds, m->error, sizeof(m->error)) !=
        FERRY_OK) {
        json_decref(m->binds);
        m->binds = NULL;
        return;
    }
    if (init)
        ferry_pod_init_hash(spec, obj, m->binds, m->hash);
    else
        ferry_pod_service_hash(spec, obj, m->binds, m->hash);
}

/* Make the desired app concrete on this node's files for the observation o: which job pods are
 * done, the volume files (first round only), each pod's files (a pod without containers starts
 * from empty emptyDirs) and each member's binds and hash. FERRY_ENOMEM only: what fails on the
 * files is recorded in d for the plan to report. */
static ferry_err materialize(const ferry_reconcile_cfg *cfg, ferry_app_desired *d,
                             const ferry_observation *o, bool first) {
    ferry_volumes_ref vref = {cfg->data_dir, cfg->ns, d->app};
    const json_t *inits = json_object_get(d->spec, "initServices");
    const json_t *services = json_object_get(d->spec, "services");
    bool all_done = d->job;

    desired_free_pods(d);
    if ((d->pod = ferry_calloc((size_t)d->pods, sizeof(*d->pod))) == NULL)
        return FERRY_ENOMEM;
    for (int r = 0; r < d->pods; r++) {
        d->pod[r].done = ferry_plan_job_pod_done(d, o, r);
        all_done = all_done && d->pod[r].done;
    }
    /* A finished job needs its files no more (the cleanup takes them): do not write them again. */
    if (first && !all_done &&
        ferry_volumes_sync(&vref, d->spec, d->error, sizeof(d->error)) != FERRY_OK)
        return FERRY_OK;
    if (d->error[0] != '\0')
        return FERRY_OK;
    for (int r = 0; r < d->pods; r++) {
        ferry_pod_in *pod = &d->pod[r];
        if (pod->done)
            continue;
        pod->inits = ferry_calloc(d->n_inits, sizeof(*pod->inits));
        pod->services = ferry_calloc(d->n_services, sizeof(*pod->services));
        if (pod->inits == NULL || pod->services == NULL)
            return FERRY_ENOMEM;
        bool fresh = !replica_has_containers(o, r);
        if (ferry_volumes_pod_prepare(&vref, r, d->spec, fresh, pod->error, sizeof(pod->error)) !=
            FERRY_OK)
            continue;
        for (size_t k = 0; k < d->n_inits; k++)
            make_member(&vref, r, d->spec, json_array_get(inits, k), true, &pod->inits[k]);
        for (size_t k = 0; k < d->n_services; k++)
            make_member(&vref, r, d->spec, json_array_get(services, k), false, &pod->services[k]);
    }
    return FERRY_OK;
}

/* The facts the file cleanup needs about one app (see reconcile.h). */
static json_t *app_facts(const ferry_survey_item *item, int pods, bool finished) {
    bool desired = item->dir.kind == FERRY_DIRECTIVE_RUN ||
                   item->dir.kind == FERRY_DIRECTIVE_SCHEDULED ||
                   item->dir.kind == FERRY_DIRECTIVE_REFUSE;
    json_t *vols = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(item->spec, "volumes"), i, v) {
        if (ferry_volumes_kind_has_files(ferry_volumes_kind(v)))
            json_array_append(vols, json_object_get(v, "name"));
    }
    return json_pack("{s:b, s:b, s:I, s:o}", "desired", desired, "finished", finished, "replicas",
                     (json_int_t)(desired ? pods : 0), "volumes",
                     vols != NULL ? vols : json_array());
}

void ferry_app_result_clear(ferry_app_result *r) {
    if (r == NULL)
        return;
    json_decref(r->status);
    json_decref(r->facts);
    memset(r, 0, sizeof(*r));
}

/* ---- secret bundles ---- */

typedef struct {
    const char *app;
    ferry_estore_bundle b;
    ferry_err err;
} bundle_read;

static ferry_err bundle_txn(ferry_estore_txn *t, void *ctx) {
    bundle_read *br = ctx;
    br->err = ferry_estore_get_bundle(t, br->app, &br->b);
    return br->err == FERRY_ENOTFOUND || br->err == FERRY_EFORMAT ? FERRY_OK : br->err;
}

/* The spec to run: item's, with the node's bundle merged in when it names one (*full, new). No
 * bundle yet: *full NULL and why says so; one that does not open or fit: *full NULL, *bad. */
static ferry_err with_secrets(const ferry_reconcile_cfg *cfg, const ferry_survey_item *item,
                              json_t **full, bool *bad, char *why, size_t whylen) {
    const char *want =
        json_string_value(json_object_get(json_object_get(item->spec, "resolved"), "secrets"));
    bundle_read br = {.app = item->name};
    unsigned char *raw = NULL, *plain = NULL;
    size_t rlen = 0, plen = 0;
    json_t *bundle = NULL;
    char aad[320];
    ferry_detail d;
    ferry_err err;

    *full = NULL;
    *bad = false;
    if (want == NULL)
        return ferry_bundle_merge(item->spec, NULL, full, &d) == FERRY_ENOMEM ? FERRY_ENOMEM
                                                                              : FERRY_OK;
    if (cfg->box == NULL) {
        snprintf(why, whylen,
                 "waiting for its secrets: this node did not enroll, so none can be "
                 "sealed to it");
        return FERRY_OK;
    }
    if ((err = ferry_estore_read(cfg->store, bundle_txn, &br)) != FERRY_OK)
        goto out;
    if (br.err != FERRY_OK || strcmp(br.b.digest, want) != 0) {
        snprintf(why, whylen, "waiting for its secrets (bundle %.19s...; asked the cloud)", want);
        goto out;
    }
    snprintf(aad, sizeof(aad), "%s/%s/%s/%s", cfg->ns, cfg->node, item->name, want);
    *bad = true;
    if (ferry_base64_decode(br.b.sealed, strlen(br.b.sealed), &raw, &rlen) != FERRY_OK ||
        ferry_box_open(cfg->box, aad, strlen(aad), raw, rlen, &plain, &plen) != FERRY_OK ||
        (bundle = json_loadb((const char *)plain, plen, 0, NULL)) == NULL) {
        snprintf(why, whylen, "its secret bundle does not open with this node's key");
        goto out;
    }
    if (ferry_bundle_merge(item->spec, bundle, full, &d) != FERRY_OK) {
        snprintf(why, whylen, "its secret bundle does not fit the app: %.100s: %.300s", d.field,
                 d.message);
        goto out;
    }
    *bad = false;
out:
    if (plain != NULL)
        ferry_secrets_wipe(plain, plen);
    ferry_free(plain);
    ferry_free(raw);
    json_decref(bundle);
    ferry_estore_bundle_clear(&br.b);
    return err;
}

/* Only waits left, and their time is up: the pass ends here. */
static bool only_waits(const ferry_app_plan *p) {
    for (size_t i = 0; i < p->n; i++)
        if (p->actions[i].kind != FERRY_ACT_WAIT)
            return false;
    return true;
}

static ferry_err reconcile_spec(const ferry_reconcile_cfg *cfg, const ferry_survey_item *item,
                                ferry_app_result *out);

ferry_err ferry_reconcile_app(const ferry_reconcile_cfg *cfg, const ferry_survey_item *item,
                              ferry_app_result *out) {
    ferry_survey_item run = *item;
    json_t *full = NULL;
    char why[512] = "";
    bool bad = false;
    ferry_err err;

    memset(out, 0, sizeof(*out));
    if (item->dir.kind != FERRY_DIRECTIVE_RUN) {
        err = reconcile_spec(cfg, item, out);
        const char *phase = json_string_value(json_object_get(out->status, "phase"));
        if (err == FERRY_OK && item->collectable && phase != NULL &&
            strcmp(phase, "Removed") == 0 &&
            ferry_estore_collect(cfg->store, item->name, item->version, &out->collected) ==
                FERRY_OK &&
            out->collected) {
            LOG_INFO("app %s: removed and acknowledged by the cloud (v%lld); forgotten", item->name,
                     item->version);
            json_decref(out->status);
            out->status = NULL;
        }
        return err;
    }
    if ((err = with_secrets(cfg, item, &full, &bad, why, sizeof(why))) != FERRY_OK)
        return err;
    if (full == NULL) {
        /* What runs (an older version) runs on; the app says what it waits for, or why not. */
        ferry_app_desired shape;
        ferry_plan_desired_init(&shape, item->name, item->version, item->spec);
        out->status = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:[]}", "type",
                                FERRY_MSG_APP_STATUS, "ns", cfg->ns, "node", cfg->node, "app",
                                item->name, "version", (json_int_t)item->version, "phase",
                                bad ? "Failed" : "Deploying", "message", why, "containers");
        out->facts = app_facts(item, shape.pods, false);
        out->needs_secrets = !bad;
        if (out->status == NULL || out->facts == NULL) {
            ferry_app_result_clear(out);
            return FERRY_ENOMEM;
        }
        return FERRY_OK;
    }
    /* What the node runs: function services as their runtime containers, FERRY_GATEWAY. */
    static const ferry_function_node defaults = {
        FERRY_RUNTIME_IMAGE_PYTHON3, FERRY_RUNTIME_IMAGE_NODEJS10, FERRY_RUNTIME_IMAGE_SQL, NULL};
    run.spec = ferry_function_pod_spec(full, cfg->fn != NULL ? cfg->fn : &defaults);
    json_decref(full);
    if (run.spec == NULL)
        return FERRY_ENOMEM;
    err = reconcile_spec(cfg, &run, out);
    json_decref(run.spec);
    return err;
}

static ferry_err reconcile_spec(const ferry_reconcile_cfg *cfg, const ferry_survey_item *item,
                                ferry_app_result *out) {
    ferry_observe_cfg ocfg = {cfg->ops, cfg->engine, cfg->node, cfg->ns};
    ferry_act_cfg acfg = {cfg->ops,         cfg->engine,       cfg->node,    cfg->ns,
                          cfg->pause_image, cfg->pause_binary, cfg->data_dir};
    bool run = item->dir.kind == FERRY_DIRECTIVE_RUN;
    ferry_app_desired d;
    ferry_failures f = {0};
    ferry_observation o = {0};
    ferry_app_plan p = {0};
    int64_t deadline = ferry_mono_ms() + INIT_WAIT_MS;
    ferry_err err = FERRY_OK;

    memset(out, 0, sizeof(*out));
    memset(&d, 0, sizeof(d));
    if (run) {
        ferry_plan_desired_init(&d, item->name, item->version, item->spec);
        ferry_pod_infra_hash(item->spec, cfg->pause_image, d.infra_hash);
    }
    /* Each round acts or records a failure; the bound only guards against a bug. */
    int max_rounds = 8 + 3 * (int)d.n_inits;
    for (int round = 0;; round++) {
        ferry_observation_free(&o);
        ferry_app_plan_clear(&p);
        if ((err = ferry_observe_app(&ocfg, item->name, run && !d.job, &o)) != FERRY_OK)
            goto out;
        if (run && (err = materialize(cfg, &d, &o, round == 0)) != FERRY_OK)
            goto out;
        if ((err = ferry_plan_app(&item->dir, run ? &d : NULL, &o, &f, &p)) != FERRY_OK)
            goto out;
        if (p.n == 0 || (only_waits(&p) && ferry_mono_ms() >= deadline))
            break;
        if (round >= max_rounds) {
            LOG_WARN("app %s: still acting after %d rounds; the next pass goes on", item->name,
                     round);
            break;
        }
        ferry_act(&acfg, item->name, run ? &d : NULL, &o, &p, deadline, &f);
    }
    if (!p.report)
        goto out;
    json_t *containers = json_incref(p.containers);
    out->status = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o}", "type",
                            FERRY_MSG_APP_STATUS, "ns", cfg->ns, "node", cfg->node, "app",
                            item->name, "version", (json_int_t)item->version, "phase", p.phase,
                            "message", p.message, "containers", containers);
    ferry_app_desired shape;
    ferry_plan_desired_init(&shape, item->name, item->version, item->spec);
    out->facts = app_facts(item, shape.pods, p.finished);
    if (out->status == NULL || out->facts == NULL) {
        ferry_app_result_clear(out);
        err = FERRY_ENOMEM;
        goto out;
    }
    if (p.busy)
        out->wake_at_ms = ferry_now_ms() + BUSY_PASS_MS;
    out->steady = run && p.n == 0 && f.n == 0 && !p.busy && p.phase != NULL &&
                  strcmp(p.phase, "Running") == 0;
    out->engine_sig = ferry_observation_sig(&o);
out:
    ferry_app_plan_clear(&p);
    ferry_observation_free(&o);
    ferry_failures_free(&f);
    desired_free_pods(&d);
    return err;
}
