#include "adapters/adapter.h"

#include <stdlib.h>
#include <string.h>

static const adapter_def *const adapters[] = {&adapter_text};

const adapter_def *adapter_find(const uint8_t name[32])
{
    size_t n = 0;
    while (n < 32 && name[n])
        n++;
    for (size_t i = n; i < 32; i++)
        if (name[i])
            return NULL; /* not zero-padded: no adapter has such a name */
    for (size_t i = 0; i < sizeof adapters / sizeof adapters[0]; i++)
        if (strlen(adapters[i]->name) == n && !memcmp(adapters[i]->name, name, n))
            return adapters[i];
    return NULL;
}

void adapter_result_free(adapter_result *r)
{
    free(r->output);
    r->output = NULL;
    r->output_len = 0;
}

const char *reject_code_name(int code)
{
    switch (code) {
    case REJECT_UNKNOWN_MODEL:
        return "unknown model";
    case REJECT_UNKNOWN_ADAPTER:
        return "unknown adapter";
    case REJECT_INPUT_TOO_LARGE:
        return "input too large";
    case REJECT_BAD_INPUT:
        return "bad input";
    case REJECT_BAD_PARAMS:
        return "bad params";
    case REJECT_PARAMS_RANGE:
        return "params out of range";
    case REJECT_PROMPT_TOO_LONG:
        return "prompt too long";
    case REJECT_ENGINE_FAILURE:
        return "engine failure";
    }
    return "unknown reason";
}
