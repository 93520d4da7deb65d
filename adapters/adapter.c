#include "adapters/adapter.h"

#include <stdlib.h>
#include <string.h>

static const adapter_def *const adapters[] = {&adapter_text,   &adapter_chat, &adapter_choice,
                                              &adapter_number, &adapter_bool, &adapter_json};

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
        return "UNKNOWN_MODEL";
    case REJECT_INPUT_TOO_LONG:
        return "INPUT_TOO_LONG";
    case REJECT_PARAMS_INVALID:
        return "PARAMS_INVALID";
    case REJECT_ADAPTER_PARSE:
        return "ADAPTER_PARSE";
    case REJECT_UNKNOWN_ADAPTER:
        return "UNKNOWN_ADAPTER";
    case REJECT_ENGINE_FAILURE:
        return "ENGINE_FAILURE";
    }
    return "unknown reason";
}
