/*
 * chat.c: two users talk through an smc server, all from C.
 *
 *   cc chat.c $(pkg-config --cflags --libs smc) -o chat && ./chat /tmp/chat-demo
 *   (after `bash scripts/install-c.sh PREFIX` and PKG_CONFIG_PATH=PREFIX/lib/pkgconfig)
 *
 * Starts a server (key and store in DIR/server), opens the clients of alice and bob
 * (homes in DIR/alice and DIR/bob), makes a room (an end-to-end encrypted MLS group),
 * exchanges messages in real time, prints the room's history and compares the two
 * users' safety numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smc.h"

/* Prints the failed call and libsmc's detail message, and exits. */
static void check(smc_status status, const char *what) {
    if (status != SMC_OK) {
        fprintf(stderr, "%s failed: %s (%s)\n", what, smc_status_message(status),
                smc_last_error_message());
        exit(1);
    }
}

/* Waits for one message and prints it. */
static void receive(smc_client *client, const char *who) {
    smc_message *message = NULL;
    check(smc_client_recv(client, 10000, &message), "smc_client_recv");
    if (message == NULL) {
        fprintf(stderr, "%s received nothing within 10 s\n", who);
        exit(1);
    }
    printf("%s got #%llu in %s from %s: %s\n", who,
           (unsigned long long)smc_message_seq(message), smc_message_room(message),
           smc_message_sender(message), smc_message_text(message));
    smc_message_free(message);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char server_dir[4096], alice_home[4096], bob_home[4096];
    snprintf(server_dir, sizeof server_dir, "%s/server", argv[1]);
    snprintf(alice_home, sizeof alice_home, "%s/alice", argv[1]);
    snprintf(bob_home, sizeof bob_home, "%s/bob", argv[1]);

    smc_server *server = NULL;
    check(smc_server_start(server_dir, "127.0.0.1:0", &server), "smc_server_start");
    char *address = NULL, *fingerprint = NULL;
    check(smc_server_address(server, &address), "smc_server_address");
    check(smc_server_fingerprint(server, &fingerprint), "smc_server_fingerprint");
    printf("server on %s, key %s\n", address, fingerprint);

    smc_client *alice = NULL, *bob = NULL;
    check(smc_client_open(alice_home, "alice", &alice), "smc_client_open");
    check(smc_client_open(bob_home, "bob", &bob), "smc_client_open");
    check(smc_client_connect(alice, address), "smc_client_connect");
    check(smc_client_connect(bob, address), "smc_client_connect");

    check(smc_client_create_room(alice, "c-room"), "smc_client_create_room");
    check(smc_client_invite(alice, "c-room", "bob"), "smc_client_invite");
    /* Nothing of the room reaches bob before he accepts (smc_client_set_auto_join
       accepts every invitation at once). */
    check(smc_client_accept(bob, "c-room"), "smc_client_accept");
    char *members = NULL;
    check(smc_client_members(bob, "c-room", &members), "smc_client_members");
    printf("members:\n%s\n", members);
    smc_string_free(members);

    uint64_t id = 0;
    check(smc_client_send(alice, "c-room", "Hello Bob, from C!", &id), "smc_client_send");
    printf("alice sent message %llu\n", (unsigned long long)id);
    receive(bob, "bob");
    check(smc_client_send(bob, "c-room", "Hello Alice, got it.", NULL), "smc_client_send");
    receive(alice, "alice");

    smc_message_list *history = NULL;
    check(smc_client_history(alice, "c-room", 10, &history), "smc_client_history");
    printf("history of c-room (%zu messages):\n", smc_message_list_len(history));
    for (size_t i = 0; i < smc_message_list_len(history); i++) {
        const smc_message *m = smc_message_list_get(history, i);
        printf("  %s: %s\n", smc_message_sender(m), smc_message_text(m));
    }
    smc_message_list_free(history);

    /* Both sides compute the same safety number; compared out of band, it is verified. */
    char *alice_number = NULL, *bob_number = NULL;
    check(smc_client_safety_number(alice, "bob", &alice_number), "smc_client_safety_number");
    check(smc_client_safety_number(bob, "alice", &bob_number), "smc_client_safety_number");
    printf("safety numbers %s\n", strcmp(alice_number, bob_number) == 0 ? "match" : "DIFFER");
    smc_string_free(alice_number);
    smc_string_free(bob_number);
    check(smc_client_verify(alice, "bob"), "smc_client_verify");
    bool verified = false;
    check(smc_client_is_verified(alice, "bob", &verified), "smc_client_is_verified");
    printf("alice verified bob: %s\n", verified ? "yes" : "no");

    smc_client_free(alice);
    smc_client_free(bob);
    smc_string_free(address);
    smc_string_free(fingerprint);
    smc_server_free(server);
    return 0;
}
