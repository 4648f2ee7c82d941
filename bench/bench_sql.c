/* bench_sql: events per second through the sql runtime's library (ferry_sqlfn_run: parse the
 * event, rebind, step, write the answer) on one thread, for the seed's query, beside two
 * baselines measured in the same run: parsing the same event with jansson alone, and a raw
 * prepared "SELECT ?1 AS result WHERE ?2 > 6" with direct binds and nothing else.
 * usage: bench_sql [SECONDS_PER_FIGURE]   (default 2) */
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlfn.h"

static const char query[] = "select name as result where uid > 6";
static const char event[] = "{\"uid\": 7, \"name\": \"ferry\", \"temp\": 21.5}";

typedef long (*batch_fn)(void *arg); /* runs a batch of calls, returns how many */

static double rate(batch_fn fn, void *arg, double seconds) {
    long n = 0;
    int64_t start = ferry_mono_ms(), now;
    do {
        n += fn(arg);
        now = ferry_mono_ms();
    } while (now - start < (int64_t)(seconds * 1000));
    return (double)n * 1000.0 / (double)(now - start);
}

static long run_sqlfn(void *arg) {
    const char *row;
    size_t len;
    ferry_detail d;
    for (int i = 0; i < 1000; i++)
        if (ferry_sqlfn_run(arg, event, sizeof(event) - 1, &row, &len, &d) != FERRY_OK ||
            row == NULL) {
            fprintf(stderr, "bench_sql: %s\n", d.message);
            exit(1);
        }
    return 1000;
}

static long run_jansson(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        json_t *j = json_loadb(event, sizeof(event) - 1, 0, NULL);
        if (j == NULL)
            exit(1);
        json_decref(j);
    }
    return 1000;
}

static long run_raw(void *arg) {
    sqlite3_stmt *st = arg;
    for (int i = 0; i < 1000; i++) {
        sqlite3_bind_text(st, 1, "ferry", 5, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, 7);
        if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_text(st, 0) == NULL)
            exit(1);
        sqlite3_reset(st);
    }
    return 1000;
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    ferry_sqlfn *fn = NULL;
    ferry_detail d;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    if (secs <= 0)
        secs = 2.0;
    if (ferry_sqlfn_compile(query, sizeof(query) - 1, "bench.sql", &fn, &d) != FERRY_OK ||
        sqlite3_open(":memory:", &db) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT ?1 AS result WHERE ?2 > 6", -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_sql: setup failed: %s\n", d.message);
        return 1;
    }
    printf("query: %s\nevent: %s\none thread, %.1f s per figure\n", query, event, secs);
    double a = rate(run_sqlfn, fn, secs);
    double b = rate(run_jansson, NULL, secs);
    double c = rate(run_raw, st, secs);
    printf("%-48s %12.0f events/s\n", "ferry_sqlfn_run (parse, bind, step, answer)", a);
    printf("%-48s %12.0f events/s\n", "baseline: jansson json_loadb alone", b);
    printf("%-48s %12.0f events/s\n", "baseline: raw prepared SELECT, direct binds", c);
    printf("per event: %.2f us (jansson parse %.2f us, raw SQLite step %.2f us)\n", 1e6 / a,
           1e6 / b, 1e6 / c);
    sqlite3_finalize(st);
    sqlite3_close(db);
    ferry_sqlfn_free(fn);
    return 0;
}
