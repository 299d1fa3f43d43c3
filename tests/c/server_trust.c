/*
 * Trusting a server from C: the fingerprint learnt by probing (no identity sent), a
 * connection that insists on the operator's fingerprint (refused on mismatch, nothing
 * pinned), an explicit trust_server, a list of addresses of which the first does not
 * answer (smc_client_connect_any), and NULL and out-of-domain arguments.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char server_dir[4096], a_home[4096], b_home[4096];
    snprintf(server_dir, sizeof server_dir, "%s/server", argv[1]);
    snprintf(a_home, sizeof a_home, "%s/alice", argv[1]);
    snprintf(b_home, sizeof b_home, "%s/bob", argv[1]);

    smc_server *server = NULL;
    EXPECT(smc_server_start(server_dir, "127.0.0.1:0", &server), SMC_OK);
    char *address = NULL, *real = NULL, *probed = NULL;
    EXPECT(smc_server_address(server, &address), SMC_OK);
    EXPECT(smc_server_fingerprint(server, &real), SMC_OK);

    EXPECT(smc_probe_server(address, &probed), SMC_OK);
    if (probed == NULL || real == NULL || strcmp(probed, real) != 0) {
        fprintf(stderr, "probe gave %s, the server says %s\n", probed, real);
        failures++;
    }
    EXPECT(smc_probe_server(NULL, &probed), SMC_NULL_POINTER);
    EXPECT(smc_probe_server(address, NULL), SMC_NULL_POINTER);

    smc_client *alice = NULL;
    EXPECT(smc_client_open(a_home, "alice", &alice), SMC_OK);
    /* The wrong fingerprint: refused, and nothing pinned. */
    EXPECT(smc_client_connect_expecting(alice, address, "AAAA AAAA AAAA AAAA AAAA AAAA AAAA AAAA"),
           SMC_SERVER_KEY_CHANGED);
    if (strstr(smc_last_error_message(), real) == NULL) {
        fprintf(stderr, "the refusal does not name the presented key: %s\n",
                smc_last_error_message());
        failures++;
    }
    EXPECT(smc_client_connect_expecting(alice, NULL, real), SMC_NULL_POINTER);
    EXPECT(smc_client_connect_expecting(alice, address, NULL), SMC_NULL_POINTER);
    EXPECT(smc_client_connect_expecting(NULL, address, real), SMC_NULL_POINTER);
    /* The right one, as people type it: lower case, no spaces. */
    char typed[128];
    size_t n = 0;
    for (const char *p = real; *p && n + 1 < sizeof typed; p++) {
        if (*p != ' ') typed[n++] = (char)tolower((unsigned char)*p);
    }
    typed[n] = '\0';
    EXPECT(smc_client_connect_expecting(alice, address, typed), SMC_OK);

    smc_client *bob = NULL;
    EXPECT(smc_client_open(b_home, "bob", &bob), SMC_OK);
    EXPECT(smc_client_trust_server(bob, address, "BBBB"), SMC_SERVER_KEY_CHANGED);
    EXPECT(smc_client_trust_server(bob, address, real), SMC_OK);
    EXPECT(smc_client_trust_server(NULL, address, real), SMC_NULL_POINTER);
    EXPECT(smc_client_connect(bob, address), SMC_OK);

    /* A list: the first address does not answer (port 1 on loopback), the second is the
     * server, pinned already. The address used comes back. */
    smc_client *carol = NULL;
    char c_home[4096];
    snprintf(c_home, sizeof c_home, "%s/carol", argv[1]);
    EXPECT(smc_client_open(c_home, "carol", &carol), SMC_OK);
    const char *list[] = {"127.0.0.1:1", address};
    char *used = NULL;
    EXPECT(smc_client_connect_any(carol, list, 2, real, &used), SMC_OK);
    if (used == NULL || strcmp(used, address) != 0) {
        fprintf(stderr, "connected to %s, not %s\n", used ? used : "(null)", address);
        failures++;
    }
    smc_string_free(used);
    EXPECT(smc_client_connect_any(carol, list, 2, NULL, NULL), SMC_OK);
    /* Only dead addresses: an I/O error. A wrong fingerprint: refused. */
    const char *dead[] = {"127.0.0.1:1"};
    EXPECT(smc_client_connect_any(carol, dead, 1, NULL, NULL), SMC_IO_ERROR);
    EXPECT(smc_client_connect_any(carol, list, 2, "AAAA AAAA", NULL), SMC_SERVER_KEY_CHANGED);
    /* Bad arguments. */
    const char *holes[] = {address, NULL};
    EXPECT(smc_client_connect_any(carol, holes, 2, NULL, NULL), SMC_NULL_POINTER);
    EXPECT(smc_client_connect_any(carol, NULL, 2, NULL, NULL), SMC_NULL_POINTER);
    EXPECT(smc_client_connect_any(carol, list, 0, NULL, NULL), SMC_INVALID_ARGUMENT);
    EXPECT(smc_client_connect_any(carol, list, 65, NULL, NULL), SMC_INVALID_ARGUMENT);
    EXPECT(smc_client_connect_any(NULL, list, 2, NULL, NULL), SMC_NULL_POINTER);
    const char *bad_utf8[] = {"\xff\xfe:1"};
    EXPECT(smc_client_connect_any(carol, bad_utf8, 1, NULL, NULL), SMC_INVALID_UTF8);
    smc_client_free(carol);

    smc_client_free(alice);
    smc_client_free(bob);
    smc_string_free(address);
    smc_string_free(real);
    smc_string_free(probed);
    smc_server_free(server);
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("all server trust checks passed\n");
    return 0;
}
