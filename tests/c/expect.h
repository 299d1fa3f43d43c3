/*
 * EXPECT(call, status): what the C tests of the v2 API check, one line each. A
 * mismatch is printed with the call, the status, its message and the detail, and
 * counted in `failures` (the test's exit code says whether any).
 */
#ifndef SMC_TEST_EXPECT_H
#define SMC_TEST_EXPECT_H

#include <stdio.h>

#include "smc.h"

static int failures = 0;

#define EXPECT(status, expected)                                                         \
    do {                                                                                 \
        smc_status s_ = (status);                                                        \
        if (s_ != (expected)) {                                                          \
            fprintf(stderr, "%s:%d: %s gave %d (%s: %s), expected %d\n", __FILE__,       \
                    __LINE__, #status, (int)s_, smc_status_message(s_),                  \
                    smc_last_error_message(), (int)(expected));                          \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

#endif
