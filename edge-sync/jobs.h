/* edge-sync jobs: which reconciliation work runs next on the worker threads. Bookkeeping only
 * (no threads, no libuv): the daemon asks what to start and reports what finished.
 *
 *   - One survey at a time; one asked for while one runs follows it.
 *   - Apps run side by side, at most `limit` at once, never one app twice at the same time: work
 *     for an app that is running waits, and newer work for an app replaces its waiting work (the
 *     latest survey knows best). Waiting apps start in the order they were asked for.
 *   - The file cleanup runs alone and only on complete facts: once asked for, it waits for the
 *     next survey to finish and for every app that survey queued to be done (no new survey
 *     starts meanwhile), then runs; surveys resume when it is over. */
#ifndef FERRY_EDGE_JOBS_H
#define FERRY_EDGE_JOBS_H

#include <stdbool.h>

#include "ferry/common.h"
#include "reconcile.h"

typedef struct ferry_jobs ferry_jobs; /* opaque */

/* limit: most apps reconciled at once (>= 1). NULL on ENOMEM. */
ferry_jobs *ferry_jobs_new(int limit);
void ferry_jobs_free(ferry_jobs *j);

void ferry_jobs_want_survey(ferry_jobs *j);
/* true: start a survey now (it counts as running until ferry_jobs_survey_done). */
bool ferry_jobs_take_survey(ferry_jobs *j);
/* The survey finished; its items (moved out of s, which is left empty) become app work. s may be
 * NULL when the survey failed. */
void ferry_jobs_survey_done(ferry_jobs *j, ferry_survey *s);

/* The next app to reconcile now, or NULL; the caller owns the item (free its spec) and reports
 * ferry_jobs_app_done with its name. */
bool ferry_jobs_take_app(ferry_jobs *j, ferry_survey_item *out);
void ferry_jobs_app_done(ferry_jobs *j, const char *app);

void ferry_jobs_want_cleanup(ferry_jobs *j);
/* true: start the cleanup now (nothing else runs until ferry_jobs_cleanup_done). */
bool ferry_jobs_take_cleanup(ferry_jobs *j);
void ferry_jobs_cleanup_done(ferry_jobs *j);

/* Apps running now (for logs and tests). */
int ferry_jobs_running(const ferry_jobs *j);

#endif
