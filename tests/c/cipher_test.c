/* The legacy cipher through the C ABI: vectors, bad input, ownership conventions.
 *
 * Usage: cipher_test VECTORS_FILE
 * Each line of VECTORS_FILE: "op a b hex(text) kind hex(expected)" where op is crypt or
 * decrypt and kind is ok, unsupported or notcoprime (written by tests/c_abi.rs from
 * tests/data/vectors.json). Prints "N passed, M failed" and exits non-zero on failure.
 */
#include <smc.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed = 0;
static int failed = 0;

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (cond) {                                       \
            passed++;                                     \
        } else {                                          \
            failed++;                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                 \
            fprintf(stderr, "\n");                        \
        }                                                 \
    } while (0)

static char *unhex(const char *hex) {
    size_t n = strlen(hex) / 2;
    char *out = malloc(n + 1);
    if (!out) exit(2);
    for (size_t i = 0; i < n; i++) {
        unsigned int byte;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1) exit(2);
        out[i] = (char)byte;
    }
    out[n] = '\0';
    return out;
}

static void run_vectors(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    char op[16], kind[16];
    int64_t a, b;
    static char text_hex[1 << 16], expected_hex[1 << 16];
    int cases = 0;
    while (fscanf(f, "%15s %" SCNd64 " %" SCNd64 " %65535s %15s %65535s", op, &a, &b, text_hex,
                  kind, expected_hex) == 6) {
        cases++;
        /* "-" stands for the empty string. */
        char *text = unhex(strcmp(text_hex, "-") == 0 ? "" : text_hex);
        char *expected = unhex(strcmp(expected_hex, "-") == 0 ? "" : expected_hex);
        char *out = (char *)0x1; /* sentinel: must stay untouched on failure */
        smc_status st = strcmp(op, "crypt") == 0 ? smc_crypt(text, a, b, &out)
                                                 : smc_decrypt(text, a, b, &out);
        if (strcmp(kind, "ok") == 0) {
            CHECK(st == SMC_OK, "%s(%s, %" PRId64 ", %" PRId64 "): status %d (%s)", op, text, a, b,
                  (int)st, smc_last_error_message());
            if (st == SMC_OK) {
                CHECK(strcmp(out, expected) == 0, "%s(%s): got [%s] want [%s]", op, text, out,
                      expected);
                smc_string_free(out);
            }
        } else if (strcmp(kind, "unsupported") == 0) {
            CHECK(st == SMC_UNSUPPORTED_CHARACTER, "%s(%s): status %d", op, text, (int)st);
            CHECK(out == (char *)0x1, "out written on failure");
            CHECK(strstr(smc_last_error_message(), "position") != NULL, "detail: %s",
                  smc_last_error_message());
        } else {
            CHECK(st == SMC_NOT_COPRIME, "%s(%s, %" PRId64 "): status %d", op, text, a, (int)st);
            CHECK(out == (char *)0x1, "out written on failure");
        }
        free(text);
        free(expected);
    }
    fclose(f);
    CHECK(cases > 100, "only %d vector lines read", cases);
}

static void run_bad_input(void) {
    char *out = NULL;
    CHECK(smc_crypt(NULL, 35, 19, &out) == SMC_NULL_POINTER, "NULL text");
    CHECK(out == NULL, "out written on NULL text");
    CHECK(strstr(smc_last_error_message(), "text") != NULL, "detail names the argument: %s",
          smc_last_error_message());
    CHECK(smc_crypt("Test", 35, 19, NULL) == SMC_NULL_POINTER, "NULL out_text");
    CHECK(smc_decrypt(NULL, 35, 19, &out) == SMC_NULL_POINTER, "NULL text (decrypt)");

    const char invalid_utf8[] = {'a', (char)0xE9, 'b', '\0'}; /* cp1252 e-acute */
    CHECK(smc_crypt(invalid_utf8, 35, 19, &out) == SMC_INVALID_UTF8, "invalid UTF-8");
    CHECK(smc_decrypt(invalid_utf8, 35, 19, &out) == SMC_INVALID_UTF8, "invalid UTF-8 (decrypt)");
    CHECK(out == NULL, "out written on invalid UTF-8");

    CHECK(smc_crypt("a\xc3\xaa", 35, 19, &out) == SMC_UNSUPPORTED_CHARACTER, "e-circumflex");
    CHECK(strcmp(smc_last_error_message(), "unsupported character '\xc3\xaa' at position 1") == 0,
          "detail: %s", smc_last_error_message());
    CHECK(smc_crypt("Test", 97, 19, &out) == SMC_NOT_COPRIME, "a = 97");
    CHECK(smc_crypt("Test", INT64_MIN, INT64_MAX, &out) == SMC_OK, "extreme key");
    smc_string_free(out);
    out = NULL;

    /* A success clears the detail message. */
    CHECK(smc_crypt("Test", 35, 19, &out) == SMC_OK && out != NULL, "ok");
    CHECK(strcmp(out, "e[j-") == 0, "Test -> %s", out);
    CHECK(strcmp(smc_last_error_message(), "") == 0, "detail after success");
    smc_string_free(out);
    smc_string_free(NULL);

    int64_t v = -7;
    CHECK(smc_pgcd(35, -97, &v) == SMC_OK && v == -1, "pgcd(35, -97) = %" PRId64, v);
    CHECK(smc_pgcd(0, 0, &v) == SMC_OK && v == 0, "pgcd(0, 0)");
    CHECK(smc_pgcd(INT64_MIN, -1, &v) == SMC_OK && v == -1, "pgcd(INT64_MIN, -1)");
    CHECK(smc_pgcd(1, 2, NULL) == SMC_NULL_POINTER, "pgcd NULL out");
    CHECK(smc_inverse(2, &v) == SMC_OK && v == 49, "inverse(2) = %" PRId64, v);
    v = 12345;
    CHECK(smc_inverse(-194, &v) == SMC_NOT_COPRIME && v == 12345, "inverse(-194)");
    CHECK(smc_inverse(3, NULL) == SMC_NULL_POINTER, "inverse NULL out");

    CHECK(strcmp(smc_status_message(SMC_OK), "success") == 0, "status message");
    CHECK(strlen(smc_status_message(SMC_INTERNAL_ERROR)) > 0, "status message");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s VECTORS_FILE\n", argv[0]);
        return 2;
    }
    run_vectors(argv[1]);
    run_bad_input();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
