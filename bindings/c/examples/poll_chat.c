/*
 * poll_chat.c: a console chat client whose one loop waits, with poll(), on both the
 * terminal (stdin) and libsmc (the descriptor from smc_client_fd). This is how a C
 * program fits smc into its own event loop (poll, epoll, select, libuv...).
 *
 *   cc poll_chat.c $(pkg-config --cflags --libs smc) -o poll_chat
 *   (after `bash scripts/install-c.sh PREFIX`, with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig)
 *   ./poll_chat HOME USER ADDRESS ROOM
 *
 * Joins the rooms it is invited to (auto-join); each line typed is sent to ROOM; every
 * event is printed as it comes. It ends when stdin closes.
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smc.h"

static void check(smc_status status, const char *what) {
    if (status != SMC_OK) {
        fprintf(stderr, "%s failed: %s (%s)\n", what, smc_status_message(status),
                smc_last_error_message());
        exit(1);
    }
}

/* Prints one event on one line. */
static void print_event(const smc_event *e) {
    switch (smc_event_kind(e)) {
    case SMC_EVENT_MESSAGE: {
        const smc_message *m = smc_event_message(e);
        printf("#%s <%s> %s\n", smc_message_room(m), smc_message_sender(m), smc_message_text(m));
        break;
    }
    case SMC_EVENT_INVITED:
        printf("%s invites you to #%s\n", smc_event_user(e), smc_event_room(e));
        break;
    case SMC_EVENT_JOINED:
        printf("%s added you to #%s\n", smc_event_user(e), smc_event_room(e));
        break;
    case SMC_EVENT_MEMBERS_CHANGED:
        for (size_t i = 0; i < smc_event_added_count(e); i++)
            printf("invited %s to #%s\n", smc_event_added(e, i), smc_event_room(e));
        for (size_t i = 0; i < smc_event_removed_count(e); i++)
            printf("%s left #%s\n", smc_event_removed(e, i), smc_event_room(e));
        break;
    case SMC_EVENT_REMOVED:
        printf("you are no longer in #%s\n", smc_event_room(e));
        break;
    case SMC_EVENT_KEY_CHANGED:
        printf("WARNING: %s's key changed\n", smc_event_user(e));
        break;
    case SMC_EVENT_MISSING:
        printf("WARNING: %llu message(s) from %s in #%s did not arrive\n",
               (unsigned long long)smc_event_count(e), smc_event_user(e), smc_event_room(e));
        break;
    case SMC_EVENT_UNDECRYPTABLE:
        printf("WARNING: message %llu of #%s (from %s) cannot be shown: %s\n",
               (unsigned long long)smc_event_seq(e), smc_event_room(e), smc_event_user(e),
               smc_event_reason(e));
        break;
    case SMC_EVENT_DISCONNECTED:
        printf("connection lost (%s)%s\n", smc_event_reason(e),
               smc_event_retrying(e) ? ": reconnecting" : "");
        break;
    case SMC_EVENT_CONNECTED:
        printf("connected again to %s\n", smc_event_address(e));
        break;
    case SMC_EVENT_MEMBER_JOINED:
        printf("%s joined #%s\n", smc_event_user(e), smc_event_room(e));
        break;
    case SMC_EVENT_DEVICE_REVOKED:
        printf("this device was revoked: it can no longer connect\n");
        break;
    case SMC_EVENT_DEVICE_LINKED:
        printf("linked a new device: %s (%s)\n", smc_event_device_name(e), smc_event_device(e));
        break;
    }
    fflush(stdout);
}

static void send_line(smc_client *client, const char *room, const char *text) {
    if (text[0] == '\0') return;
    smc_status s = smc_client_send(client, room, text, NULL);
    if (s != SMC_OK)
        fprintf(stderr, "not sent: %s (%s)\n", smc_status_message(s), smc_last_error_message());
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s HOME USER ADDRESS ROOM\n", argv[0]);
        return 2;
    }
    const char *room = argv[4];
    smc_client *client = NULL;
    check(smc_client_open(argv[1], argv[2], &client), "smc_client_open");
    check(smc_client_set_auto_join(client, 1), "smc_client_set_auto_join");
    check(smc_client_connect(client, argv[3]), "smc_client_connect");
    int smc_fd = -1;
    check(smc_client_fd(client, &smc_fd), "smc_client_fd");
    printf("connected as %s\n", argv[2]);
    fflush(stdout);

    struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = smc_fd, .events = POLLIN}};
    char line[4096];
    size_t used = 0;
    int open_stdin = 1;
    while (open_stdin) {
        if (poll(fds, 2, -1) < 0) {
            perror("poll");
            break;
        }
        if (fds[1].revents & POLLIN) {
            /* Everything ready, without waiting: the descriptor is level-triggered. */
            smc_event *event = NULL;
            do {
                check(smc_client_recv_event(client, 0, &event), "smc_client_recv_event");
                if (event != NULL) {
                    print_event(event);
                    smc_event_free(event);
                }
            } while (event != NULL);
        }
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            /* read(), not stdio: poll() only knows about the descriptor's bytes. */
            ssize_t n = read(0, line + used, sizeof line - 1 - used);
            if (n <= 0) {
                open_stdin = 0;
                break;
            }
            used += (size_t)n;
            line[used] = '\0';
            char *start = line, *end;
            while ((end = strchr(start, '\n')) != NULL) {
                *end = '\0';
                send_line(client, room, start);
                start = end + 1;
            }
            used = strlen(start);
            memmove(line, start, used + 1);
            if (used == sizeof line - 1) { /* a line too long for the buffer: sent as is */
                send_line(client, room, line);
                used = 0;
            }
        }
    }
    smc_client_free(client);
    return 0;
}
