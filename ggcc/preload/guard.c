/*
 * The placeholder guard: LD_PRELOADed into the processes of a `ggcc infer`
 * build, so that a tool ggcc does not run (nm by absolute path, cp, tar,
 * objcopy, CMake's /usr/bin/ar, install) never reads a placeholder.
 *
 * Every open for reading is done as asked; then, only if the file is a
 * small regular file, its first bytes are read (O_NOATIME: a placeholder's
 * atime tells ggcc whether anything else read it). A placeholder makes the
 * guard ask the daemon to put the real output there ("make-real"), and
 * the open is done again: the tool reads the real bytes, or gets the error
 * it would get with the output absent. Anything that goes wrong in the
 * guard leaves the open as the tool made it (the end-of-build checks of
 * `ggcc infer` still see a placeholder that was read).
 *
 * Settings, from the environment `ggcc infer` gives the build:
 *   GGCC_GUARD_SOCKET  the daemon's socket
 *   GGCC_INFER         the session
 * Built by ggcc itself with the machine's C compiler (ggcc/preload.py).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define MAGIC "ggcc-placeholder 1\n"
#define MAX_SIZE 512

static int is_placeholder_fd(int fd, char *path, size_t path_size)
{
    struct stat st;
    char link[64], head[sizeof(MAGIC) - 1];
    ssize_t n;
    int q;

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_SIZE || st.st_size < (off_t)sizeof head)
        return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, path, path_size - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    /* Our own descriptor, without touching the atime. */
    q = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_NOATIME | O_CLOEXEC);
    if (q < 0)
        q = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (q < 0)
        return 0;
    n = pread(q, head, sizeof head, 0);
    close(q);
    return n == (ssize_t)sizeof head && memcmp(head, MAGIC, sizeof head) == 0;
}

static void put_field(char *buf, size_t *at, const char *s, size_t n)
{
    uint32_t len = (uint32_t)n;
    memcpy(buf + *at, &len, 4); /* little-endian, as everywhere ggcc runs */
    memcpy(buf + *at + 4, s, n);
    *at += 4 + n;
}

/* Ask the daemon to make `path` real; returns once it answers (or fails). */
static void make_real(const char *path)
{
    const char *sock = getenv("GGCC_GUARD_SOCKET"), *sid = getenv("GGCC_INFER");
    char exe[1024], msg[8192], reply[64];
    struct sockaddr_un addr;
    ssize_t n;
    size_t at = 4;
    uint32_t body;
    int s;

    if (!sock || !sid || strlen(sock) >= sizeof addr.sun_path)
        return;
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    if (strlen(path) + strlen(sid) + strlen(exe) + 64 > sizeof msg)
        return;
    put_field(msg, &at, "make-real", 9);
    put_field(msg, &at, sid, strlen(sid));
    put_field(msg, &at, path, strlen(path));
    put_field(msg, &at, exe, strlen(exe));
    body = (uint32_t)(at - 4);
    memcpy(msg, &body, 4);
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, sock);
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) == 0 && write(s, msg, at) == (ssize_t)at) {
        while ((n = read(s, reply, sizeof reply)) > 0) /* the answer comes when the output is real */
            ;
    }
    close(s);
}

typedef int (*openat_fn)(int, const char *, int, ...);
typedef FILE *(*fopen_fn)(const char *, const char *);

static int reading(int flags)
{
    return (flags & O_ACCMODE) != O_WRONLY && !(flags & O_TRUNC);
}

static int guard_fd(int fd, int flags)
{
    char path[4096];

    if (fd < 0 || !reading(flags) || !getenv("GGCC_GUARD_SOCKET"))
        return 0;
    if (!is_placeholder_fd(fd, path, sizeof path))
        return 0;
    make_real(path);
    return 1;
}

static int do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    static openat_fn real_openat;
    int saved, fd;

    if (!real_openat)
        real_openat = (openat_fn)dlsym(RTLD_NEXT, "openat");
    fd = real_openat(dirfd, path, flags, mode);
    saved = errno;
    if (guard_fd(fd, flags)) {
        close(fd);
        fd = real_openat(dirfd, path, flags, mode);
        saved = errno;
    }
    errno = saved;
    return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    mode_t m;
    va_start(ap, flags);
    m = mode_arg(flags, ap);
    va_end(ap);
    return do_openat(AT_FDCWD, path, flags, m);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    mode_t m;
    va_start(ap, flags);
    m = mode_arg(flags, ap);
    va_end(ap);
    return do_openat(AT_FDCWD, path, flags | O_LARGEFILE, m);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    mode_t m;
    va_start(ap, flags);
    m = mode_arg(flags, ap);
    va_end(ap);
    return do_openat(dirfd, path, flags, m);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    mode_t m;
    va_start(ap, flags);
    m = mode_arg(flags, ap);
    va_end(ap);
    return do_openat(dirfd, path, flags | O_LARGEFILE, m);
}

/*
 * A stat of a placeholder waits too, except in the build tools and shells,
 * which only look at timestamps (make waiting for every object it checks
 * would undo deferred mode): cp, install, tar and rsync stat a file before
 * they open it and refuse one that is another file by then.
 */
static int exempt(void)
{
    static int known = -1;
    static const char *tools[] = {"make", "gmake", "bmake", "remake", "ninja", "samu", "sh", "bash", "dash", "zsh",
                                  "ksh", "mksh", "busybox", NULL};
    char exe[1024];
    const char *base;
    ssize_t n;
    int i;

    if (known >= 0)
        return known;
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    known = 0;
    if (n <= 0)
        return known;
    exe[n] = '\0';
    base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    for (i = 0; tools[i]; i++)
        if (strcmp(base, tools[i]) == 0)
            known = 1;
    if (strncmp(base, "python", 6) == 0) /* ggcc's own launcher among them */
        known = 1;
    return known;
}

/* After a stat that succeeded: a small regular file that is a placeholder is made real first (1). */
static int guard_stat(int dirfd, const char *path, off_t size, mode_t mode)
{
    char real[4096];
    int fd, yes;

    if (!S_ISREG(mode) || size > MAX_SIZE || size < (off_t)(sizeof MAGIC - 1) || !getenv("GGCC_GUARD_SOCKET") || exempt())
        return 0;
    fd = (int)syscall(SYS_openat, dirfd, path, O_RDONLY | O_NOATIME | O_CLOEXEC);
    if (fd < 0)
        fd = (int)syscall(SYS_openat, dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    yes = is_placeholder_fd(fd, real, sizeof real);
    close(fd);
    if (yes)
        make_real(real);
    return yes;
}

typedef int (*fstatat_fn)(int, const char *, struct stat *, int);
typedef int (*stat_fn)(const char *, struct stat *);

static int do_fstatat(const char *sym, int dirfd, const char *path, struct stat *st, int flags)
{
    fstatat_fn real = (fstatat_fn)dlsym(RTLD_NEXT, sym);
    int r = real(dirfd, path, st, flags), saved = errno;

    if (r == 0 && guard_stat(dirfd, path, st->st_size, st->st_mode)) {
        r = real(dirfd, path, st, flags);
        saved = errno;
    }
    errno = saved;
    return r;
}

static int do_stat(const char *sym, const char *path, struct stat *st)
{
    stat_fn real = (stat_fn)dlsym(RTLD_NEXT, sym);
    int r = real(path, st), saved = errno;

    if (r == 0 && guard_stat(AT_FDCWD, path, st->st_size, st->st_mode)) {
        r = real(path, st);
        saved = errno;
    }
    errno = saved;
    return r;
}

int stat(const char *path, struct stat *st) { return do_stat("stat", path, st); }
int lstat(const char *path, struct stat *st) { return do_stat("lstat", path, st); }
int stat64(const char *path, struct stat64 *st) { return do_stat("stat64", path, (struct stat *)st); }
int lstat64(const char *path, struct stat64 *st) { return do_stat("lstat64", path, (struct stat *)st); }
int fstatat(int dirfd, const char *path, struct stat *st, int flags) { return do_fstatat("fstatat", dirfd, path, st, flags); }
int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
    return do_fstatat("fstatat64", dirfd, path, (struct stat *)st, flags);
}

typedef int (*statx_fn)(int, const char *, int, unsigned int, struct statx *);

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *stx)
{
    statx_fn real = (statx_fn)dlsym(RTLD_NEXT, "statx");
    int r = real(dirfd, path, flags, mask, stx), saved = errno;

    if (r == 0 && (stx->stx_mask & STATX_SIZE) && (stx->stx_mask & STATX_TYPE)
        && guard_stat(dirfd, path, (off_t)stx->stx_size, stx->stx_mode)) {
        r = real(dirfd, path, flags, mask, stx);
        saved = errno;
    }
    errno = saved;
    return r;
}

/* What _FORTIFY_SOURCE builds call instead (cp, tar, install are built so). */
int __open_2(const char *path, int flags) { return do_openat(AT_FDCWD, path, flags, 0); }
int __open64_2(const char *path, int flags) { return do_openat(AT_FDCWD, path, flags | O_LARGEFILE, 0); }
int __openat_2(int dirfd, const char *path, int flags) { return do_openat(dirfd, path, flags, 0); }
int __openat64_2(int dirfd, const char *path, int flags)
{
    return do_openat(dirfd, path, flags | O_LARGEFILE, 0);
}

static FILE *do_fopen(const char *sym, const char *path, const char *mode)
{
    fopen_fn real = (fopen_fn)dlsym(RTLD_NEXT, sym);
    FILE *f = real(path, mode);
    int saved = errno;

    /* glibc's fopen opens inside libc, past the open() above. */
    if (f && mode[0] == 'r' && guard_fd(fileno(f), O_RDONLY)) {
        fclose(f);
        f = real(path, mode);
        saved = errno;
    }
    errno = saved;
    return f;
}

FILE *fopen(const char *path, const char *mode) { return do_fopen("fopen", path, mode); }
FILE *fopen64(const char *path, const char *mode) { return do_fopen("fopen64", path, mode); }
