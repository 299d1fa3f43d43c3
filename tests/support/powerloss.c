/*
 * A power loss, for tests: preloaded into a process (LD_PRELOAD), it keeps a copy of
 * each file under POWERLOSS_DIR as it was at that file's last fsync / fdatasync, in
 * the same place under POWERLOSS_SHADOW. After the process is killed, the shadow holds
 * exactly what a machine that lost its power at that moment would have on disk (the
 * model of Jepsen's lazyfs: what was written but not synced is gone; a file never
 * synced does not exist). Replacing the directory by its shadow and starting again
 * shows whether what the program acknowledged was really durable.
 *
 * Only the syncs are intercepted: reads and writes go to the real files, so the
 * program runs unchanged until the "power loss". Directory syncs are passed through
 * (a file counts as present once it was synced itself). Renames and deletions of
 * files under POWERLOSS_DIR are applied to the shadow as they happen (as if the
 * directory were synced at once: a deleted journal must not come back).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Creates every directory of `path` up to its last component. */
static void make_parents(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
    }
}

/* Copies the file behind `fd` (if it lies under POWERLOSS_DIR) to the shadow. */
static void keep_synced(int fd) {
    const char *dir = getenv("POWERLOSS_DIR");
    const char *shadow = getenv("POWERLOSS_SHADOW");
    if (!dir || !shadow) return;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = '\0';
    size_t len = strlen(dir);
    if (strncmp(path, dir, len) != 0 || path[len] != '/') return;
    char target[PATH_MAX], temporary[PATH_MAX + 32];
    int written = snprintf(target, sizeof target, "%s%s", shadow, path + len);
    if (written < 0 || (size_t)written >= sizeof target) return;
    snprintf(temporary, sizeof temporary, "%s.powerloss-tmp", target);
    pthread_mutex_lock(&lock);
    make_parents(target);
    int in = open(path, O_RDONLY | O_CLOEXEC);
    int out = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in >= 0 && out >= 0) {
        char buffer[1 << 16];
        ssize_t got;
        int ok = 1;
        while ((got = read(in, buffer, sizeof buffer)) > 0) {
            if (write(out, buffer, (size_t)got) != got) ok = 0;
        }
        if (got < 0) ok = 0;
        close(out);
        out = -1;
        /* Not through this library's own rename and unlink. */
        int (*real_rename)(const char *, const char *) =
            (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
        int (*real_unlink)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
        if (ok) real_rename(temporary, target);
        else real_unlink(temporary);
    }
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    pthread_mutex_unlock(&lock);
}

/* The shadow path of `path` (absolute) if it lies under POWERLOSS_DIR; 0 if not. */
static int shadow_of(const char *path, char *out, size_t size) {
    const char *dir = getenv("POWERLOSS_DIR");
    const char *shadow = getenv("POWERLOSS_SHADOW");
    if (!dir || !shadow || path[0] != '/') return 0;
    size_t len = strlen(dir);
    if (strncmp(path, dir, len) != 0 || path[len] != '/') return 0;
    int written = snprintf(out, size, "%s%s", shadow, path + len);
    return written > 0 && (size_t)written < size;
}

int rename(const char *from, const char *to) {
    static int (*real)(const char *, const char *);
    if (!real) real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    int r = real(from, to);
    int saved = errno;
    char a[PATH_MAX], b[PATH_MAX];
    if (r == 0 && shadow_of(from, a, sizeof a) && shadow_of(to, b, sizeof b)) {
        pthread_mutex_lock(&lock);
        make_parents(b);
        real(a, b);
        pthread_mutex_unlock(&lock);
    }
    errno = saved;
    return r;
}

int unlink(const char *path) {
    static int (*real)(const char *);
    if (!real) real = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
    int r = real(path);
    int saved = errno;
    char a[PATH_MAX];
    if (r == 0 && shadow_of(path, a, sizeof a)) {
        pthread_mutex_lock(&lock);
        real(a);
        pthread_mutex_unlock(&lock);
    }
    errno = saved;
    return r;
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int r = real(fd);
    int saved = errno;
    if (r == 0) keep_synced(fd);
    errno = saved;
    return r;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int r = real(fd);
    int saved = errno;
    if (r == 0) keep_synced(fd);
    errno = saved;
    return r;
}
