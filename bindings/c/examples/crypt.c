/* Encrypts a message with the legacy cipher through libsmc and prints it.
 *
 * Build (after `bash scripts/install-c.sh PREFIX`, with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig):
 *   cc -Wall -Wextra -Werror bindings/c/examples/crypt.c $(pkg-config --cflags --libs smc) -o crypt
 * Run:  ./crypt            prints  e[j-
 *       ./crypt "Bonjour"  prints  the ciphertext of "Bonjour" under key (35, 19)
 *
 * WARNING: the legacy cipher gives no security; it exists for compatibility.
 */
#include <smc.h>

#include <stdio.h>

int main(int argc, char **argv) {
    const char *text = argc > 1 ? argv[1] : "Test";
    char *cipher = NULL;
    smc_status st = smc_crypt(text, 35, 19, &cipher);
    if (st != SMC_OK) {
        fprintf(stderr, "smc_crypt: %s: %s\n", smc_status_message(st), smc_last_error_message());
        return 1;
    }
    printf("%s\n", cipher);
    smc_string_free(cipher); /* the caller owns the result */
    return 0;
}
