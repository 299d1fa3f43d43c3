/*
 * A C client that keeps itself connected: its server freed and started again on the
 * same address, bob's client says SMC_EVENT_DISCONNECTED (retrying), gets back by
 * itself and says SMC_EVENT_CONNECTED with the address, then receives what alice sent
 * meanwhile, once. A client with smc_client_set_reconnect(c, 0) says the loss
 * (not retrying) and stays away until the program connects it again. A server that
 * comes back with another key stops the reconnection (SMC_SERVER_KEY_CHANGED).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include "expect.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char *address = NULL;
    smc_server *server = start_server_in(argv[1], &address);
    /* Started again below, on the same data and address. */
    char server_dir[4096];
    snprintf(server_dir, sizeof server_dir, "%s/server", argv[1]);

    smc_client *alice = open_client_in(argv[1], "alice", address);
    smc_client *bob = open_client_in(argv[1], "bob", address);
    smc_client *carol = open_client_in(argv[1], "carol", address);
    EXPECT(smc_client_set_reconnect(carol, 0), SMC_OK);
    EXPECT(smc_client_set_reconnect(NULL, 0), SMC_NULL_POINTER);
    EXPECT(smc_client_create_room(alice, "r"), SMC_OK);
    EXPECT(smc_client_invite(alice, "r", "bob"), SMC_OK);
    uint64_t id = 0;
    EXPECT(smc_client_send(alice, "r", "before", &id), SMC_OK);
    smc_message *m = NULL;
    EXPECT(smc_client_recv(bob, 10000, &m), SMC_OK);
    if (m != NULL) expect_str(smc_message_text(m), "before", "first message");
    smc_message_free(m);

    smc_server_free(server);
    smc_event *e = next_of(bob, SMC_EVENT_DISCONNECTED);
    if (e != NULL && !smc_event_retrying(e)) {
        fprintf(stderr, "bob's client does not say it reconnects\n");
        failures++;
    }
    smc_event_free(e);
    e = next_of(carol, SMC_EVENT_DISCONNECTED);
    if (e != NULL && smc_event_retrying(e)) {
        fprintf(stderr, "carol's client reconnects with reconnection off\n");
        failures++;
    }
    smc_event_free(e);

    server = NULL;
    EXPECT(smc_server_start(server_dir, address, &server), SMC_OK);
    /* alice's client waits for its connection too, then sends what bob missed. */
    EXPECT(smc_client_send(alice, "r", "missed", &id), SMC_OK);
    e = next_of(bob, SMC_EVENT_CONNECTED);
    if (e != NULL) expect_str(smc_event_address(e), address, "bob connected again to");
    smc_event_free(e);
    m = NULL;
    EXPECT(smc_client_recv(bob, 10000, &m), SMC_OK);
    if (m == NULL) {
        fprintf(stderr, "the message sent while bob was away never came\n");
        failures++;
    } else {
        expect_str(smc_message_text(m), "missed", "missed message");
    }
    smc_message_free(m);
    m = NULL;
    EXPECT(smc_client_recv(bob, 300, &m), SMC_OK);
    if (m != NULL) {
        fprintf(stderr, "a message came twice: %s\n", smc_message_text(m));
        failures++;
        smc_message_free(m);
    }
    /* carol stayed away. */
    m = NULL;
    EXPECT(smc_client_recv(carol, 1000, &m), SMC_CONNECTION_CLOSED);

    /* The server comes back with another key: bob's client tries, then stops and says
     * so (not retrying, the pinned key named); connecting again is refused the same way. */
    smc_client_free(carol);
    smc_client_free(alice);
    smc_server_free(server);
    e = next_of(bob, SMC_EVENT_DISCONNECTED);
    smc_event_free(e);
    char impostor_dir[4096];
    snprintf(impostor_dir, sizeof impostor_dir, "%s/impostor", argv[1]);
    server = NULL;
    EXPECT(smc_server_start(impostor_dir, address, &server), SMC_OK);
    e = next_of(bob, SMC_EVENT_DISCONNECTED);
    if (e != NULL) {
        if (smc_event_retrying(e)) {
            fprintf(stderr, "bob's client goes on trying a server with another key\n");
            failures++;
        }
        if (strstr(smc_event_reason(e), "pinned") == NULL) {
            fprintf(stderr, "the reason does not name the pinned key: %s\n", smc_event_reason(e));
            failures++;
        }
    }
    smc_event_free(e);
    EXPECT(smc_client_connect(bob, address), SMC_SERVER_KEY_CHANGED);

    smc_client_free(bob);
    smc_string_free(address);
    smc_server_free(server);
    if (failures == 0) printf("all reconnection checks passed\n");
    return failures != 0;
}
