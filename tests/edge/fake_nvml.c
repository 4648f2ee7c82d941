/* A stand-in for libnvidia-ml.so.1 for tests/edge/test_gpu.c: the NVML functions edge-sync/gpu.c
 * loads, answering from FAKE_NVML_MODE (read at each call):
 *   "ok" (default): two devices, "NVIDIA H100 80GB HBM3" with 81559 MiB and a second one whose
 *                   name holds a byte that is not UTF-8, with 16 GiB;
 *   "init-fails", "count-fails": that call fails;
 *   "device-fails": the second device's memory cannot be read;
 *   "many": 1000 devices.
 * fake_nvml_inits/fake_nvml_shutdowns count the calls (the test reads them through dlsym). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned long long total, free, used;
} fake_memory;

typedef struct fake_device {
    unsigned int index;
} fake_device;

int fake_nvml_inits, fake_nvml_shutdowns;

int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetCount_v2(unsigned int *n);
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, fake_device **dev);
int nvmlDeviceGetName(fake_device *dev, char *name, unsigned int len);
int nvmlDeviceGetMemoryInfo(fake_device *dev, fake_memory *mem);
const char *nvmlErrorString(int rc);

static fake_device devices[1000];

static int mode_is(const char *m) {
    const char *mode = getenv("FAKE_NVML_MODE");
    return mode != NULL && strcmp(mode, m) == 0;
}

int nvmlInit_v2(void) {
    if (mode_is("init-fails"))
        return 9; /* NVML_ERROR_DRIVER_NOT_LOADED */
    fake_nvml_inits++;
    return 0;
}

int nvmlShutdown(void) {
    fake_nvml_shutdowns++;
    return 0;
}

int nvmlDeviceGetCount_v2(unsigned int *n) {
    if (mode_is("count-fails"))
        return 999; /* NVML_ERROR_UNKNOWN */
    *n = mode_is("many") ? 1000 : 2;
    return 0;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, fake_device **dev) {
    if (index >= 1000)
        return 2; /* NVML_ERROR_INVALID_ARGUMENT */
    devices[index].index = index;
    *dev = &devices[index];
    return 0;
}

int nvmlDeviceGetName(fake_device *dev, char *name, unsigned int len) {
    const char *n = dev->index == 1 ? "Fake\xff GPU" : "NVIDIA H100 80GB HBM3";
    if (mode_is("many"))
        n = "Fake";
    if (strlen(n) + 1 > len)
        return 7; /* NVML_ERROR_INSUFFICIENT_SIZE */
    snprintf(name, len, "%s", n);
    return 0;
}

int nvmlDeviceGetMemoryInfo(fake_device *dev, fake_memory *mem) {
    if (dev->index == 1 && mode_is("device-fails"))
        return 15; /* NVML_ERROR_GPU_IS_LOST */
    mem->total = dev->index == 1 ? 16ULL << 30 : 81559ULL << 20;
    mem->used = 0;
    mem->free = mem->total;
    return 0;
}

const char *nvmlErrorString(int rc) {
    return rc == 9 ? "Driver Not Loaded" : rc == 15 ? "GPU is lost" : "Unknown Error";
}
