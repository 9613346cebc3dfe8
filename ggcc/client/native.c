/* ggcc-client: the launcher's hot path in C (the Python one is client/launch.py).
 *
 * A compile through ggcc is one request to the daemon and one reply; in
 * Python, the interpreter's start-up alone is most of a cache hit's cost.
 * This client does what launch.py does on its common path (find the
 * compiler, spot a configure probe, send the request, write the answer)
 * and nothing else: on any doubt (no daemon yet, a daemon that does not
 * speak this client's wire version, a config file with settings in it,
 * GGCC_DAEMON=0, a subcommand, an odd GGCC_DIR) it execs the Python
 * launcher beside it, which keeps the whole behaviour (starting the
 * daemon, counting reasons, saying why ggcc is off). It never answers a
 * compile itself: the reply is the daemon's, or the real compiler runs.
 *
 * Built at install with the machine's own C compiler (setup.py); C99 and
 * POSIX, libc only. The wire format: client/wire.py. Keep WIRE_VERSION
 * equal to wire.NATIVE_WIRE (a test checks).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#define WIRE_VERSION "1"
#define MAX_MESSAGE (1u << 30)
#define SUN_PATH_MAX 100 /* as wire._SUN_PATH_MAX */

extern char **environ;

/* --- small helpers ------------------------------------------------------ */

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int ends(const char *s, size_t n, const char *suffix) {
    size_t m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static const char *get_env(char **env, const char *name) {
    size_t n = strlen(name);
    for (char **e = env; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

static void *need(void *p) {
    if (!p) {
        /* Out of memory: nothing sensible is left to do but say so. */
        static const char msg[] = "ggcc: out of memory\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(70);
    }
    return p;
}

static char *cat3(const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = need(malloc(la + lb + lc + 1));
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* --- where things are --------------------------------------------------- */

static char self_dir[PATH_MAX]; /* the directory this binary is in (through links) */
static dev_t self_dev[2];
static ino_t self_ino[2];
static int self_ids;

static void find_self(void) {
    ssize_t n = readlink("/proc/self/exe", self_dir, sizeof self_dir - 1);
    if (n <= 0) {
        self_dir[0] = 0;
        return;
    }
    self_dir[n] = 0;
    char *slash = strrchr(self_dir, '/');
    if (slash) *slash = 0;
    /* ggcc itself, by either of its names, is never the compiler found on PATH. */
    struct stat st;
    if (stat("/proc/self/exe", &st) == 0) {
        self_dev[self_ids] = st.st_dev;
        self_ino[self_ids++] = st.st_ino;
    }
    char *script = cat3(self_dir, "/", "ggcc");
    if (stat(script, &st) == 0) {
        self_dev[self_ids] = st.st_dev;
        self_ino[self_ids++] = st.st_ino;
    }
    free(script);
}

/* The Python ggcc beside this client: ggcc-python where setup.py installed
 * the client as bin/ggcc itself, else bin/ggcc (the script, this client
 * then beside it as ggcc-client); never this binary, which Python cannot
 * read (a broken install: NULL). */
static char *python_script(void) {
    static const char *const names[] = {"ggcc-python", "ggcc", NULL};
    for (const char *const *n = names; *n; n++) {
        char *p = cat3(self_dir, "/", *n);
        struct stat st;
        if (stat(p, &st) == 0 && !(self_ids && st.st_dev == self_dev[0] && st.st_ino == self_ino[0])) return p;
        free(p);
    }
    return NULL;
}

/* The Python launcher: python3 -I -S bin/ggcc-python (as the script's sh
 * line starts it), told by GGCC_FROM_NATIVE not to hand the compile back
 * here. */
static void exec_python(char **argv, int argc, const char *masquerade_name, char **env, const char *compiler_on_failure) {
    setenv("GGCC_FROM_NATIVE", "1", 1);
    char *python = cat3(self_dir, "/", "python3");
    char *script = python_script();
    int found = script != NULL;
    if (!found) script = cat3(self_dir, "/", "ggcc-python");
    char **args = need(calloc((size_t)argc + 6, sizeof *args));
    int k = 0;
    int direct = access(python, X_OK) == 0;
    args[k++] = direct ? python : "sh";
    if (direct) {
        args[k++] = "-I";
        args[k++] = "-S";
    }
    args[k++] = script;
    if (masquerade_name) args[k++] = (char *)masquerade_name;
    for (int i = 1; i < argc; i++) args[k++] = argv[i];
    args[k] = NULL;
    if (!found)
        errno = ENOENT;
    else if (direct)
        execv(python, args);
    else if (access(script, R_OK) == 0)
        execv("/bin/sh", args);
    (void)env;
    /* No Python launcher beside this client: a broken install. The build
     * still gets its compiler. */
    fprintf(stderr, "ggcc: %s: cannot run (%s); reinstall ggcc; compiling without ggcc meanwhile\n", script,
            strerror(errno));
    if (compiler_on_failure) {
        unsetenv("GGCC_FROM_NATIVE");
        char **cargv = masquerade_name ? argv : argv + 1;
        execvp(compiler_on_failure, cargv);
    }
    _exit(127);
}

/* --- the compiler -------------------------------------------------------- */

static int executable_file(const char *p, dev_t *dev, ino_t *ino) {
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode) || access(p, X_OK) != 0) return 0;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 1;
}

/* The compiler's path, as launch.find_compiler finds it; NULL if none. */
static char *find_compiler(const char *name, const char *path) {
    dev_t dev;
    ino_t ino;
    if (strchr(name, '/')) return executable_file(name, &dev, &ino) ? strdup(name) : NULL;
    if (!path) path = "/bin:/usr/bin";
    const char *d = path;
    for (;;) {
        const char *end = strchr(d, ':');
        size_t n = end ? (size_t)(end - d) : strlen(d);
        char *dir = need(strndup(d, n));
        char *p = n == 0 ? cat3(".", "/", name) : dir[n - 1] == '/' ? cat3(dir, "", name) : cat3(dir, "/", name);
        free(dir);
        if (executable_file(p, &dev, &ino)) {
            int me = 0;
            for (int i = 0; i < self_ids; i++) me |= dev == self_dev[i] && ino == self_ino[i];
            if (!me) return p;
        }
        free(p);
        if (!end) return NULL;
        d = end + 1;
    }
}

static void exec_local(const char *compiler, char **cargv, char **env) {
    execve(compiler, cargv, env);
    fprintf(stderr, "ggcc: %s: %s\n", cargv[0], strerror(errno));
    _exit(126);
}

/* --- what the Python launcher knows too: probes, sinks, the view --------- */

static const char *const PROBE_DIRS[] = {"/CMakeFiles/CMakeScratch/", "/CMakeFiles/CMakeTmp/", "/CompilerIdC/",
                                         "/CompilerIdCXX/", "/meson-private/", NULL};

static int has_probe_dir(const char *s) {
    for (const char *const *d = PROBE_DIRS; *d; d++)
        if (strstr(s, *d)) return 1;
    return 0;
}

/* client/probe.is_probe: a configure probe by its files' names. */
static int is_probe(char **cargv, int cargc, const char *cwd) {
    char *where = cat3(cwd, "/", "");
    int probe = has_probe_dir(where);
    free(where);
    for (int i = 1; i < cargc && !probe; i++) {
        if (cargv[i][0] == '-') continue;
        probe = starts(base_name(cargv[i]), "conftest") || has_probe_dir(cargv[i]);
    }
    return probe;
}

/* client/probe.run_by_configure: the parent is `sh ./configure ...`. */
static int run_by_configure(void) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)getppid());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    const char *arg0 = buf;
    size_t l0 = strlen(arg0);
    if ((ssize_t)l0 + 1 >= n) return 0; /* one word: no script */
    const char *arg1 = buf + l0 + 1;
    static const char *const shells[] = {"sh", "bash", "dash", "ksh", "zsh", "busybox", "perl", NULL};
    int shell = 0;
    for (const char *const *s = shells; *s; s++) shell |= strcmp(base_name(arg0), *s) == 0;
    const char *script = base_name(arg1);
    return shell && (strcmp(script, "configure") == 0 || strcmp(script, "Configure") == 0);
}

/* launch._count: a step that never reaches the daemon, counted in its logs. */
static void count_probe(const char *root, char **env) {
    static const char events[] = "invocation\nlocal configure-probe\n";
    mkdir(root, 0700);
    char *logs[2] = {cat3(root, "/", "stats.log"), NULL};
    const char *build = get_env(env, "GGCC_BUILD");
    int alnum = build && *build;
    for (const char *c = build; alnum && *c; c++)
        alnum = (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z');
    if (alnum) {
        char *dir = cat3(root, "/builds/", build);
        logs[1] = cat3(dir, ".log", "");
        free(dir);
    }
    for (int i = 0; i < 2 && logs[i]; i++) {
        int fd = open(logs[i], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            (void)write_all(fd, events, sizeof events - 1);
            close(fd);
        }
        free(logs[i]);
    }
}

/* launch.sinks: where stdout and stderr go, a letter each. */
static void sinks(char out[3], char **env) {
    const char *report = get_env(env, "GGCC_INFER_REPORT");
    for (int fd = 1; fd <= 2; fd++) {
        struct stat st;
        char c;
        if (fstat(fd, &st) != 0) {
            c = 'n';
        } else if (S_ISREG(st.st_mode)) {
            char id[64];
            snprintf(id, sizeof id, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
            c = 'f';
            size_t n = strlen(id);
            for (const char *r = report; r && *r;) {
                while (*r == ' ' || *r == '\t' || *r == '\n') r++;
                size_t w = strcspn(r, " \t\n");
                if (w == n && memcmp(r, id, n) == 0) c = 'p';
                r += w;
            }
        } else if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
            c = 'n';
        } else if (S_ISCHR(st.st_mode) && isatty(fd)) {
            c = 't';
        } else {
            c = 'p';
        }
        out[fd - 1] = c;
    }
    out[2] = 0;
}

/* wire.view: the mount namespace and the identity of / and the cwd. */
static char *view(void) {
    char ns[128];
    ssize_t n = readlink("/proc/self/ns/mnt", ns, sizeof ns - 1);
    if (n <= 0) n = 0, ns[n++] = '?';
    ns[n] = 0;
    char ids[2][64];
    const char *paths[2] = {"/", "."};
    for (int i = 0; i < 2; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0)
            snprintf(ids[i], sizeof ids[i], "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        else
            strcpy(ids[i], "?");
    }
    char *out = need(malloc(strlen(ns) + 2 * 64 + 3));
    sprintf(out, "%s %s %s", ns, ids[0], ids[1]);
    return out;
}

/* --- the message ------------------------------------------------------- */

struct buf {
    char *p;
    size_t n, cap;
};

static void put(struct buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = need(realloc(b->p, b->cap));
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_u32(struct buf *b, uint32_t v) {
    unsigned char le[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    put(b, le, 4);
}

static void field(struct buf *b, const char *s) {
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    put(b, s, n);
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int read_exact(int fd, char *p, size_t n) {
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* A connected socket to the daemon of root, or -1. */
static int connect_daemon(const char *root) {
    char *path = cat3(root, "/", "daemon.sock");
    int dirfd = -1;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) <= SUN_PATH_MAX) {
        strcpy(addr.sun_path, path);
    } else { /* too long for sun_path: through an open descriptor of its directory */
        dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
            free(path);
            return -1;
        }
        snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/daemon.sock", dirfd);
    }
    free(path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok = s >= 0 && connect(s, (struct sockaddr *)&addr, sizeof addr) == 0;
    if (dirfd >= 0) close(dirfd);
    if (!ok) {
        if (s >= 0) close(s);
        return -1;
    }
    return s;
}

/* Send the request, read the reply's fields into fields[] (pointers into
 * *body); the number of fields, or -1 if the daemon did not answer. */
static int ask(int s, const struct buf *req, char **body, char **fields, uint32_t *lens, int max) {
    size_t off = 0;
    while (off < req->n) {
        ssize_t w = send(s, req->p + off, req->n - off, MSG_NOSIGNAL); /* a daemon gone must not kill the build */
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        off += (size_t)w;
    }
    unsigned char head[4];
    if (read_exact(s, (char *)head, 4) != 0) return -1;
    uint32_t n = get_u32(head);
    if (n > MAX_MESSAGE) return -1;
    *body = need(malloc(n ? n : 1));
    if (read_exact(s, *body, n) != 0) return -1;
    int k = 0;
    uint32_t i = 0;
    while (i < n) {
        if (n - i < 4 || k == max) return -1;
        uint32_t len = get_u32((unsigned char *)*body + i);
        if (len > n - i - 4) return -1;
        fields[k] = *body + i + 4;
        lens[k++] = len;
        i += 4 + len;
    }
    return k;
}

/* --- deciding ------------------------------------------------------------ */

static const char *const SUBCOMMAND_ENDS[] = {"cc", "c++", "++", "gcc", "clang", "ld", "ar", "ranlib", "as", NULL};
static const char *const WRAPPERS[] = {"ccache", "sccache", "distcc", "icecc", "buildcache", "colorgcc", NULL};

/* Whether `ggcc WORD ...` names a compiler surely (main.near_miss's rule);
 * anything else (a subcommand, a typo, an unusual name) is Python's to judge. */
static int surely_compiler(const char *w) {
    if (strchr(w, '/')) return 1;
    for (const char *const *p = WRAPPERS; *p; p++)
        if (strcmp(w, *p) == 0) return 1;
    size_t n = strlen(w);
    while (n && (strchr("0123456789.-", w[n - 1]))) n--;
    for (const char *const *p = SUBCOMMAND_ENDS; *p; p++)
        if (ends(w, n, *p)) return 1;
    return 0;
}

/* Whether a path is absolute and normal (os.path.abspath(p) == p). */
static int normal_abs(const char *p) {
    size_t n = strlen(p);
    return p[0] == '/' && !ends(p, n, "/") && !ends(p, n, "/.") && !ends(p, n, "/..") && !strstr(p, "//") &&
           !strstr(p, "/./") && !strstr(p, "/../");
}

/* Whether the config file holds a setting this client itself acts on
 * (dir, disable, daemon, native), or a line it cannot read: then Python
 * merges the file. Any other setting is merged by the daemon, which gets
 * the environment without GGCC_CONFIG_SET (launcher/service.py). */
static int config_needs_python(char **env) {
    const char *given = get_env(env, "GGCC_CONFIG");
    char *path;
    if (given && *given) {
        path = need(strdup(given));
    } else {
        const char *xdg = get_env(env, "XDG_CONFIG_HOME");
        const char *home = get_env(env, "HOME");
        path = xdg && *xdg ? cat3(xdg, "/ggcc/", "config.toml") : cat3(home ? home : "", "/.config/ggcc/", "config.toml");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0) return 0; /* no file: no settings (config_file.merge) */
    char text[8192];
    ssize_t n = read(fd, text, sizeof text);
    close(fd);
    if (n < 0) return 0;
    if (n == (ssize_t)sizeof text) return 1;
    static const char *const mine[] = {"dir", "disable", "daemon", "native", "config", "config_set", NULL};
    for (ssize_t i = 0; i < n;) {
        while (i < n && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r')) i++;
        if (i < n && text[i] != '\n' && text[i] != '#') {
            char key[64];
            size_t k = 0;
            while (i < n && k < sizeof key - 1 &&
                   ((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z') ||
                    (text[i] >= '0' && text[i] <= '9') || text[i] == '_')) {
                char c = text[i++];
                key[k++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            }
            key[k] = 0;
            while (i < n && (text[i] == ' ' || text[i] == '\t')) i++;
            if (k == 0 || i >= n || text[i] != '=') return 1; /* not `name = value`: Python says what is wrong */
            const char *name = starts(key, "ggcc_") ? key + 5 : key;
            for (const char *const *m = mine; *m; m++)
                if (strcmp(name, *m) == 0) return 1;
        }
        while (i < n && text[i] != '\n') i++;
        i++;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--native-wire") == 0) { /* for `ggcc doctor` */
        puts(WIRE_VERSION);
        return 0;
    }
    find_self();
    const char *me = base_name(argv[0]);
    /* Under another name (ggcc infer's masquerade links), that name is the compiler. */
    int masquerade = strcmp(me, "ggcc-client") != 0 && strcmp(me, "ggcc") != 0;
    char **cargv = masquerade ? argv : argv + 1;
    int cargc = masquerade ? argc : argc - 1;
    while (cargc > 0 && strcmp(base_name(cargv[0]), "ggcc") == 0) cargv++, cargc--; /* `ggcc ggcc gcc` */
    const char *mname = masquerade ? me : NULL;
    if (cargc == 0 || cargv[0][0] == '-' || !surely_compiler(cargv[0])) exec_python(argv, argc, mname, environ, NULL);
    if (masquerade) cargv[0] = (char *)me;
    const char *native = getenv("GGCC_NATIVE");
    if ((native && strcmp(native, "0") == 0) || getenv("GGCC_FROM_NATIVE")) exec_python(argv, argc, mname, environ, NULL);
    if (getenv("GGCC_DAEMON") && strcmp(getenv("GGCC_DAEMON"), "0") == 0) exec_python(argv, argc, mname, environ, NULL);

    /* The environment the compiler would have had (launch.launch_env). */
    if (!getenv("GGCC_CONFIG_SET") && config_needs_python(environ)) exec_python(argv, argc, mname, environ, NULL);
    const char *masq_dir = getenv("GGCC_MASQUERADE");
    const char *path_env = getenv("PATH");
    if (masq_dir && *masq_dir && path_env) { /* ggcc infer's names are not the compiler */
        size_t n = strlen(path_env), m = strlen(masq_dir);
        char *kept = need(malloc(n + 1));
        size_t k = 0;
        int first = 1;
        for (const char *d = path_env;;) {
            const char *end = strchr(d, ':');
            size_t w = end ? (size_t)(end - d) : strlen(d);
            if (!(w == m && memcmp(d, masq_dir, m) == 0)) {
                if (!first) kept[k++] = ':';
                memcpy(kept + k, d, w);
                k += w;
                first = 0;
            }
            if (!end) break;
            d = end + 1;
        }
        kept[k] = 0;
        setenv("PATH", kept, 1);
        free(kept);
    }
    char *compiler = find_compiler(cargv[0], getenv("PATH"));
    if (!compiler) {
        fprintf(stderr, "ggcc: %s: not found on PATH; name an installed compiler\n", cargv[0]);
        return 127;
    }
    const char *disable = getenv("GGCC_DISABLE");
    if (disable && strcmp(disable, "1") == 0) exec_local(compiler, cargv, environ);

    const char *dir = getenv("GGCC_DIR");
    char *root;
    if (dir && *dir) {
        if (!normal_abs(dir)) exec_python(argv, argc, mname, environ, compiler);
        root = need(strdup(dir));
    } else {
        const char *xdg = getenv("XDG_CACHE_HOME");
        const char *home = getenv("HOME");
        char *cache = xdg && *xdg ? need(strdup(xdg)) : home && *home ? cat3(home, "/.cache", "") : need(strdup(""));
        if (!normal_abs(cache)) exec_python(argv, argc, mname, environ, compiler);
        root = cat3(cache, "/ggcc", "");
        free(cache);
    }
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) exec_python(argv, argc, mname, environ, compiler);
    if (is_probe(cargv, cargc, cwd) || run_by_configure()) {
        count_probe(root, environ);
        exec_local(compiler, cargv, environ);
    }

    /* The request: wire.py's compile fields, after the native marker. */
    struct buf req = {0}, body = {0};
    char num[32], cols[16] = "", sink[3];
    mode_t mask = umask(0);
    umask(mask);
    if (isatty(2)) {
        struct winsize ws;
        if (ioctl(2, TIOCGWINSZ, &ws) == 0) snprintf(cols, sizeof cols, "%u", (unsigned)ws.ws_col);
    }
    sinks(sink, environ);
    char *v = view();
    field(&body, "compile-native");
    field(&body, WIRE_VERSION);
    field(&body, compiler);
    field(&body, cwd);
    snprintf(num, sizeof num, "%o", (unsigned)mask);
    field(&body, num);
    field(&body, cols);
    field(&body, v);
    field(&body, sink);
    snprintf(num, sizeof num, "%d", cargc);
    field(&body, num);
    for (int i = 0; i < cargc; i++) field(&body, cargv[i]);
    for (char **e = environ; *e; e++) field(&body, *e);
    put_u32(&req, (uint32_t)body.n);
    put(&req, body.p, body.n);

    int s = connect_daemon(root);
    if (s < 0) exec_python(argv, argc, mname, environ, compiler); /* no daemon yet: Python starts one */
    char *reply = NULL, *f[4];
    uint32_t len[4];
    int k = ask(s, &req, &reply, f, len, 4);
    close(s);
    if (k == 4 && len[0] == 4 && memcmp(f[0], "done", 4) == 0) {
        char code[16];
        if (len[1] == 0 || len[1] >= sizeof code) exec_python(argv, argc, mname, environ, compiler);
        memcpy(code, f[1], len[1]);
        code[len[1]] = 0;
        (void)write_all(1, f[2], len[2]);
        (void)write_all(2, f[3], len[3]);
        _exit(atoi(code) & 0xff);
    }
    if (k >= 2 && len[0] == 5 && memcmp(f[0], "local", 5) == 0) { /* the daemon counted why */
        if (k > 2) (void)write_all(2, f[2], len[2]); /* a wrong setting, said once per build */
        exec_local(compiler, cargv, environ);
    }
    /* Another daemon's version, an error, a daemon that died answering: Python's to handle. */
    exec_python(argv, argc, mname, environ, compiler);
    return 127;
}
