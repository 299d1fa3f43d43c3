/*
 * The v2 C API under misuse: NULL pointers, invalid UTF-8, refusals and timeouts all
 * come back as status codes with a detail message, never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "expect.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char server_dir[4096], a_home[4096], c_home[4096], m_home[4096], e_home[4096];
    snprintf(server_dir, sizeof server_dir, "%s/server", argv[1]);
    snprintf(a_home, sizeof a_home, "%s/alice", argv[1]);
    snprintf(c_home, sizeof c_home, "%s/carol", argv[1]);
    snprintf(m_home, sizeof m_home, "%s/mallory", argv[1]);
    snprintf(e_home, sizeof e_home, "%s/erin", argv[1]);

    smc_server *server = NULL;
    EXPECT(smc_server_start(NULL, "127.0.0.1:0", &server), SMC_NULL_POINTER);
    EXPECT(smc_server_start(server_dir, "127.0.0.1:0", NULL), SMC_NULL_POINTER);
    EXPECT(smc_server_start(server_dir, "\xff\xfe", &server), SMC_INVALID_UTF8);
    EXPECT(smc_server_start(server_dir, "not an address", &server), SMC_IO_ERROR);
    if (strlen(smc_last_error_message()) == 0) {
        fprintf(stderr, "no detail message after a failed start\n");
        failures++;
    }
    EXPECT(smc_server_start(server_dir, "127.0.0.1:0", &server), SMC_OK);
    char *address = NULL;
    EXPECT(smc_server_address(server, &address), SMC_OK);
    EXPECT(smc_server_address(NULL, &address), SMC_NULL_POINTER);

    smc_client *alice = NULL, *carol = NULL, *mallory = NULL;
    EXPECT(smc_client_open(a_home, "", &alice), SMC_INVALID_ARGUMENT);
    EXPECT(smc_client_open(a_home, "alice", &alice), SMC_OK);
    EXPECT(smc_client_open(c_home, "carol", &carol), SMC_OK);
    EXPECT(smc_client_send(alice, "r", "x", NULL), SMC_CONNECTION_CLOSED);
    EXPECT(smc_client_connect(alice, address), SMC_OK);
    EXPECT(smc_client_connect(carol, address), SMC_OK);
    EXPECT(smc_client_connect(NULL, address), SMC_NULL_POINTER);

    EXPECT(smc_client_create_room(alice, "r"), SMC_OK);
    EXPECT(smc_client_create_room(alice, "r"), SMC_ROOM_EXISTS);
    EXPECT(smc_client_send(carol, "r", "let me in", NULL), SMC_NOT_A_MEMBER);
    EXPECT(smc_client_send(alice, "nowhere", "x", NULL), SMC_UNKNOWN_ROOM);
    EXPECT(smc_client_invite(alice, "r", "nobody"), SMC_UNKNOWN_USER);
    /* Invitations: none to accept or decline; NULLs refused. */
    EXPECT(smc_client_accept(carol, "r"), SMC_REFUSED);
    EXPECT(smc_client_decline(carol, "r"), SMC_REFUSED);
    EXPECT(smc_client_accept(NULL, "r"), SMC_NULL_POINTER);
    EXPECT(smc_client_accept(carol, NULL), SMC_NULL_POINTER);
    EXPECT(smc_client_set_auto_join(NULL, 1), SMC_NULL_POINTER);
    EXPECT(smc_client_invitations(carol, NULL), SMC_NULL_POINTER);
    char *pending = NULL;
    EXPECT(smc_client_invitations(carol, &pending), SMC_OK);
    if (pending == NULL || strcmp(pending, "") != 0) {
        fprintf(stderr, "carol has invitations: %s\n", pending ? pending : "(null)");
        failures++;
    }
    smc_string_free(pending);
    EXPECT(smc_client_invite(alice, "r", "carol"), SMC_OK);
    EXPECT(smc_client_invitations(carol, &pending), SMC_OK);
    if (pending == NULL || strcmp(pending, "r\talice") != 0) {
        fprintf(stderr, "carol's invitations: %s\n", pending ? pending : "(null)");
        failures++;
    }
    smc_string_free(pending);
    EXPECT(smc_client_accept(carol, "r"), SMC_OK);
    /* Names as real lists. */
    smc_string_list *names = NULL;
    EXPECT(smc_client_members_list(carol, "r", &names), SMC_OK);
    if (smc_string_list_len(names) != 2 || strcmp(smc_string_list_get(names, 0), "alice") != 0 ||
        strcmp(smc_string_list_get(names, 1), "carol") != 0 ||
        smc_string_list_get(names, 2) != NULL) {
        fprintf(stderr, "members list: %zu entries\n", smc_string_list_len(names));
        failures++;
    }
    smc_string_list_free(names);
    names = NULL;
    EXPECT(smc_client_rooms_list(carol, &names), SMC_OK);
    if (smc_string_list_len(names) != 1 || strcmp(smc_string_list_get(names, 0), "r") != 0) {
        fprintf(stderr, "rooms list: %zu entries\n", smc_string_list_len(names));
        failures++;
    }
    smc_string_list_free(names);
    EXPECT(smc_client_members_list(carol, NULL, &names), SMC_NULL_POINTER);
    EXPECT(smc_client_rooms_list(carol, NULL), SMC_NULL_POINTER);
    if (smc_string_list_len(NULL) != 0 || smc_string_list_get(NULL, 0) != NULL) {
        fprintf(stderr, "NULL lists must give 0 / NULL\n");
        failures++;
    }
    smc_string_list_free(NULL);
    EXPECT(smc_client_send(alice, "r", "\xc3\x28", NULL), SMC_INVALID_UTF8);
    EXPECT(smc_client_send(alice, "r", NULL, NULL), SMC_NULL_POINTER);

    smc_message *message = (smc_message *)0x1;
    EXPECT(smc_client_recv(carol, 100, &message), SMC_OK);
    if (message != NULL) {
        fprintf(stderr, "recv with nothing to receive must give NULL\n");
        failures++;
    }
    EXPECT(smc_client_recv(carol, 100, NULL), SMC_NULL_POINTER);

    /* Batches: three messages taken as 2 + 1, in order; then an empty list. */
    const char *batch_texts[] = {"b1", "b2", "b3"};
    for (int i = 0; i < 3; i++) EXPECT(smc_client_send(alice, "r", batch_texts[i], NULL), SMC_OK);
    size_t got = 0;
    for (int round = 0; round < 20 && got < 3; round++) {
        smc_message_list *batch = NULL;
        EXPECT(smc_client_recv_many(carol, 2, 10000, &batch), SMC_OK);
        size_t n = smc_message_list_len(batch);
        if (n > 2) {
            fprintf(stderr, "recv_many gave %zu messages, max 2\n", n);
            failures++;
        }
        for (size_t i = 0; i < n && got < 3; i++, got++) {
            const char *text = smc_message_text(smc_message_list_get(batch, i));
            if (strcmp(text, batch_texts[got]) != 0) {
                fprintf(stderr, "batch message %zu is %s, not %s\n", got, text, batch_texts[got]);
                failures++;
            }
        }
        smc_message_list_free(batch);
    }
    if (got != 3) {
        fprintf(stderr, "recv_many gave %zu of 3 messages\n", got);
        failures++;
    }
    smc_message_list *empty = NULL;
    EXPECT(smc_client_recv_many(carol, 16, 100, &empty), SMC_OK);
    if (empty == NULL || smc_message_list_len(empty) != 0) {
        fprintf(stderr, "recv_many with nothing to receive must give an empty list\n");
        failures++;
    }
    smc_message_list_free(empty);
    EXPECT(smc_client_recv_many(carol, 0, 100, &empty), SMC_INVALID_ARGUMENT);
    EXPECT(smc_client_recv_many(carol, 16, 100, NULL), SMC_NULL_POINTER);
    EXPECT(smc_client_recv_many(NULL, 16, 100, &empty), SMC_NULL_POINTER);

    /* The longest timeout C can give waits (without end), not a panic: the message
       already there comes at once. */
    EXPECT(smc_client_send(alice, "r", "long wait", NULL), SMC_OK);
    smc_message *waited = NULL;
    EXPECT(smc_client_recv(carol, INT64_MAX, &waited), SMC_OK);
    if (waited == NULL || strcmp(smc_message_text(waited), "long wait") != 0) {
        fprintf(stderr, "recv with INT64_MAX did not give the waiting message\n");
        failures++;
    }
    smc_message_free(waited);

    /* Same name, another key. */
    EXPECT(smc_client_open(m_home, "alice", &mallory), SMC_OK);
    EXPECT(smc_client_connect(mallory, address), SMC_NAME_TAKEN);

    /* End-to-end encryption: safety numbers, verification, the encrypted state. */
    char *number = NULL;
    EXPECT(smc_client_safety_number(alice, "nobody", &number), SMC_UNKNOWN_USER);
    EXPECT(smc_client_safety_number(alice, NULL, &number), SMC_NULL_POINTER);
    EXPECT(smc_client_safety_number(alice, "carol", NULL), SMC_NULL_POINTER);
    EXPECT(smc_client_safety_number(NULL, "carol", &number), SMC_NULL_POINTER);
    EXPECT(smc_client_verify(NULL, "carol"), SMC_NULL_POINTER);
    EXPECT(smc_client_verify(alice, "nobody"), SMC_UNKNOWN_USER);
    EXPECT(smc_client_acknowledge_key_change(alice, "\xff"), SMC_INVALID_UTF8);
    EXPECT(smc_client_is_verified(alice, "carol", NULL), SMC_NULL_POINTER);
    smc_client *erin = NULL;
    EXPECT(smc_client_open_encrypted(e_home, "erin", "right passphrase", &erin), SMC_OK);
    smc_client_free(erin);
    erin = NULL;
    EXPECT(smc_client_open_encrypted(e_home, "erin", "wrong passphrase", &erin),
           SMC_WRONG_PASSPHRASE);
    EXPECT(smc_client_open(e_home, "erin", &erin), SMC_WRONG_PASSPHRASE);
    EXPECT(smc_client_open_encrypted(e_home, "erin", NULL, &erin), SMC_NULL_POINTER);
    if (erin != NULL) {
        fprintf(stderr, "a failed open must not write a handle\n");
        failures++;
    }
    EXPECT(smc_client_open_encrypted(e_home, "erin", "right passphrase", &erin), SMC_OK);
    smc_client_free(erin);

    /* Accessors and frees tolerate NULL. */
    if (smc_message_text(NULL) != NULL || smc_message_id(NULL) != 0 ||
        smc_message_list_len(NULL) != 0 || smc_message_list_get(NULL, 0) != NULL) {
        fprintf(stderr, "NULL accessors must give NULL / 0\n");
        failures++;
    }
    smc_message_free(NULL);
    smc_message_list_free(NULL);
    smc_client_close(NULL);
    smc_client_free(NULL);
    smc_server_free(NULL);

    smc_client_free(alice);
    smc_client_free(carol);
    smc_client_free(mallory);
    smc_string_free(address);
    smc_server_free(server);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("all v2 misuse checks passed\n");
    return 0;
}
