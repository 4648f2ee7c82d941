/* edge-sync GPUs: discovery through NVML, loaded with dlopen so that edge-sync runs (and reports
 * no GPUs) on nodes without the NVIDIA driver (see gpu.h). */
#include "gpu.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* The few NVML declarations used here, from NVML's ABI (nvml.h is not needed to build). */
typedef int nvml_return;                    /* nvmlReturn_t; NVML_SUCCESS is 0 */
typedef struct nvml_device_st *nvml_device; /* nvmlDevice_t */
typedef struct {
    unsigned long long total, free, used; /* bytes */
} nvml_memory;                            /* nvmlMemory_t (version 1) */

#define NVML_SUCCESS 0
#define NVML_NAME_BUFFER_SIZE 96 /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */

typedef struct {
    nvml_return (*init)(void);
    nvml_return (*shutdown)(void);
    nvml_return (*count)(unsigned int *n);
    nvml_return (*handle)(unsigned int index, nvml_device *dev);
    nvml_return (*name)(nvml_device dev, char *name, unsigned int len);
    nvml_return (*memory)(nvml_device dev, nvml_memory *mem);
    const char *(*error_string)(nvml_return rc); /* optional */
} nvml_api;

/* NVML's text for rc, or its number when the library has no nvmlErrorString. */
static const char *nvml_error(const nvml_api *api, nvml_return rc, char *buf, size_t len) {
    const char *s = api->error_string != NULL ? api->error_string(rc) : NULL;
    if (s != NULL)
        return s;
    snprintf(buf, len, "NVML error %d", rc);
    return buf;
}

/* dlsym into a function pointer. POSIX guarantees the conversion from void * works for
 * functions; the memcpy keeps ISO C's object/function pointer rule out of the way. */
static bool load_symbol(void *lib, const char *name, void *fn, size_t fn_size) {
    void *sym = dlsym(lib, name);
    if (sym == NULL)
        return false;
    memcpy(fn, &sym, fn_size);
    return true;
}

#define LOAD(lib, name, field) load_symbol((lib), (name), &(field), sizeof(field))

/* Append one device to devices; false only on ENOMEM. A device NVML cannot describe is logged
 * and left out. */
static bool add_device(const nvml_api *api, unsigned int index, json_t *devices) {
    char name[NVML_NAME_BUFFER_SIZE + 1] = "", ebuf[32];
    nvml_device dev = NULL;
    nvml_memory mem = {0};
    nvml_return rc;

    if ((rc = api->handle(index, &dev)) != NVML_SUCCESS ||
        (rc = api->name(dev, name, NVML_NAME_BUFFER_SIZE)) != NVML_SUCCESS ||
        (rc = api->memory(dev, &mem)) != NVML_SUCCESS) {
        LOG_WARN("gpu %u: NVML cannot describe it (%s); not reporting it", index,
                 nvml_error(api, rc, ebuf, sizeof(ebuf)));
        return true;
    }
    name[NVML_NAME_BUFFER_SIZE] = '\0';
    ferry_text_scrub(name); /* the driver's bytes go on the wire */
    return json_array_append_new(devices,
                                 json_pack("{s:I, s:s, s:I}", "index", (json_int_t)index, "model",
                                           name, "memoryMiB", (json_int_t)(mem.total >> 20))) == 0;
}

/* Fill devices from the library at lib_path; false only on ENOMEM. */
static bool probe_devices(const char *lib_path, json_t *devices) {
    nvml_api api = {0};
    void *lib = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
    unsigned int n = 0;
    bool initialised = false, ok = true;
    char ebuf[32];
    nvml_return rc;

    if (lib == NULL) {
        LOG_DEBUG("gpu: %s not loaded (%s): no GPUs", lib_path, dlerror());
        return true;
    }
    if (!LOAD(lib, "nvmlInit_v2", api.init) || !LOAD(lib, "nvmlShutdown", api.shutdown) ||
        !LOAD(lib, "nvmlDeviceGetCount_v2", api.count) ||
        !LOAD(lib, "nvmlDeviceGetHandleByIndex_v2", api.handle) ||
        !LOAD(lib, "nvmlDeviceGetName", api.name) ||
        !LOAD(lib, "nvmlDeviceGetMemoryInfo", api.memory)) {
        LOG_WARN("gpu: %s lacks an NVML function this edge-sync needs (%s); reporting no GPUs",
                 lib_path, dlerror());
        goto out;
    }
    LOAD(lib, "nvmlErrorString", api.error_string);
    if ((rc = api.init()) != NVML_SUCCESS) {
        LOG_WARN("gpu: nvmlInit_v2 failed (%s); reporting no GPUs; is the NVIDIA driver loaded?",
                 nvml_error(&api, rc, ebuf, sizeof(ebuf)));
        goto out;
    }
    initialised = true;
    if ((rc = api.count(&n)) != NVML_SUCCESS) {
        LOG_WARN("gpu: nvmlDeviceGetCount_v2 failed (%s); reporting no GPUs",
                 nvml_error(&api, rc, ebuf, sizeof(ebuf)));
        goto out;
    }
    if (n > FERRY_GPU_MAX_DEVICES) {
        LOG_WARN("gpu: NVML reports %u devices; reporting the first %d", n, FERRY_GPU_MAX_DEVICES);
        n = FERRY_GPU_MAX_DEVICES;
    }
    for (unsigned int i = 0; ok && i < n; i++)
        ok = add_device(&api, i, devices);
out:
    if (initialised)
        api.shutdown();
    dlclose(lib);
    return ok;
}

ferry_err ferry_gpu_probe(const char *lib_path, bool sharing, json_t **out) {
    json_t *devices = NULL, *report = NULL;

    if (out == NULL)
        return FERRY_EINVAL;
    *out = NULL;
    if ((devices = json_array()) == NULL ||
        !probe_devices(lib_path != NULL ? lib_path : FERRY_GPU_NVML_LIB, devices))
        goto fail;
    if ((report = json_pack("{s:b, s:O}", "sharing", sharing, "devices", devices)) == NULL)
        goto fail;
    json_decref(devices);
    *out = report;
    return FERRY_OK;
fail:
    json_decref(devices);
    return FERRY_ENOMEM;
}
