/*
 * Events from C, waited for in the program's own poll() loop: the descriptor from
 * smc_client_fd is not readable while nothing waits, becomes readable (within a
 * timeout) when something arrives, and smc_client_recv_event hands out an invitation,
 * a join, messages, and members joining and leaving, each once (every event bob takes
 * is tallied by kind, skipped ones included, and the tally is checked at the end).
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "expect.h"

static int readable(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* How many events of each kind bob's client handed out. */
static int tally[8];
static smc_client *tallied;

/* Takes one event of `c` without waiting (NULL when none), counted in `tally` when `c`
 * is the tallied client. */
static smc_event *take(smc_client *c) {
    smc_event *e = NULL;
    EXPECT(smc_client_recv_event(c, 0, &e), SMC_OK);
    if (e != NULL && c == tallied && (int)smc_event_kind(e) < 8) tally[smc_event_kind(e)]++;
    return e;
}

/* Waits on the descriptor, then takes events until one of `kind` comes (others are
 * skipped); returns it (the caller frees it) or NULL after 10 s. */
static smc_event *wait_for(smc_client *c, int fd, smc_event_type kind) {
    for (int round = 0; round < 100; round++) {
        if (!readable(fd, 100)) continue;
        smc_event *e = take(c);
        if (e == NULL) continue;
        if (smc_event_kind(e) == kind) return e;
        smc_event_free(e);
    }
    fprintf(stderr, "no event of kind %d\n", (int)kind);
    failures++;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char *address = NULL;
    smc_server *server = start_server_in(argv[1], &address);

    smc_client *alice = open_client_in(argv[1], "alice", address);
    smc_client *bob = open_client_in(argv[1], "bob", address);
    smc_client *carol = open_client_in(argv[1], "carol", address);
    tallied = bob;
    int fd = -1;
    EXPECT(smc_client_fd(bob, &fd), SMC_OK);
    EXPECT(smc_client_fd(NULL, &fd), SMC_NULL_POINTER);
    EXPECT(smc_client_fd(bob, NULL), SMC_NULL_POINTER);

    /* Nothing waits: not readable, and a recv with a timeout of 0 gives nothing. */
    if (readable(fd, 200)) {
        fprintf(stderr, "readable with nothing waiting\n");
        failures++;
    }
    smc_event *none = (smc_event *)1;
    EXPECT(smc_client_recv_event(bob, 0, &none), SMC_OK);
    if (none != NULL) {
        fprintf(stderr, "an event with nothing waiting\n");
        failures++;
    }

    EXPECT(smc_client_create_room(alice, "c-room"), SMC_OK);
    EXPECT(smc_client_invite(alice, "c-room", "bob"), SMC_OK);
    smc_event *e = wait_for(bob, fd, SMC_EVENT_INVITED);
    expect_str(smc_event_room(e), "c-room", "invited room");
    expect_str(smc_event_user(e), "alice", "invited by");
    smc_event_free(e);
    e = wait_for(bob, fd, SMC_EVENT_JOINED);
    expect_str(smc_event_room(e), "c-room", "joined room");
    smc_event_free(e);

    EXPECT(smc_client_send(alice, "c-room", "hello from C", NULL), SMC_OK);
    e = wait_for(bob, fd, SMC_EVENT_MESSAGE);
    const smc_message *m = smc_event_message(e);
    expect_str(smc_message_text(m), "hello from C", "message text");
    expect_str(smc_event_user(e), "alice", "message sender");
    if (smc_event_seq(e) != smc_message_seq(m)) {
        fprintf(stderr, "event and message disagree on seq\n");
        failures++;
    }
    smc_event_free(e);

    EXPECT(smc_client_invite(alice, "c-room", "carol"), SMC_OK);
    e = wait_for(bob, fd, SMC_EVENT_MEMBERS_CHANGED);
    if (smc_event_added_count(e) != 1 || smc_event_removed_count(e) != 0) {
        fprintf(stderr, "members changed: %zu added, %zu removed\n", smc_event_added_count(e),
                smc_event_removed_count(e));
        failures++;
    }
    expect_str(smc_event_added(e, 0), "carol", "added");
    if (smc_event_added(e, 1) != NULL || smc_event_message(e) != NULL) {
        fprintf(stderr, "out of range gives something\n");
        failures++;
    }
    smc_event_free(e);

    /* carol's own client joins on its own (auto-join); she leaves once joined. */
    int carol_fd = -1;
    EXPECT(smc_client_fd(carol, &carol_fd), SMC_OK);
    smc_event_free(wait_for(carol, carol_fd, SMC_EVENT_JOINED));
    /* bob hears it from carol: she joined; no longer an invitee. */
    e = wait_for(bob, fd, SMC_EVENT_MEMBER_JOINED);
    expect_str(smc_event_room(e), "c-room", "member joined room");
    expect_str(smc_event_user(e), "carol", "member joined");
    smc_event_free(e);
    smc_string_list *names = NULL;
    EXPECT(smc_client_members_list(bob, "c-room", &names), SMC_OK);
    if (smc_string_list_len(names) != 3) {
        fprintf(stderr, "bob sees %zu members who joined, not 3\n", smc_string_list_len(names));
        failures++;
    }
    smc_string_list_free(names);
    names = NULL;
    EXPECT(smc_client_invitees_list(bob, "c-room", &names), SMC_OK);
    if (smc_string_list_len(names) != 0) {
        fprintf(stderr, "bob still sees %zu invitees\n", smc_string_list_len(names));
        failures++;
    }
    smc_string_list_free(names);
    EXPECT(smc_client_invitees_list(bob, NULL, &names), SMC_NULL_POINTER);
    EXPECT(smc_client_invitees_list(bob, "c-room", NULL), SMC_NULL_POINTER);
    EXPECT(smc_client_leave(carol, "c-room"), SMC_OK);
    /* The removal is committed by a member who sends next. */
    EXPECT(smc_client_send(alice, "c-room", "bye carol", NULL), SMC_OK);
    e = wait_for(bob, fd, SMC_EVENT_MEMBERS_CHANGED);
    if (smc_event_removed_count(e) != 1) {
        fprintf(stderr, "expected one member gone, got %zu\n", smc_event_removed_count(e));
        failures++;
    }
    expect_str(smc_event_removed(e, 0), "carol", "removed");
    smc_event_free(e);
    /* The message that went with it, in whichever order they were processed: in bob's
     * history, and handed out as an event (tallied below). */
    e = NULL;
    int stored = 0;
    for (int i = 0; i < 100 && !stored; i++) {
        smc_message_list *list = NULL;
        EXPECT(smc_client_history(bob, "c-room", 1, &list), SMC_OK);
        stored = smc_message_list_len(list) == 1 &&
                 strcmp(smc_message_text(smc_message_list_get(list, 0)), "bye carol") == 0;
        smc_message_list_free(list);
        if (!stored) readable(fd, 100);
    }
    if (!stored) {
        fprintf(stderr, "\"bye carol\" never reached bob's history\n");
        failures++;
    }

    /* Everything taken: not readable any more. */
    do {
        e = take(bob);
        smc_event_free(e);
    } while (e != NULL);
    /* Each once: one invitation, one join, two messages, two membership changes, and
     * nothing else. */
    const int want[8] = {[SMC_EVENT_MESSAGE] = 2, [SMC_EVENT_INVITED] = 1,
                         [SMC_EVENT_JOINED] = 1, [SMC_EVENT_MEMBERS_CHANGED] = 2};
    for (int k = 0; k < 8; k++) {
        if (tally[k] != want[k]) {
            fprintf(stderr, "events of kind %d: %d, expected %d\n", k, tally[k], want[k]);
            failures++;
        }
    }
    if (readable(fd, 200)) {
        fprintf(stderr, "readable after everything was taken\n");
        failures++;
    }
    /* NULL everywhere is refused or harmless. */
    EXPECT(smc_client_recv_event(NULL, 0, &e), SMC_NULL_POINTER);
    EXPECT(smc_client_recv_event(bob, 0, NULL), SMC_NULL_POINTER);
    if (smc_event_room(NULL) != NULL || smc_event_count(NULL) != 0 ||
        smc_event_added(NULL, 0) != NULL || smc_event_message(NULL) != NULL) {
        fprintf(stderr, "accessors of NULL\n");
        failures++;
    }
    smc_event_free(NULL);

    smc_client_free(alice);
    smc_client_free(bob);
    smc_client_free(carol);
    smc_string_free(address);
    smc_server_free(server);
    if (failures) return 1;
    printf("all event checks passed\n");
    return 0;
}
