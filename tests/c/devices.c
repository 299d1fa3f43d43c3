/*
 * Linked devices from C: alice's first device shows a code, a new home of alice's
 * links with it (the first device's thread handles the answer by itself and says
 * SMC_EVENT_DEVICE_LINKED); both list the same devices; a wrong code and a second
 * device's code give SMC_LINK_REFUSED; once revoked, the device is disconnected for
 * good (SMC_EVENT_DISCONNECTED, not retrying) and refused (SMC_DEVICE_REVOKED).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include "expect.h"

static smc_client *open_home(const char *dir, const char *name, const char *user) {
    char home[4096];
    snprintf(home, sizeof home, "%s/%s", dir, name);
    smc_client *c = NULL;
    EXPECT(smc_client_open(home, user, &c), SMC_OK);
    return c;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char *address = NULL;
    smc_server *server = start_server_in(argv[1], &address);
    smc_client *alice = open_client_in(argv[1], "alice", address);

    char *code = NULL;
    EXPECT(smc_client_link_code(alice, 600000, &code), SMC_OK);
    smc_client *laptop = open_home(argv[1], "laptop", "alice");
    EXPECT(smc_client_link(NULL, address, code, "laptop", 30000), SMC_NULL_POINTER);
    EXPECT(smc_client_link(laptop, address, NULL, "laptop", 30000), SMC_NULL_POINTER);
    EXPECT(smc_client_link(laptop, address, "not a code", "laptop", 30000),
           SMC_INVALID_ARGUMENT);
    EXPECT(smc_client_link(laptop, address, code, "laptop", 30000), SMC_OK);

    char *laptop_id = NULL, *alice_id = NULL;
    EXPECT(smc_client_device_id(laptop, &laptop_id), SMC_OK);
    EXPECT(smc_client_device_id(alice, &alice_id), SMC_OK);
    smc_event *e = next_of(alice, SMC_EVENT_DEVICE_LINKED);
    if (e != NULL) {
        expect_str(smc_event_device(e), laptop_id ? laptop_id : "", "linked device");
        expect_str(smc_event_device_name(e), "laptop", "linked device's name");
    }
    smc_event_free(e);

    smc_device_list *list = NULL;
    EXPECT(smc_client_devices(laptop, &list), SMC_OK);
    if (smc_device_list_len(list) != 2) {
        fprintf(stderr, "%zu devices listed, expected 2\n", smc_device_list_len(list));
        failures++;
    } else {
        expect_str(smc_device_list_id(list, 0), alice_id, "first device");
        expect_str(smc_device_list_id(list, 1), laptop_id, "second device");
        expect_str(smc_device_list_name(list, 1), "laptop", "second device's name");
        if (smc_device_list_current(list, 0) != 0 || smc_device_list_current(list, 1) != 1) {
            fprintf(stderr, "the laptop is not the current device of its own list\n");
            failures++;
        }
        if (smc_device_list_linked_at_ms(list, 0) != 0 ||
            smc_device_list_linked_at_ms(list, 1) <= 0) {
            fprintf(stderr, "wrong link times\n");
            failures++;
        }
        if (smc_device_list_id(list, 2) != NULL || smc_device_list_name(NULL, 0) != NULL) {
            fprintf(stderr, "an entry past the end, or of NULL, is not NULL\n");
            failures++;
        }
    }
    smc_device_list_free(list);
    if (smc_device_list_len(NULL) != 0) failures++;
    smc_device_list_free(NULL);

    /* Only the first device links; a wrong code links nothing and spends the offer. */
    char *other = NULL;
    EXPECT(smc_client_link_code(laptop, 60000, &other), SMC_LINK_REFUSED);
    EXPECT(smc_client_link_code(alice, 600000, &other), SMC_OK);
    if (other != NULL) {
        size_t n = strlen(other);
        char wrong[64];
        snprintf(wrong, sizeof wrong, "%s", other);
        wrong[n - 1] = wrong[n - 1] == '0' ? '1' : '0';
        smc_client *guess = open_home(argv[1], "guess", "alice");
        EXPECT(smc_client_link(guess, address, wrong, NULL, 30000), SMC_LINK_REFUSED);
        smc_client *late = open_home(argv[1], "late", "alice");
        EXPECT(smc_client_link(late, address, other, NULL, 30000), SMC_LINK_REFUSED);
        smc_client_free(guess);
        smc_client_free(late);
    }
    smc_string_free(other);

    /* Revoked: disconnected for good, and refused. */
    EXPECT(smc_client_revoke_device(laptop, alice_id), SMC_LINK_REFUSED);
    EXPECT(smc_client_revoke_device(alice, "not an id"), SMC_INVALID_ARGUMENT);
    EXPECT(smc_client_revoke_device(alice, NULL), SMC_NULL_POINTER);
    EXPECT(smc_client_revoke_device(alice, laptop_id), SMC_OK);
    smc_event_free(next_of(laptop, SMC_EVENT_DEVICE_REVOKED));
    smc_event *d = next_of(laptop, SMC_EVENT_DISCONNECTED);
    if (d != NULL && smc_event_retrying(d)) {
        fprintf(stderr, "the revoked device goes on reconnecting\n");
        failures++;
    }
    smc_event_free(d);
    EXPECT(smc_client_connect(laptop, address), SMC_DEVICE_REVOKED);

    smc_string_free(laptop_id);
    smc_string_free(alice_id);
    smc_string_free(code);
    smc_client_free(laptop);
    smc_client_free(alice);
    smc_server_free(server);
    smc_string_free(address);
    if (failures == 0) printf("all device checks passed\n");
    return failures == 0 ? 0 : 1;
}
