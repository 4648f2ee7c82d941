/* Records at rest: a JSON object as msgpack with a format version (see ferry/record.h). */
#include "ferry/record.h"

#include "ferry/codec.h"

ferry_err ferry_record_encode(const json_t *rec, int fv, unsigned char **buf, size_t *len) {
    json_t *copy = NULL;
    ferry_err err = FERRY_EINVAL;

    *buf = NULL;
    *len = 0;
    if (!json_is_object(rec))
        return err;
    copy = json_copy((json_t *)rec); /* shallow: only adds "fv" */
    err = FERRY_ENOMEM;
    /* jansson's json_copy skips a member it cannot add (out of memory) without saying so: a
     * record with a member missing must not be written. */
    if (copy != NULL && json_object_size(copy) == json_object_size(rec) &&
        json_object_set_new(copy, "fv", json_integer(fv)) == 0)
        err = ferry_msgpack_encode(copy, buf, len);
    json_decref(copy);
    return err;
}

ferry_err ferry_record_decode(const void *buf, size_t len, int fv, json_t **out, long long *found) {
    json_t *rec = NULL, *v;
    ferry_err err;

    *out = NULL;
    if (found != NULL)
        *found = 0;
    if (ferry_msgpack_decode(buf, len, &rec) != FERRY_OK)
        return FERRY_EFORMAT;
    v = json_object_get(rec, "fv");
    if (!json_is_object(rec) || !json_is_integer(v)) {
        err = FERRY_EFORMAT;
    } else if (json_integer_value(v) != fv) {
        if (found != NULL)
            *found = (long long)json_integer_value(v);
        err = FERRY_EVERSION;
    } else {
        json_object_del(rec, "fv");
        *out = rec;
        return FERRY_OK;
    }
    json_decref(rec);
    return err;
}
