/*
 * Files from C: alice sends a file of one chunk and one byte under a UTF-8 name, with
 * a progress callback that sees it through to the end; bob receives the message, reads
 * its attachment (name, safe name, type, size, digest) and downloads it: the same
 * bytes. A callback that asks to stop gives SMC_CANCELLED and leaves nothing behind;
 * NULL arguments give SMC_NULL_POINTER; a text message has no attachment. Then an
 * empty file goes the same way, and with a second argument a file of that many bytes,
 * compared block by block (scripts/test_c_install.sh sends 100 MiB through the
 * installed, optimised library; the debug build under the sanitizers would take
 * minutes).
 *
 * Usage: files DIR [BYTES]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "expect.h"

#define SIZE (64 * 1024 + 1)

struct progress {
    uint64_t calls, done, total;
    uint64_t stop_after; /* stop once `done` reaches it (0: never) */
};

static int on_progress(uint64_t done, uint64_t total, void *user_data) {
    struct progress *p = user_data;
    if (done < p->done) {
        fprintf(stderr, "progress went back: %llu after %llu\n", (unsigned long long)done,
                (unsigned long long)p->done);
        failures++;
    }
    p->calls++;
    p->done = done;
    p->total = total;
    return p->stop_after != 0 && done >= p->stop_after;
}

static int write_file(const char *path, const unsigned char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

/* The file at `path` is exactly `data`. */
static int same_file(const char *path, const unsigned char *data, size_t len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 0;
    unsigned char *got = malloc(len + 1);
    size_t n = fread(got, 1, len + 1, f);
    fclose(f);
    int same = n == len && memcmp(got, data, len) == 0;
    free(got);
    return same;
}

/* Byte `i` of every test file. */
static unsigned char pattern(uint64_t i) { return (unsigned char)(i * 31 + i / 251); }

/* Writes `len` bytes of the pattern to `path`, a block at a time. */
static int write_pattern(const char *path, uint64_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) return -1;
    static unsigned char block[1 << 16];
    int ok = 1;
    for (uint64_t at = 0; at < len && ok;) {
        size_t n = len - at < sizeof block ? (size_t)(len - at) : sizeof block;
        for (size_t i = 0; i < n; i++) block[i] = pattern(at + i);
        ok = fwrite(block, 1, n, f) == n;
        at += n;
    }
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* The file at `path` holds exactly `len` bytes of the pattern. */
static int holds_pattern(const char *path, uint64_t len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 0;
    static unsigned char block[1 << 16];
    uint64_t at = 0;
    size_t n;
    int same = 1;
    while (same && (n = fread(block, 1, sizeof block, f)) > 0) {
        for (size_t i = 0; i < n && same; i++) same = at + i < len && block[i] == pattern(at + i);
        at += n;
    }
    fclose(f);
    return same && at == len;
}

/* alice sends `len` bytes under `name`; bob receives the message and downloads it. */
static void round_trip(smc_client *alice, smc_client *bob, const char *dir, uint64_t len,
                       const char *name) {
    char source[4096], dest[4096];
    snprintf(source, sizeof source, "%s/trip-%llu.src", dir, (unsigned long long)len);
    snprintf(dest, sizeof dest, "%s/trip-%llu.got", dir, (unsigned long long)len);
    if (write_pattern(source, len) != 0) {
        fprintf(stderr, "cannot write %s\n", source);
        failures++;
        return;
    }
    uint64_t id = 0;
    struct progress sent = {0};
    EXPECT(smc_client_send_file(alice, "files", source, name, NULL, on_progress, &sent, &id), SMC_OK);
    smc_message *m = NULL;
    EXPECT(smc_client_recv(bob, 60000, &m), SMC_OK);
    const smc_attachment *a = smc_message_attachment(m);
    if (m == NULL || a == NULL || smc_message_id(m) != id) {
        fprintf(stderr, "%llu bytes: no file message\n", (unsigned long long)len);
        failures++;
        smc_message_free(m);
        return;
    }
    expect_str(smc_attachment_name(a), name, "name");
    if (smc_attachment_size(a) != len) {
        fprintf(stderr, "%llu bytes announced as %llu\n", (unsigned long long)len,
                (unsigned long long)smc_attachment_size(a));
        failures++;
    }
    struct progress got = {0};
    EXPECT(smc_client_download(bob, a, dest, on_progress, &got), SMC_OK);
    if (!holds_pattern(dest, len)) {
        fprintf(stderr, "%llu bytes: the downloaded file differs from the one sent\n",
                (unsigned long long)len);
        failures++;
    }
    if (got.done != len || got.total != len || sent.done != len) {
        fprintf(stderr, "%llu bytes: progress ended at %llu (sent %llu)\n", (unsigned long long)len,
                (unsigned long long)got.done, (unsigned long long)sent.done);
        failures++;
    }
    smc_message_free(m);
    remove(source);
    remove(dest);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s DIR [BYTES]\n", argv[0]);
        return 2;
    }
    uint64_t big = argc == 3 ? strtoull(argv[2], NULL, 10) : 0;
    const char *dir = argv[1];
    char *address = NULL;
    smc_server *server = start_server_in(dir, &address);
    smc_client *alice = open_client_in(dir, "alice", address);
    smc_client *bob = open_client_in(dir, "bob", address);
    EXPECT(smc_client_create_room(alice, "files"), SMC_OK);
    EXPECT(smc_client_invite(alice, "files", "bob"), SMC_OK);
    EXPECT(smc_client_send(alice, "files", "a text first", NULL), SMC_OK);

    unsigned char *data = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++) data[i] = (unsigned char)(i * 31 + i / 251);
    char source[4096], dest[4096], stopped[4096];
    snprintf(source, sizeof source, "%s/source.bin", dir);
    snprintf(dest, sizeof dest, "%s/received.bin", dir);
    snprintf(stopped, sizeof stopped, "%s/stopped.bin", dir);
    if (write_file(source, data, SIZE) != 0) {
        fprintf(stderr, "cannot write %s\n", source);
        return 2;
    }

    /* Bad arguments. */
    uint64_t id = 0;
    EXPECT(smc_client_send_file(NULL, "files", source, NULL, NULL, NULL, NULL, &id), SMC_NULL_POINTER);
    EXPECT(smc_client_send_file(alice, NULL, source, NULL, NULL, NULL, NULL, &id), SMC_NULL_POINTER);
    EXPECT(smc_client_send_file(alice, "files", NULL, NULL, NULL, NULL, NULL, &id), SMC_NULL_POINTER);
    EXPECT(smc_client_send_file(alice, "files", "", NULL, NULL, NULL, NULL, &id), SMC_INVALID_ARGUMENT);
    EXPECT(smc_client_send_file(alice, "files", source, "\xff", NULL, NULL, NULL, &id), SMC_INVALID_UTF8);
    EXPECT(smc_client_download(bob, NULL, dest, NULL, NULL), SMC_NULL_POINTER);

    /* The file, with progress. */
    struct progress sent = {0};
    EXPECT(smc_client_send_file(alice, "files", source, "données 資料.bin", "application/x-test",
                                on_progress, &sent, &id),
           SMC_OK);
    if (sent.calls == 0 || sent.done != SIZE || sent.total != SIZE) {
        fprintf(stderr, "send progress: %llu calls, ended at %llu of %llu\n",
                (unsigned long long)sent.calls, (unsigned long long)sent.done,
                (unsigned long long)sent.total);
        failures++;
    }

    /* bob: the text (no attachment), then the file. */
    smc_message *text = NULL;
    EXPECT(smc_client_recv(bob, 10000, &text), SMC_OK);
    if (text == NULL || smc_message_attachment(text) != NULL) {
        fprintf(stderr, "the text message has an attachment (or did not come)\n");
        failures++;
    }
    smc_message_free(text);
    smc_message *m = NULL;
    EXPECT(smc_client_recv(bob, 10000, &m), SMC_OK);
    const smc_attachment *a = smc_message_attachment(m);
    if (m == NULL || a == NULL || smc_message_id(m) != id) {
        fprintf(stderr, "no file message\n");
        return 1;
    }
    expect_str(smc_attachment_name(a), "données 資料.bin", "name");
    expect_str(smc_attachment_safe_name(a), "données 資料.bin", "safe name");
    expect_str(smc_attachment_mime(a), "application/x-test", "mime");
    expect_str(smc_message_text(m), "", "text");
    if (smc_attachment_size(a) != SIZE || strlen(smc_attachment_sha256(a)) != 64) {
        fprintf(stderr, "size %llu, sha256 %s\n", (unsigned long long)smc_attachment_size(a),
                smc_attachment_sha256(a));
        failures++;
    }
    if (smc_attachment_name(NULL) != NULL || smc_attachment_size(NULL) != 0 ||
        smc_message_attachment(NULL) != NULL) {
        fprintf(stderr, "an accessor of NULL did not give NULL or 0\n");
        failures++;
    }

    /* Stopped by the callback: SMC_CANCELLED, nothing at the destination. */
    struct progress halt = {.stop_after = 1};
    EXPECT(smc_client_download(bob, a, stopped, on_progress, &halt), SMC_CANCELLED);
    if (exists(stopped)) {
        fprintf(stderr, "a stopped download left %s\n", stopped);
        failures++;
    }

    /* Downloaded whole. */
    struct progress got = {0};
    EXPECT(smc_client_download(bob, a, dest, on_progress, &got), SMC_OK);
    if (!same_file(dest, data, SIZE)) {
        fprintf(stderr, "the downloaded file differs from the one sent\n");
        failures++;
    }
    if (got.done != SIZE || got.total != SIZE) {
        fprintf(stderr, "download progress ended at %llu of %llu\n", (unsigned long long)got.done,
                (unsigned long long)got.total);
        failures++;
    }

    smc_message_free(m);

    round_trip(alice, bob, dir, 0, "vide ∅.txt");
    if (big > 0) round_trip(alice, bob, dir, big, "grand 大.bin");

    smc_client_free(alice);
    smc_client_free(bob);
    smc_string_free(address);
    smc_server_free(server);
    free(data);
    if (failures == 0) printf("all file checks passed\n");
    return failures != 0;
}
