/*
 * A stand-in libnvidia-ml for tests: it exports the NVML symbols llm-exporter calls (the names
 * nvml-wrapper-sys 0.9 loads: nvmlInit_v2, nvmlDeviceGetCount_v2, ..._v3 process lists) and
 * answers them from a JSON file named by NVML_STANDIN_CONFIG, read at nvmlInit_v2.
 *
 * The file (see the *.json fixtures beside this one):
 *   { "init": CODE?, "driver_version": "550.54.15", "cuda_version": 12040,
 *     "defaults": { FIELD: VALUE, ... },          fields every GPU has unless it says otherwise
 *     "gpus": [ { FIELD: VALUE, ... }, ... ] }
 * A field missing from a GPU and from "defaults" answers NOT_SUPPORTED. Any value (a field, or
 * one element or member inside it) may instead be a string naming an NVML return code without
 * its NVML_ERROR_ prefix ("NOT_SUPPORTED", "GPU_IS_LOST", "UNKNOWN", ...), which that call then
 * answers, or "HANG", which makes that call sleep forever.
 *
 * GPU fields: handle (a code only), name, uuid, pci_bus_id, max_clocks and clocks
 * ({graphics, sm, memory} in MHz), utilization ({gpu, memory} percent), memory ({total,
 * reserved, free, used} bytes), temperature, power_mw, power_limit_mw, energy_mj, fans (array
 * of percents), pstate, throttle_reasons, pcie_link_generation, pcie_link_width, pcie_tx_bytes,
 * pcie_rx_bytes, ecc ({corrected, uncorrected}), encoder, decoder (percent),
 * compute_processes and graphics_processes ([{pid, used_memory}], used_memory absent = not
 * available), process_utilization ([{pid, sm, mem, enc, dec}]: one sample per entry, stamped
 * with the time of the call, newer than any lastSeenTimeStamp the caller passes).
 *
 * When NVML_STANDIN_LOG names a file, each call appends one line to it: for a GPU, the field
 * it read and the GPU index ("temperature 0"); else the function's name ("nvmlInit_v2"); and
 * "lastSeen GPU TIMESTAMP" for each utilization call.
 *
 * Build: cc -shared -fPIC -O2 -o libnvidia-ml.so.1 standin.c
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

typedef unsigned int nvmlReturn_t;
typedef struct Gpu *nvmlDevice_t;

enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_ERROR_UNKNOWN = 999,
};

static const struct { const char *name; nvmlReturn_t code; } CODES[] = {
    {"SUCCESS", 0}, {"UNINITIALIZED", 1}, {"INVALID_ARGUMENT", 2}, {"NOT_SUPPORTED", 3},
    {"NO_PERMISSION", 4}, {"ALREADY_INITIALIZED", 5}, {"NOT_FOUND", 6}, {"INSUFFICIENT_SIZE", 7},
    {"INSUFFICIENT_POWER", 8}, {"DRIVER_NOT_LOADED", 9}, {"TIMEOUT", 10}, {"IRQ_ISSUE", 11},
    {"LIBRARY_NOT_FOUND", 12}, {"FUNCTION_NOT_FOUND", 13}, {"CORRUPTED_INFOROM", 14},
    {"GPU_IS_LOST", 15}, {"RESET_REQUIRED", 16}, {"OPERATING_SYSTEM", 17},
    {"LIB_RM_VERSION_MISMATCH", 18}, {"IN_USE", 19}, {"MEMORY", 20}, {"NO_DATA", 21},
    {"UNKNOWN", 999},
};

/* ---- a small JSON reader: objects, arrays, strings (\" \\ \/ \n \t escapes), numbers,
 * true, false, null. Unsigned integers are kept exact. ---- */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct J {
    int type;
    unsigned long long u; /* J_NUM without sign, point or exponent; J_BOOL */
    double d;             /* J_NUM */
    char *s;              /* J_STR */
    int n;                /* J_ARR, J_OBJ: element count */
    char **keys;          /* J_OBJ */
    struct J **items;     /* J_ARR, J_OBJ */
} J;

static const char *src;

static void ws(void) {
    while (*src == ' ' || *src == '\n' || *src == '\r' || *src == '\t') src++;
}

static J *node(int type) {
    J *j = calloc(1, sizeof(J));
    if (j) j->type = type;
    return j;
}

static char *string(void) {
    if (*src != '"') return NULL;
    src++;
    size_t cap = 16, len = 0;
    char *out = malloc(cap);
    while (out && *src && *src != '"') {
        char c = *src++;
        if (c == '\\') {
            c = *src++;
            if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
            else if (c != '"' && c != '\\' && c != '/') { free(out); return NULL; }
        }
        if (len + 2 > cap) {
            char *bigger = realloc(out, cap *= 2);
            if (!bigger) { free(out); return NULL; }
            out = bigger;
        }
        out[len++] = c;
    }
    if (!out || *src != '"') { free(out); return NULL; }
    src++;
    out[len] = 0;
    return out;
}

static J *value(int depth);

static J *list(char close, int object, int depth) {
    J *j = node(object ? J_OBJ : J_ARR);
    if (!j) return NULL;
    src++;
    ws();
    if (*src == close) { src++; return j; }
    for (;;) {
        char *key = NULL;
        if (object) {
            ws();
            if (!(key = string())) return NULL;
            ws();
            if (*src++ != ':') return NULL;
        }
        J *item = value(depth + 1);
        if (!item) return NULL;
        j->items = realloc(j->items, sizeof(J *) * (j->n + 1));
        j->keys = realloc(j->keys, sizeof(char *) * (j->n + 1));
        if (!j->items || !j->keys) return NULL;
        j->items[j->n] = item;
        j->keys[j->n++] = key;
        ws();
        if (*src == ',') { src++; continue; }
        if (*src++ == close) return j;
        return NULL;
    }
}

static J *value(int depth) {
    ws();
    if (depth > 32) return NULL;
    if (*src == '{') return list('}', 1, depth);
    if (*src == '[') return list(']', 0, depth);
    if (*src == '"') {
        J *j = node(J_STR);
        if (j && !(j->s = string())) return NULL;
        return j;
    }
    const char *words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t len = strlen(words[i]);
        if (strncmp(src, words[i], len) == 0) {
            src += len;
            J *j = node(i < 2 ? J_BOOL : J_NULL);
            if (j) j->u = (i == 0);
            return j;
        }
    }
    char *end;
    double d = strtod(src, &end);
    if (end == src) return NULL;
    J *j = node(J_NUM);
    if (!j) return NULL;
    j->d = d;
    j->u = (unsigned long long)(d < 0 ? 0 : d);
    if (*src != '-' && strcspn(src, ".eE") >= (size_t)(end - src)) j->u = strtoull(src, NULL, 10);
    src = end;
    return j;
}

static J *member(const J *obj, const char *key) {
    if (!obj || obj->type != J_OBJ) return NULL;
    for (int i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
    return NULL;
}

static J *element(const J *arr, int i) {
    return arr && arr->type == J_ARR && i >= 0 && i < arr->n ? arr->items[i] : NULL;
}

/* ---- state ---- */

#define MAX_GPUS 64

struct Gpu {
    unsigned index;
    J *json;
};

static J *config;
static J *defaults;
static J *gpu_list;
static struct Gpu gpus[MAX_GPUS];
static unsigned gpu_count;
static int initialized;

static void note(const char *fmt, ...) {
    const char *path = getenv("NVML_STANDIN_LOG");
    if (!path) return;
    char line[256];
    va_list args;
    va_start(args, fmt);
    int len = vsnprintf(line, sizeof line - 1, fmt, args);
    va_end(args);
    if (len < 0) return;
    if (len > (int)sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return;
    ssize_t written = write(fd, line, (size_t)len);
    (void)written;
    close(fd);
}

static void hang(void) {
    for (;;) sleep(3600);
}

/* A string value naming a return code (or HANG) makes the call answer it; -1 otherwise. */
static long code_of(const J *v) {
    if (!v || v->type != J_STR) return -1;
    if (strcmp(v->s, "HANG") == 0) hang();
    for (size_t i = 0; i < sizeof CODES / sizeof CODES[0]; i++)
        if (strcmp(v->s, CODES[i].name) == 0) return CODES[i].code;
    return -1;
}

/* Looks up FIELD of a GPU (or of "defaults"): SUCCESS with *out set, or the code to answer. */
static nvmlReturn_t field(nvmlDevice_t dev, const char *key, const J **out) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (!dev || dev < gpus || dev >= gpus + gpu_count) return NVML_ERROR_INVALID_ARGUMENT;
    note("%s %u", key, dev->index);
    const J *v = member(dev->json, key);
    if (!v) v = member(defaults, key);
    if (!v) return NVML_ERROR_NOT_SUPPORTED;
    long code = code_of(v);
    if (code >= 0) return (nvmlReturn_t)code;
    *out = v;
    return NVML_SUCCESS;
}

/* One member or element inside a field's value, with the same code rules. */
static nvmlReturn_t inner(const J *v, const char *key, int index, const J **out) {
    const J *x = key ? member(v, key) : element(v, index);
    if (!x) return NVML_ERROR_NOT_SUPPORTED;
    long code = code_of(x);
    if (code >= 0) return (nvmlReturn_t)code;
    *out = x;
    return NVML_SUCCESS;
}

#define FIELD(dev, key, v) \
    const J *v = NULL; \
    { nvmlReturn_t r_ = field(dev, key, &v); if (r_ != NVML_SUCCESS) return r_; }

static nvmlReturn_t copy_string(const J *v, char *buf, unsigned len) {
    if (!buf || v->type != J_STR) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(v->s) + 1 > len) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(buf, v->s);
    return NVML_SUCCESS;
}

static nvmlReturn_t number(nvmlDevice_t dev, const char *key, const char *sub, unsigned long long *out) {
    FIELD(dev, key, v);
    if (sub) {
        nvmlReturn_t r = inner(v, sub, 0, &v);
        if (r != NVML_SUCCESS) return r;
    }
    if (!out || v->type != J_NUM) return NVML_ERROR_INVALID_ARGUMENT;
    *out = v->u;
    return NVML_SUCCESS;
}

static nvmlReturn_t number32(nvmlDevice_t dev, const char *key, const char *sub, unsigned *out) {
    unsigned long long v;
    nvmlReturn_t r = number(dev, key, sub, &v);
    if (r == NVML_SUCCESS) {
        if (!out) return NVML_ERROR_INVALID_ARGUMENT;
        *out = (unsigned)v;
    }
    return r;
}

/* ---- NVML ---- */

nvmlReturn_t nvmlInit_v2(void) {
    note("nvmlInit_v2");
    const char *path = getenv("NVML_STANDIN_CONFIG");
    if (!path) return NVML_ERROR_DRIVER_NOT_LOADED;
    FILE *f = fopen(path, "rb");
    if (!f) return NVML_ERROR_DRIVER_NOT_LOADED;
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    src = text;
    J *parsed = value(0);
    if (!parsed || parsed->type != J_OBJ) {
        fprintf(stderr, "nvml-standin: %s: not valid JSON near byte %ld\n", path, (long)(src - text));
        return NVML_ERROR_UNKNOWN;
    }
    long code = code_of(member(parsed, "init"));
    if (code > 0) return (nvmlReturn_t)code;
    config = parsed;
    defaults = member(config, "defaults");
    gpu_list = member(config, "gpus");
    gpu_count = gpu_list && gpu_list->type == J_ARR ? (unsigned)gpu_list->n : 0;
    if (gpu_count > MAX_GPUS) gpu_count = MAX_GPUS;
    for (unsigned i = 0; i < gpu_count; i++) {
        gpus[i].index = i;
        gpus[i].json = gpu_list->items[i];
    }
    initialized = 1;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlInitWithFlags(unsigned flags) {
    (void)flags;
    return nvmlInit_v2();
}

nvmlReturn_t nvmlShutdown(void) {
    note("nvmlShutdown");
    initialized = 0;
    return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t code) {
    for (size_t i = 0; i < sizeof CODES / sizeof CODES[0]; i++)
        if (CODES[i].code == code) return CODES[i].name;
    return "UNKNOWN";
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned len) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    note("nvmlSystemGetDriverVersion");
    const J *v = member(config, "driver_version");
    if (!v) return NVML_ERROR_NOT_SUPPORTED;
    long code = code_of(v);
    return code >= 0 ? (nvmlReturn_t)code : copy_string(v, version, len);
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *version) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    note("nvmlSystemGetCudaDriverVersion_v2");
    const J *v = member(config, "cuda_version");
    if (!v) return NVML_ERROR_NOT_SUPPORTED;
    long code = code_of(v);
    if (code >= 0) return (nvmlReturn_t)code;
    if (!version || v->type != J_NUM) return NVML_ERROR_INVALID_ARGUMENT;
    *version = (int)v->d;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *version) {
    return nvmlSystemGetCudaDriverVersion_v2(version);
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *count) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    note("nvmlDeviceGetCount_v2");
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    *count = gpu_count;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned index, nvmlDevice_t *device) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (index >= gpu_count || !device) return NVML_ERROR_INVALID_ARGUMENT;
    note("nvmlDeviceGetHandleByIndex_v2 %u", index);
    long code = code_of(member(gpus[index].json, "handle"));
    if (code > 0) return (nvmlReturn_t)code;
    *device = &gpus[index];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t dev, char *name, unsigned len) {
    FIELD(dev, "name", v);
    return copy_string(v, name, len);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t dev, char *uuid, unsigned len) {
    FIELD(dev, "uuid", v);
    return copy_string(v, uuid, len);
}

typedef struct {
    char busIdLegacy[16];
    unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t dev, nvmlPciInfo_t *pci) {
    FIELD(dev, "pci_bus_id", v);
    if (!pci || v->type != J_STR || strlen(v->s) >= sizeof pci->busId) return NVML_ERROR_INVALID_ARGUMENT;
    memset(pci, 0, sizeof *pci);
    strcpy(pci->busId, v->s);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%s", v->s);
    unsigned function = 0;
    sscanf(v->s, "%x:%x:%x.%x", &pci->domain, &pci->bus, &pci->device, &function);
    pci->pciDeviceId = 0x233010de;
    return NVML_SUCCESS;
}

static const char *CLOCK_NAMES[] = {"graphics", "sm", "memory", "video"};

nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t dev, unsigned type, unsigned *mhz) {
    if (type > 3) return NVML_ERROR_INVALID_ARGUMENT;
    return number32(dev, "max_clocks", CLOCK_NAMES[type], mhz);
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t dev, unsigned type, unsigned *mhz) {
    if (type > 3) return NVML_ERROR_INVALID_ARGUMENT;
    return number32(dev, "clocks", CLOCK_NAMES[type], mhz);
}

typedef struct { unsigned gpu, memory; } nvmlUtilization_t;

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t dev, nvmlUtilization_t *u) {
    if (!u) return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = number32(dev, "utilization", "gpu", &u->gpu);
    return r != NVML_SUCCESS ? r : number32(dev, "utilization", "memory", &u->memory);
}

typedef struct {
    unsigned version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t dev, nvmlMemory_v2_t *m) {
    if (!m) return NVML_ERROR_INVALID_ARGUMENT;
    if (m->version != (sizeof *m | 2u << 24)) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    nvmlReturn_t r;
    if ((r = number(dev, "memory", "total", &m->total)) != NVML_SUCCESS) return r;
    if ((r = number(dev, "memory", "reserved", &m->reserved)) != NVML_SUCCESS) return r;
    if ((r = number(dev, "memory", "free", &m->free)) != NVML_SUCCESS) return r;
    return number(dev, "memory", "used", &m->used);
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t dev, unsigned sensor, unsigned *celsius) {
    if (sensor != 0) return NVML_ERROR_INVALID_ARGUMENT;
    return number32(dev, "temperature", NULL, celsius);
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t dev, unsigned *mw) {
    return number32(dev, "power_mw", NULL, mw);
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t dev, unsigned *mw) {
    return number32(dev, "power_limit_mw", NULL, mw);
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t dev, unsigned long long *mj) {
    return number(dev, "energy_mj", NULL, mj);
}

nvmlReturn_t nvmlDeviceGetNumFans(nvmlDevice_t dev, unsigned *count) {
    FIELD(dev, "fans", v);
    if (!count || v->type != J_ARR) return NVML_ERROR_INVALID_ARGUMENT;
    *count = (unsigned)v->n;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetFanSpeed_v2(nvmlDevice_t dev, unsigned fan, unsigned *percent) {
    FIELD(dev, "fans", v);
    nvmlReturn_t r = inner(v, NULL, (int)fan, &v);
    if (r != NVML_SUCCESS) return r;
    if (!percent || v->type != J_NUM) return NVML_ERROR_INVALID_ARGUMENT;
    *percent = (unsigned)v->u;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t dev, unsigned *pstate) {
    return number32(dev, "pstate", NULL, pstate);
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t dev, unsigned long long *reasons) {
    return number(dev, "throttle_reasons", NULL, reasons);
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t dev, unsigned *generation) {
    return number32(dev, "pcie_link_generation", NULL, generation);
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t dev, unsigned *width) {
    return number32(dev, "pcie_link_width", NULL, width);
}

typedef struct {
    unsigned fieldId, scopeId;
    long long timestamp, latencyUsec;
    unsigned valueType;
    nvmlReturn_t nvmlReturn;
    union { double d; unsigned long long ull; } value;
} nvmlFieldValue_t;

nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t dev, int count, nvmlFieldValue_t *values) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (!dev || dev < gpus || dev >= gpus + gpu_count || count < 0 || (count > 0 && !values))
        return NVML_ERROR_INVALID_ARGUMENT;
    for (int i = 0; i < count; i++) {
        nvmlFieldValue_t *f = &values[i];
        const char *key = f->fieldId == 197 ? "pcie_tx_bytes" : f->fieldId == 198 ? "pcie_rx_bytes" : NULL;
        f->valueType = 3; /* NVML_VALUE_TYPE_UNSIGNED_LONG_LONG */
        f->nvmlReturn = key ? number(dev, key, NULL, &f->value.ull) : NVML_ERROR_INVALID_ARGUMENT;
    }
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t dev, unsigned type, unsigned counter, unsigned long long *count) {
    (void)counter;
    if (type > 1) return NVML_ERROR_INVALID_ARGUMENT;
    return number(dev, "ecc", type == 0 ? "corrected" : "uncorrected", count);
}

nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t dev, unsigned *percent, unsigned *period_us) {
    if (!period_us) return NVML_ERROR_INVALID_ARGUMENT;
    *period_us = 167000;
    return number32(dev, "encoder", NULL, percent);
}

nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t dev, unsigned *percent, unsigned *period_us) {
    if (!period_us) return NVML_ERROR_INVALID_ARGUMENT;
    *period_us = 167000;
    return number32(dev, "decoder", NULL, percent);
}

typedef struct {
    unsigned pid;
    unsigned long long usedGpuMemory;
    unsigned gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

static nvmlReturn_t processes(nvmlDevice_t dev, const char *key, unsigned *count, nvmlProcessInfo_t *infos) {
    FIELD(dev, key, v);
    if (!count || v->type != J_ARR) return NVML_ERROR_INVALID_ARGUMENT;
    unsigned n = (unsigned)v->n;
    if (n == 0) { *count = 0; return NVML_SUCCESS; }
    if (!infos || *count < n) { *count = n; return NVML_ERROR_INSUFFICIENT_SIZE; }
    for (unsigned i = 0; i < n; i++) {
        const J *p = v->items[i], *pid = member(p, "pid"), *used = member(p, "used_memory");
        infos[i].pid = pid ? (unsigned)pid->u : 0;
        infos[i].usedGpuMemory = used ? used->u : ~0ULL; /* NVML_VALUE_NOT_AVAILABLE */
        infos[i].gpuInstanceId = infos[i].computeInstanceId = 0xffffffffu;
    }
    *count = n;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t dev, unsigned *count, nvmlProcessInfo_t *infos) {
    return processes(dev, "compute_processes", count, infos);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t dev, unsigned *count, nvmlProcessInfo_t *infos) {
    return processes(dev, "graphics_processes", count, infos);
}

typedef struct {
    unsigned pid;
    unsigned long long timeStamp;
    unsigned smUtil, memUtil, encUtil, decUtil;
} nvmlProcessUtilizationSample_t;

nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t dev, nvmlProcessUtilizationSample_t *samples,
                                             unsigned *count, unsigned long long last_seen) {
    if (dev >= gpus && dev < gpus + gpu_count) note("lastSeen %u %llu", dev->index, last_seen);
    FIELD(dev, "process_utilization", v);
    if (!count || v->type != J_ARR) return NVML_ERROR_INVALID_ARGUMENT;
    unsigned n = (unsigned)v->n;
    if (n == 0) return NVML_ERROR_NOT_FOUND;
    if (!samples || *count < n) { *count = n; return NVML_ERROR_INSUFFICIENT_SIZE; }
    struct timeval now;
    gettimeofday(&now, NULL);
    unsigned long long stamp = (unsigned long long)now.tv_sec * 1000000ULL + (unsigned long long)now.tv_usec;
    if (stamp <= last_seen) stamp = last_seen + 1;
    const char *names[] = {"sm", "mem", "enc", "dec"};
    for (unsigned i = 0; i < n; i++) {
        const J *s = v->items[i], *pid = member(s, "pid");
        unsigned *out[] = {&samples[i].smUtil, &samples[i].memUtil, &samples[i].encUtil, &samples[i].decUtil};
        samples[i].pid = pid ? (unsigned)pid->u : 0;
        samples[i].timeStamp = stamp;
        for (int k = 0; k < 4; k++) {
            const J *x = member(s, names[k]);
            *out[k] = x ? (unsigned)x->u : 0;
        }
    }
    *count = n;
    return NVML_SUCCESS;
}
