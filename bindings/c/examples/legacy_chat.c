/* Two clients chat through a legacy SMC server, all through libsmc.
 *
 * Usage: legacy_chat LOG_DIR
 * Starts a server on a free loopback port with its log files in LOG_DIR, connects
 * clients A and B, and has them exchange messages the original way (each reply is the
 * message logged before one's own: "one message behind"). Prints what each client sees.
 *
 * Build (after `bash scripts/install-c.sh PREFIX`, with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig):
 *   cc -Wall -Wextra -Werror bindings/c/examples/legacy_chat.c $(pkg-config --cflags --libs smc) -o legacy_chat
 *
 * WARNING: the legacy protocol gives no security; it exists for compatibility.
 */
#include <smc.h>

#include <stdio.h>

static int fail(const char *what, smc_status st) {
    fprintf(stderr, "%s: %s: %s\n", what, smc_status_message(st), smc_last_error_message());
    return 1;
}

/* Sends `text` from `client` and prints what comes back. */
static int say(smc_legacy_client *client, const char *name, const char *text) {
    char *reply = NULL;
    smc_status st = smc_legacy_client_send(client, text, &reply);
    if (st != SMC_OK) return fail("smc_legacy_client_send", st);
    if (reply == NULL) {
        printf("%s> %s  (reply: own message)\n", name, text);
    } else {
        printf("%s> %s  (reply: %s)\n", name, text, reply);
        smc_string_free(reply);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s LOG_DIR\n", argv[0]);
        return 2;
    }
    smc_legacy_server *server = NULL;
    smc_status st = smc_legacy_server_start("127.0.0.1", 0, argv[1], &server);
    if (st != SMC_OK) return fail("smc_legacy_server_start", st);
    uint16_t port = 0;
    smc_legacy_server_port(server, &port);

    smc_legacy_client *a = NULL, *b = NULL;
    if ((st = smc_legacy_client_connect("127.0.0.1", port, "#8hdjajcur5d9l2", &a)) != SMC_OK)
        return fail("connect A", st);
    if ((st = smc_legacy_client_connect("127.0.0.1", port, "#8djfy6hdj71kq0", &b)) != SMC_OK)
        return fail("connect B", st);

    int rc = say(a, "A", "Bonjour George, comment vas-tu ?") ||
             say(b, "B", "Tres bien, et toi ?") ||
             say(a, "A", "Super. On se voit demain ?") ||
             say(b, "B", "Oui, a demain !");

    /* A character outside the legacy table is a clear error, not a crash. */
    char *reply = NULL;
    st = smc_legacy_client_send(a, "\xc3\xaa", &reply);
    printf("unsupported: %s (%s)\n", smc_status_message(st), smc_last_error_message());

    smc_legacy_client_free(a);
    smc_legacy_client_free(b);
    smc_legacy_server_free(server);
    smc_legacy_client_free(NULL); /* NULL is a no-op */
    return rc || st != SMC_UNSUPPORTED_CHARACTER;
}
