/* Unit tests of edge-sync/gpu.c: GPU discovery against a fake NVML library (fake_nvml.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/common.h"
#include "gpu.h"

/* The fake stays loaded for the whole run, so gpu.c's dlopen finds this same instance and its
 * call counters. */
static void *fake;
static int *inits, *shutdowns;

static int setup(void **state) {
    (void)state;
    fake = dlopen(FAKE_NVML_PATH, RTLD_NOW | RTLD_LOCAL);
    if (fake == NULL)
        return -1;
    inits = dlsym(fake, "fake_nvml_inits");
    shutdowns = dlsym(fake, "fake_nvml_shutdowns");
    return inits != NULL && shutdowns != NULL ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    unsetenv("FAKE_NVML_MODE");
    if (fake != NULL)
        dlclose(fake);
    return 0;
}

static json_t *probe(const char *mode, const char *lib, bool sharing) {
    json_t *out = NULL;
    setenv("FAKE_NVML_MODE", mode, 1);
    assert_int_equal(ferry_gpu_probe(lib, sharing, &out), FERRY_OK);
    assert_non_null(out);
    assert_true(json_is_boolean(json_object_get(out, "sharing")));
    assert_true(json_is_array(json_object_get(out, "devices")));
    assert_int_equal(json_object_size(out), 2);
    /* every probe that got past nvmlInit_v2 shut NVML down again */
    assert_int_equal(*inits, *shutdowns);
    return out;
}

static void test_two_devices(void **state) {
    (void)state;
    json_t *out = probe("ok", FAKE_NVML_PATH, true);
    json_t *want =
        json_loads("{\"sharing\":true,\"devices\":["
                   "{\"index\":0,\"model\":\"NVIDIA H100 80GB HBM3\",\"memoryMiB\":81559},"
                   "{\"index\":1,\"model\":\"Fake? GPU\",\"memoryMiB\":16384}]}",
                   0, NULL);
    assert_non_null(want);
    assert_true(json_equal(out, want));
    assert_true(*inits > 0);
    json_decref(want);
    json_decref(out);

    out = probe("ok", FAKE_NVML_PATH, false);
    assert_true(json_is_false(json_object_get(out, "sharing")));
    assert_int_equal(json_array_size(json_object_get(out, "devices")), 2);
    json_decref(out);
}

static void test_no_library_no_gpus(void **state) {
    (void)state;
    json_t *out = probe("ok", "/nonexistent/libnvidia-ml.so.1", true);
    assert_int_equal(json_array_size(json_object_get(out, "devices")), 0);
    assert_true(json_is_true(json_object_get(out, "sharing")));
    json_decref(out);

    /* a library that is not NVML at all (no nvmlInit_v2): no GPUs either */
    out = probe("ok", "libm.so.6", false);
    assert_int_equal(json_array_size(json_object_get(out, "devices")), 0);
    json_decref(out);

    assert_int_equal(ferry_gpu_probe(FAKE_NVML_PATH, false, NULL), FERRY_EINVAL);
}

static void test_nvml_failures(void **state) {
    (void)state;
    int before = *inits;
    json_t *out = probe("init-fails", FAKE_NVML_PATH, false);
    assert_int_equal(json_array_size(json_object_get(out, "devices")), 0);
    assert_int_equal(*inits, before); /* nothing to shut down */
    json_decref(out);

    out = probe("count-fails", FAKE_NVML_PATH, false);
    assert_int_equal(json_array_size(json_object_get(out, "devices")), 0);
    assert_int_equal(*inits, before + 1);
    json_decref(out);

    /* one device NVML cannot describe is left out, the others stay */
    out = probe("device-fails", FAKE_NVML_PATH, false);
    json_t *devices = json_object_get(out, "devices");
    assert_int_equal(json_array_size(devices), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(devices, 0), "index")), 0);
    json_decref(out);
}

static void test_device_cap(void **state) {
    (void)state;
    json_t *out = probe("many", FAKE_NVML_PATH, false);
    json_t *devices = json_object_get(out, "devices");
    assert_int_equal(json_array_size(devices), FERRY_GPU_MAX_DEVICES);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(devices, FERRY_GPU_MAX_DEVICES - 1), "index")),
                     FERRY_GPU_MAX_DEVICES - 1);
    json_decref(out);
}

/* Every allocation failure gives FERRY_ENOMEM and no report, or the full report; no leak. */
static void test_failing_allocator(void **state) {
    (void)state;
    json_t *want = probe("ok", FAKE_NVML_PATH, true);
    int failures = 0;

    ferry_alloc_install_json();
    for (long n = 1; n < 100; n++) {
        json_t *out = NULL;
        ferry_alloc_fail_after(n);
        ferry_err rc = ferry_gpu_probe(FAKE_NVML_PATH, true, &out);
        ferry_alloc_fail_after(0);
        if (rc == FERRY_OK) {
            assert_true(json_equal(out, want));
        } else {
            assert_int_equal(rc, FERRY_ENOMEM);
            assert_null(out);
            failures++;
        }
        json_decref(out);
        assert_int_equal(*inits, *shutdowns);
    }
    assert_true(failures > 3);
    json_decref(want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_devices),       cmocka_unit_test(test_no_library_no_gpus),
        cmocka_unit_test(test_nvml_failures),     cmocka_unit_test(test_device_cap),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
