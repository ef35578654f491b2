/* kernel_hop: a minimal client, server and TCP relay on loopback, so that the kernel's
 * share of one proxy hop can be measured with almost nothing else in the way.
 *
 *   kernel_hop server LISTEN_PORT REQ_BYTES RESP_BYTES
 *   kernel_hop relay  LISTEN_PORT UPSTREAM_PORT REQ_BYTES RESP_BYTES
 *   kernel_hop client PORT REQUESTS REQ_BYTES RESP_BYTES MODE
 *
 * MODE is `new` (a new TCP connection for every request, closed by the client after the
 * response, as `oha --disable-keepalive`) or `pooled` (one connection for all requests).
 * Every request is REQ_BYTES up and RESP_BYTES down; one request at a time (a closed loop
 * of one). The relay forwards exactly those bytes each way, with one upstream connection
 * per downstream connection, as an L4 proxy does; it does no other work, so what a relay
 * adds to the machine's CPU is the kernel's work of one more hop plus a few system calls.
 * Driven and measured by kernel_share.py. Exits non-zero with a message on any error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[1 << 20];

static void die(const char *what) {
    fprintf(stderr, "kernel_hop: %s: %s\n", what, strerror(errno));
    exit(1);
}

static long arg(const char *s, const char *name) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > (1L << 20)) {
        fprintf(stderr, "kernel_hop: %s must be a whole number from 0 to 1048576, not %s\n", name, s);
        exit(2);
    }
    return v;
}

static void nodelay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) die("TCP_NODELAY");
}

static int listen_on(long port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(fd, 1024) < 0) die("listen");
    return fd;
}

static int connect_to(long port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    nodelay(fd);
    return fd;
}

/* Reads exactly n bytes from `from` and, unless `to` is -1, writes them to `to` as they
 * come; returns 0 if the peer closed before the first byte. */
static int relay_exact(int from, int to, long n) {
    long got = 0;
    while (got < n) {
        long want = n - got < (long)sizeof buf ? n - got : (long)sizeof buf;
        ssize_t r = read(from, buf, (size_t)want);
        if (r < 0) {
            if (errno == EINTR) continue;
            die("read");
        }
        if (r == 0) {
            if (got == 0) return 0;
            errno = EPIPE;
            die("peer closed mid-message");
        }
        for (ssize_t off = 0; to >= 0 && off < r;) {
            ssize_t w = write(to, buf + off, (size_t)(r - off));
            if (w < 0) {
                if (errno == EINTR) continue;
                die("write");
            }
            off += w;
        }
        got += r;
    }
    return 1;
}

static int read_exact(int fd, long n) { return relay_exact(fd, -1, n); }

static void write_all(int fd, long n) {
    long sent = 0;
    while (sent < n) {
        long want = n - sent < (long)sizeof buf ? n - sent : (long)sizeof buf;
        ssize_t w = write(fd, buf, (size_t)want);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("write");
        }
        sent += w;
    }
}

/* The next downstream connection, with Nagle off. */
static int accept_one(int lfd) {
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd >= 0) {
            nodelay(fd);
            return fd;
        }
        if (errno != EINTR) die("accept");
    }
}

static void serve(long port, long req, long resp) {
    int lfd = listen_on(port);
    for (;;) {
        int fd = accept_one(lfd);
        while (read_exact(fd, req)) write_all(fd, resp);
        close(fd);
    }
}

static void relay(long port, long up, long req, long resp) {
    int lfd = listen_on(port);
    for (;;) {
        int down = accept_one(lfd);
        int upfd = connect_to(up);
        while (relay_exact(down, upfd, req)) {
            if (!relay_exact(upfd, down, resp)) {
                errno = EPIPE;
                die("upstream closed before its response");
            }
        }
        close(upfd);
        close(down);
    }
}

static void client(long port, long requests, long req, long resp, int new_conn) {
    int fd = -1;
    for (long i = 0; i < requests; i++) {
        if (fd < 0) fd = connect_to(port);
        write_all(fd, req);
        if (!read_exact(fd, resp)) {
            errno = EPIPE;
            die("server closed before its response");
        }
        if (new_conn) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0) close(fd);
}

int main(int argc, char **argv) {
    memset(buf, 'x', sizeof buf);
    if (argc == 5 && strcmp(argv[1], "server") == 0) {
        serve(arg(argv[2], "LISTEN_PORT"), arg(argv[3], "REQ_BYTES"), arg(argv[4], "RESP_BYTES"));
    } else if (argc == 6 && strcmp(argv[1], "relay") == 0) {
        relay(arg(argv[2], "LISTEN_PORT"), arg(argv[3], "UPSTREAM_PORT"), arg(argv[4], "REQ_BYTES"),
              arg(argv[5], "RESP_BYTES"));
    } else if (argc == 7 && strcmp(argv[1], "client") == 0) {
        int new_conn = strcmp(argv[6], "new") == 0;
        if (!new_conn && strcmp(argv[6], "pooled") != 0) {
            fprintf(stderr, "kernel_hop: MODE must be new or pooled, not %s\n", argv[6]);
            return 2;
        }
        client(arg(argv[2], "PORT"), arg(argv[3], "REQUESTS"), arg(argv[4], "REQ_BYTES"),
               arg(argv[5], "RESP_BYTES"), new_conn);
    } else {
        fprintf(stderr,
                "usage: kernel_hop server LISTEN_PORT REQ_BYTES RESP_BYTES\n"
                "       kernel_hop relay LISTEN_PORT UPSTREAM_PORT REQ_BYTES RESP_BYTES\n"
                "       kernel_hop client PORT REQUESTS REQ_BYTES RESP_BYTES MODE\n");
        return 2;
    }
    return 0;
}
