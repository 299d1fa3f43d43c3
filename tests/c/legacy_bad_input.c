/* The legacy server/client C API on NULL and bad input: statuses, never a crash. */
#include <smc.h>
#include <stdio.h>
int main(void) {
    smc_legacy_server *s = NULL;
    smc_legacy_client *c = NULL;
    char *reply = NULL;
    uint16_t port = 0;
    int bad = 0;
    bad |= smc_legacy_server_start(NULL, 0, ".", &s) != SMC_NULL_POINTER;
    bad |= smc_legacy_server_start("127.0.0.1", 0, "/nonexistent/dir/x", &s) != SMC_IO_ERROR;
    bad |= s != NULL;
    bad |= smc_legacy_server_port(NULL, &port) != SMC_NULL_POINTER;
    bad |= smc_legacy_client_connect("127.0.0.1", 1, "#x", &c) != SMC_IO_ERROR;
    bad |= smc_legacy_client_send(NULL, "hi", &reply) != SMC_NULL_POINTER;
    bad |= smc_legacy_client_connect("127.0.0.1", 0, "\xff", &c) != SMC_INVALID_UTF8;
    smc_legacy_server_free(NULL);
    smc_legacy_client_free(NULL);
    printf("%s\n", bad ? "bad" : "ok");
    return bad;
}
