/*
 * Replays a fuzz target's corpus without libFuzzer (any compiler): runs
 * LLVMFuzzerTestOneInput on every file in the directories given, then on every prefix and
 * on single-byte mutations of each file, so that the targets' properties are checked by
 * ctest in every build (Release and ASan). Exit 0 when nothing aborted.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

static size_t run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    uint8_t *data = malloc(1 << 20);
    size_t n = fread(data, 1, 1 << 20, f);
    fclose(f);
    size_t runs = 0;
    LLVMFuzzerTestOneInput(data, n);
    runs++;
    for (size_t cut = 0; cut < n; cut++, runs++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees overreads */
        memcpy(copy, data, cut);
        LLVMFuzzerTestOneInput(copy, cut);
        free(copy);
    }
    uint8_t *copy = malloc(n ? n : 1);
    for (size_t i = 1; i < n; i++) {
        static const uint8_t flips[] = {0x01, 0x20, 0x80, 0xff};
        for (size_t k = 0; k < sizeof flips; k++, runs++) {
            memcpy(copy, data, n);
            copy[i] ^= flips[k];
            LLVMFuzzerTestOneInput(copy, n);
        }
    }
    free(copy);
    free(data);
    return runs;
}

int main(int argc, char **argv)
{
    size_t files = 0, runs = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            fprintf(stderr, "cannot open corpus %s\n", argv[a]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            runs += run_file(path);
            files++;
        }
        closedir(d);
    }
    if (files == 0) {
        fprintf(stderr, "empty corpus\n");
        return 1;
    }
    printf("replayed %zu corpus files, %zu inputs\n", files, runs);
    return 0;
}
