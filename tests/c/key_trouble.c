/*
 * What a C program sees when end-to-end encryption finds trouble: a member whose key
 * changed (SMC_KEY_CHANGED until acknowledged, and the SMC_EVENT_KEY_CHANGED event), a
 * message that cannot be decrypted (SMC_UNDECRYPTABLE, skipped, the next one still
 * read) and one the server dropped (the SMC_EVENT_MISSING event). Run in phases by
 * tests/it/c_abi.rs, which owns the server and changes it between phases:
 *
 *   key_trouble ADDRESS DIR setup          alice, bob and carol in room "r"; alice
 *                                          sends "before", "dropped" and "damaged"
 *   (the harness: `smc admin release bob`; "dropped" deleted, "damaged" altered)
 *   key_trouble ADDRESS DIR key_changed    a new key holds the name "bob"
 *   key_trouble ADDRESS DIR undecryptable  carol reads "before", then the damage
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

static char dir[2048];

static smc_client *open_client(const char *home_name, const char *user, const char *address) {
    char home[4096];
    snprintf(home, sizeof home, "%s/%s", dir, home_name);
    smc_client *c = NULL;
    EXPECT(smc_client_open(home, user, &c), SMC_OK);
    EXPECT(smc_client_set_auto_join(c, 1), SMC_OK);
    EXPECT(smc_client_connect(c, address), SMC_OK);
    return c;
}

/* The next message's text (NULL if none came), freed by the caller with free(). */
static char *next_text(smc_client *c, smc_status expected) {
    smc_message *m = NULL;
    EXPECT(smc_client_recv(c, 10000, &m), expected);
    if (m == NULL) return NULL;
    const char *t = smc_message_text(m);
    char *text = malloc(strlen(t) + 1);
    if (text != NULL) memcpy(text, t, strlen(t) + 1);
    smc_message_free(m);
    return text;
}

static void expect_text(smc_client *c, const char *want) {
    char *got = next_text(c, SMC_OK);
    if (got == NULL || strcmp(got, want) != 0) {
        fprintf(stderr, "expected \"%s\", got \"%s\"\n", want, got ? got : "(nothing)");
        failures++;
    }
    free(got);
}

static void expect_detail(const char *what) {
    if (strstr(smc_last_error_message(), what) == NULL) {
        fprintf(stderr, "the detail does not name %s: %s\n", what, smc_last_error_message());
        failures++;
    }
}

/* Takes events until one of `kind` about `user` comes (within 10 s). */
static void expect_event(smc_client *c, smc_event_type kind, const char *user) {
    for (int i = 0; i < 100; i++) {
        smc_event *e = NULL;
        EXPECT(smc_client_recv_event(c, 100, &e), SMC_OK);
        if (e == NULL) continue;
        int found = smc_event_kind(e) == kind && strcmp(smc_event_user(e), user) == 0;
        smc_event_free(e);
        if (found) return;
    }
    fprintf(stderr, "no event of kind %d about %s\n", (int)kind, user);
    failures++;
}

static void setup(const char *address) {
    smc_client *alice = open_client("alice", "alice", address);
    smc_client *bob = open_client("bob", "bob", address);
    smc_client *carol = open_client("carol", "carol", address);
    EXPECT(smc_client_create_room(alice, "r"), SMC_OK);
    EXPECT(smc_client_invite(alice, "r", "bob"), SMC_OK);
    EXPECT(smc_client_invite(alice, "r", "carol"), SMC_OK);
    /* carol is away while alice talks (her client would otherwise take each message
       in as it comes, before the server's store is changed). */
    smc_client_free(carol);
    EXPECT(smc_client_send(alice, "r", "before", NULL), SMC_OK);
    EXPECT(smc_client_send(alice, "r", "dropped", NULL), SMC_OK);
    EXPECT(smc_client_send(alice, "r", "damaged", NULL), SMC_OK);
    expect_text(bob, "before");
    expect_text(bob, "dropped");
    expect_text(bob, "damaged");
    smc_client_free(alice);
    smc_client_free(bob);
}

static void key_changed(const char *address) {
    /* bob lost his keys; the operator released the name; a new key took it. */
    smc_client *new_bob = open_client("new_bob", "bob", address);
    smc_client *alice = open_client("alice", "alice", address);
    EXPECT(smc_client_create_room(alice, "r2"), SMC_OK);
    EXPECT(smc_client_invite(alice, "r2", "bob"), SMC_KEY_CHANGED);
    expect_detail("bob");
    expect_event(alice, SMC_EVENT_KEY_CHANGED, "bob");
    /* Nothing goes to the room the old bob is in until alice acknowledges. */
    EXPECT(smc_client_send(alice, "r", "are you still you?", NULL), SMC_KEY_CHANGED);
    expect_detail("bob");
    bool verified = true;
    EXPECT(smc_client_is_verified(alice, "bob", &verified), SMC_OK);
    if (verified) {
        fprintf(stderr, "a changed key is not verified\n");
        failures++;
    }
    EXPECT(smc_client_acknowledge_key_change(alice, "bob"), SMC_OK);
    EXPECT(smc_client_send(alice, "r", "are you still you?", NULL), SMC_OK);
    EXPECT(smc_client_invite(alice, "r2", "bob"), SMC_OK);
    EXPECT(smc_client_send(alice, "r2", "welcome back", NULL), SMC_OK);
    expect_text(new_bob, "welcome back");
    smc_client_free(alice);
    smc_client_free(new_bob);
}

static void undecryptable(const char *address) {
    smc_client *carol = open_client("carol", "carol", address);
    expect_text(carol, "before");
    char *damaged = next_text(carol, SMC_UNDECRYPTABLE);
    if (damaged != NULL) {
        fprintf(stderr, "a damaged message was returned: %s\n", damaged);
        failures++;
    }
    free(damaged);
    expect_detail("alice");
    /* Skipped: the room goes on. */
    smc_client *alice = open_client("alice", "alice", address);
    EXPECT(smc_client_send(alice, "r", "after", NULL), SMC_OK);
    /* "dropped" never came and "damaged" was never read: alice's counter jumps. */
    expect_event(carol, SMC_EVENT_MISSING, "alice");
    expect_text(carol, "after");
    smc_client_free(alice);
    smc_client_free(carol);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s ADDRESS DIR setup|key_changed|undecryptable\n", argv[0]);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[2]);
    if (strcmp(argv[3], "setup") == 0) {
        setup(argv[1]);
    } else if (strcmp(argv[3], "key_changed") == 0) {
        key_changed(argv[1]);
    } else if (strcmp(argv[3], "undecryptable") == 0) {
        undecryptable(argv[1]);
    } else {
        fprintf(stderr, "unknown phase %s\n", argv[3]);
        return 2;
    }
    if (failures) return 1;
    printf("%s passed\n", argv[3]);
    return 0;
}
