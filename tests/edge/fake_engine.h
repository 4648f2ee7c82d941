/* A fake container engine for unit tests of the reconciler: the ferry_engine_ops table over an
 * in-memory list of containers. It keeps what Docker keeps (name, image, labels, state) and
 * records every call, and it can be told how containers behave: one that exits with a code when
 * started (an init container, a job, a crash), a start that fails because a port is taken, an
 * image that cannot be pulled. Thread-safe, like the real client. */
#ifndef FERRY_TEST_FAKE_ENGINE_H
#define FERRY_TEST_FAKE_ENGINE_H

#include <jansson.h>
#include <pthread.h>

#include "engine.h"

typedef struct {
    char id[80];
    char name[256];
    char image[256];
    json_t *labels;
    json_t *body; /* the ContainerCreate body */
    ferry_cstate st;
} fake_container;

typedef struct {
    pthread_mutex_t lock;
    fake_container *c;
    size_t n, cap;
    int next_id;
    json_t *images;     /* {image: true}: present */
    json_t *pullable;   /* {image: true}: a pull succeeds */
    json_t *exit_codes; /* {container name suffix: code}: exits at once when started */
    json_t *port_taken; /* {container name suffix: true}: start fails, port in use */
    json_t *calls;      /* ["create NAME", "start NAME", "stop NAME", "remove NAME", ...] */
} fake_engine;

extern const ferry_engine_ops fake_engine_ops;

void fake_engine_init(fake_engine *f);
void fake_engine_free(fake_engine *f);

/* The container whose name ends with suffix, or NULL. */
fake_container *fake_engine_find(fake_engine *f, const char *suffix);

/* Number of containers whose name contains part ("" for all). */
size_t fake_engine_count(fake_engine *f, const char *part);

/* Number of recorded calls starting with prefix ("create ", "remove ferry.n1.ns.web"). */
size_t fake_engine_calls(fake_engine *f, const char *prefix);

#endif
