/*
 * A C client moves to the next node of a cluster by itself. bob is connected to the
 * list "node 0, node 1" (smc_client_connect_any), alice to "node 1, node 0". The
 * harness (tests/it/c_abi.rs, which owns the cluster: two `smc server` processes on
 * one PostgreSQL and one NATS) kills node 0 with SIGKILL once this program says
 * "ready", and says "killed" on stdin. Then, without the program calling connect:
 * bob's client says SMC_EVENT_DISCONNECTED (retrying), SMC_EVENT_CONNECTED with node
 * 1's address, receives once what alice sent meanwhile, and what it sends reaches
 * alice.
 *
 * usage: cluster_failover NODE0 NODE1 DIR
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include "expect.h"

/* The next message of `c` within 20 s: `text`, from `sender`. */
static void expect_message(smc_client *c, const char *sender, const char *text) {
    smc_message *m = NULL;
    EXPECT(smc_client_recv(c, 20000, &m), SMC_OK);
    if (m == NULL) {
        fprintf(stderr, "no message (expected %s)\n", text);
        failures++;
        return;
    }
    expect_str(smc_message_sender(m), sender, "sender");
    expect_str(smc_message_text(m), text, "text");
    smc_message_free(m);
}

/* Opens `user` in DIR/user (auto-join on) and connects it to `first`, then `second`;
 * the address connected to must be `first`. */
static smc_client *open_on(const char *dir, const char *user, const char *first,
                           const char *second) {
    char home[4096];
    snprintf(home, sizeof home, "%s/%s", dir, user);
    smc_client *c = NULL;
    EXPECT(smc_client_open(home, user, &c), SMC_OK);
    EXPECT(smc_client_set_auto_join(c, 1), SMC_OK);
    const char *addresses[2] = {first, second};
    char *used = NULL;
    EXPECT(smc_client_connect_any(c, addresses, 2, NULL, &used), SMC_OK);
    expect_str(used, first, "address connected to");
    smc_string_free(used);
    return c;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s NODE0 NODE1 DIR\n", argv[0]);
        return 2;
    }
    const char *node0 = argv[1], *node1 = argv[2], *dir = argv[3];
    smc_client *bob = open_on(dir, "bob", node0, node1);
    smc_client *alice = open_on(dir, "alice", node1, node0);
    EXPECT(smc_client_create_room(alice, "r"), SMC_OK);
    EXPECT(smc_client_invite(alice, "r", "bob"), SMC_OK);
    EXPECT(smc_client_send(alice, "r", "before", NULL), SMC_OK);
    expect_message(bob, "alice", "before");

    printf("ready\n");
    fflush(stdout);
    char line[64] = {0};
    if (fgets(line, sizeof line, stdin) == NULL || strcmp(line, "killed\n") != 0) {
        fprintf(stderr, "the harness did not say the node was killed\n");
        return 1;
    }
    /* Sent while bob is away from his node: his client gets it after moving. */
    EXPECT(smc_client_send(alice, "r", "while you moved", NULL), SMC_OK);

    smc_event *e = next_of(bob, SMC_EVENT_DISCONNECTED);
    if (e != NULL && !smc_event_retrying(e)) {
        fprintf(stderr, "bob's client does not say it reconnects\n");
        failures++;
    }
    smc_event_free(e);
    e = next_of(bob, SMC_EVENT_CONNECTED);
    if (e != NULL) expect_str(smc_event_address(e), node1, "moved to");
    smc_event_free(e);
    expect_message(bob, "alice", "while you moved");
    /* Once: nothing else waits. */
    smc_message *again = NULL;
    EXPECT(smc_client_recv(bob, 1000, &again), SMC_OK);
    if (again != NULL) {
        fprintf(stderr, "received again: %s\n", smc_message_text(again));
        failures++;
        smc_message_free(again);
    }
    /* What bob sends goes through node 1 and reaches alice. */
    EXPECT(smc_client_send(bob, "r", "from the other node", NULL), SMC_OK);
    expect_message(alice, "bob", "from the other node");

    smc_client_free(bob);
    smc_client_free(alice);
    if (failures == 0) printf("all cluster failover checks passed\n");
    return failures == 0 ? 0 : 1;
}
