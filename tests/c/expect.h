/*
 * EXPECT(call, status): what the C tests of the v2 API check, one line each. A
 * mismatch is printed with the call, the status, its message and the detail, and
 * counted in `failures` (the test's exit code says whether any).
 */
#ifndef SMC_TEST_EXPECT_H
#define SMC_TEST_EXPECT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Checks that `got` is the string `want` (`what` names it in the message). */
static inline void expect_str(const char *got, const char *want, const char *what) {
    if (got == NULL || strcmp(got, want) != 0) {
        fprintf(stderr, "%s: got \"%s\", expected \"%s\"\n", what, got ? got : "(NULL)", want);
        failures++;
    }
}

/* A server with its data in DIR/server, on $SMC_TEST_LISTEN (a free port the test
 * harness picked outside the ephemeral range, so that a restart on the address finds
 * it free) or else any free loopback port; its address in `*address` (freed by the
 * caller with smc_string_free). */
static inline smc_server *start_server_in(const char *dir, char **address) {
    char server_dir[4096];
    snprintf(server_dir, sizeof server_dir, "%s/server", dir);
    const char *listen = getenv("SMC_TEST_LISTEN");
    smc_server *server = NULL;
    EXPECT(smc_server_start(server_dir, listen != NULL ? listen : "127.0.0.1:0", &server),
           SMC_OK);
    *address = NULL;
    EXPECT(smc_server_address(server, address), SMC_OK);
    return server;
}

/* The client of `user` with its home in DIR/USER, accepting invitations at once,
 * connected to `address`. */
static inline smc_client *open_client_in(const char *dir, const char *user, const char *address) {
    char home[4096];
    snprintf(home, sizeof home, "%s/%s", dir, user);
    smc_client *c = NULL;
    EXPECT(smc_client_open(home, user, &c), SMC_OK);
    EXPECT(smc_client_set_auto_join(c, 1), SMC_OK);
    EXPECT(smc_client_connect(c, address), SMC_OK);
    return c;
}

/* The next event of `kind` of `c` within 30 s (others skipped; the caller frees it),
 * or NULL (counted as a failure). */
static inline smc_event *next_of(smc_client *c, smc_event_type kind) {
    for (int round = 0; round < 60; round++) {
        smc_event *e = NULL;
        EXPECT(smc_client_recv_event(c, 500, &e), SMC_OK);
        if (e == NULL) continue;
        if (smc_event_kind(e) == kind) return e;
        smc_event_free(e);
    }
    fprintf(stderr, "no event of kind %d\n", (int)kind);
    failures++;
    return NULL;
}

#endif
