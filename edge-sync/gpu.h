/* edge-sync GPUs: what this node reports about its GPUs, found through NVML at run time. */
#ifndef FERRY_EDGE_GPU_H
#define FERRY_EDGE_GPU_H

#include <jansson.h>
#include <stdbool.h>

#include "ferry/common.h"

/* The NVML library loaded when no other is named. */
#define FERRY_GPU_NVML_LIB "libnvidia-ml.so.1"

/* At most this many devices are reported. */
#define FERRY_GPU_MAX_DEVICES 64

/* Probe the node's GPUs and set *out (caller owns) to
 *   {"sharing": sharing, "devices": [{"index": 0, "model": "NVIDIA H100 80GB HBM3",
 *                                      "memoryMiB": 81559}, ...]}
 * sharing is the --gpu-sharing flag (GPU sharing through HAMi-core set up on this node).
 * NVML is loaded with dlopen from lib_path (NULL: FERRY_GPU_NVML_LIB), so edge-sync has no link
 * dependency on the NVIDIA driver: a missing library, a missing symbol or an NVML error means no
 * GPUs ("devices": [], with a log line saying why, except for the missing library, which is the
 * common case). A device NVML cannot describe is left out. Model names are scrubbed to valid UTF-8.
 * The library is shut down and unloaded before returning. Blocking (NVML may take a second).
 * Returns FERRY_OK, FERRY_EINVAL for out == NULL, FERRY_ENOMEM. */
ferry_err ferry_gpu_probe(const char *lib_path, bool sharing, json_t **out);

#endif
