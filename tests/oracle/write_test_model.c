/*
 * Test helper: writes the unit tests' tiny random-weight DiffusionGemma GGUF (tests/inference/
 * testmodel.c) to the path given, for the node's integration tests. Answers are gibberish.
 * Usage: write_test_model OUT.gguf [seed]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/inference/testmodel.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: write_test_model OUT.gguf [seed]\n");
        return 2;
    }
    testmodel_opts o;
    memset(&o, 0, sizeof o);
    o.type = GGML_TYPE_Q8_0;
    o.seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    char err[512];
    if (testmodel_write(argv[1], &o, err, sizeof err)) {
        fprintf(stderr, "write_test_model: %s\n", err);
        return 1;
    }
    return 0;
}
