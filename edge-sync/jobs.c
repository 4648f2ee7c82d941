/* edge-sync jobs: the bookkeeping of reconciliation work (see jobs.h). */
#include "jobs.h"

#include <string.h>

struct ferry_jobs {
    int limit;
    bool survey_running, survey_wanted;
    ferry_survey_item *waiting; /* FIFO, at most one per app */
    size_t nwaiting, cap;
    char (*running)[64]; /* names of the apps running, limit entries */
    int nrunning;
    bool cleanup_asked; /* asked for; armed by the next survey that finishes */
    bool cleanup_armed; /* waiting for the apps to finish */
    bool cleanup_running;
};

ferry_jobs *ferry_jobs_new(int limit) {
    ferry_jobs *j = ferry_calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    j->limit = limit < 1 ? 1 : limit;
    if ((j->running = ferry_calloc((size_t)j->limit, sizeof(*j->running))) == NULL) {
        ferry_free(j);
        return NULL;
    }
    return j;
}

void ferry_jobs_free(ferry_jobs *j) {
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->nwaiting; i++)
        json_decref(j->waiting[i].spec);
    ferry_free(j->waiting);
    ferry_free(j->running);
    ferry_free(j);
}

void ferry_jobs_want_survey(ferry_jobs *j) {
    j->survey_wanted = true;
}

bool ferry_jobs_take_survey(ferry_jobs *j) {
    if (!j->survey_wanted || j->survey_running || j->cleanup_armed || j->cleanup_running)
        return false;
    j->survey_wanted = false;
    j->survey_running = true;
    return true;
}

/* Queue item (moved) as the app's waiting work, replacing older waiting work of that app. */
static void want_app(ferry_jobs *j, ferry_survey_item *item) {
    for (size_t i = 0; i < j->nwaiting; i++) {
        if (strcmp(j->waiting[i].name, item->name) == 0) {
            json_decref(j->waiting[i].spec);
            j->waiting[i] = *item;
            item->spec = NULL;
            return;
        }
    }
    if (j->nwaiting == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 16;
        ferry_survey_item *w = ferry_realloc(j->waiting, cap * sizeof(*w));
        if (w == NULL) {
            LOG_ERROR("out of memory; app %s waits for the next survey", item->name);
            return;
        }
        j->waiting = w;
        j->cap = cap;
    }
    j->waiting[j->nwaiting++] = *item;
    item->spec = NULL;
}

void ferry_jobs_survey_done(ferry_jobs *j, ferry_survey *s) {
    j->survey_running = false;
    for (size_t i = 0; s != NULL && i < s->n; i++)
        want_app(j, &s->items[i]);
    if (j->cleanup_asked && s != NULL) {
        j->cleanup_asked = false;
        j->cleanup_armed = true;
    }
}

static bool is_running(const ferry_jobs *j, const char *app) {
    for (int i = 0; i < j->nrunning; i++)
        if (strcmp(j->running[i], app) == 0)
            return true;
    return false;
}

bool ferry_jobs_take_app(ferry_jobs *j, ferry_survey_item *out) {
    if (j->cleanup_running || j->nrunning >= j->limit)
        return false;
    for (size_t i = 0; i < j->nwaiting; i++) {
        if (is_running(j, j->waiting[i].name))
            continue;
        *out = j->waiting[i];
        memmove(&j->waiting[i], &j->waiting[i + 1], (j->nwaiting - i - 1) * sizeof(*j->waiting));
        j->nwaiting--;
        memcpy(j->running[j->nrunning++], out->name, sizeof(out->name));
        return true;
    }
    return false;
}

void ferry_jobs_app_done(ferry_jobs *j, const char *app) {
    for (int i = 0; i < j->nrunning; i++) {
        if (strcmp(j->running[i], app) == 0) {
            memmove(j->running[i], j->running[i + 1],
                    (size_t)(j->nrunning - i - 1) * sizeof(*j->running));
            j->nrunning--;
            return;
        }
    }
}

void ferry_jobs_want_cleanup(ferry_jobs *j) {
    if (!j->cleanup_armed && !j->cleanup_running)
        j->cleanup_asked = true;
    j->survey_wanted = true; /* the facts come from a fresh survey */
}

bool ferry_jobs_take_cleanup(ferry_jobs *j) {
    if (!j->cleanup_armed || j->nrunning > 0 || j->nwaiting > 0 || j->survey_running)
        return false;
    j->cleanup_armed = false;
    j->cleanup_running = true;
    return true;
}

void ferry_jobs_cleanup_done(ferry_jobs *j) {
    j->cleanup_running = false;
}

int ferry_jobs_running(const ferry_jobs *j) {
    return j->nrunning;
}
