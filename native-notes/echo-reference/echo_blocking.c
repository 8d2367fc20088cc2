/* echo_blocking.c: the lessons' iterative echo server: accept one client, serve it until EOF, then the next.
 *
 * Every call blocks, and one thread serves one client at a time, so a second client's echoes wait until the
 * first one hangs up. It is in the benchmark as the floor: the model that the others exist to improve on.
 *
 * Usage: echo_blocking PORT   (prints "listening on 127.0.0.1:PORT" once bound; SIGTERM or SIGINT exits 0)
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKLOG 511       /* the value nginx and Redis use; the kernel caps it at net.core.somaxconn anyway */
#define BUF_SIZE 16384    /* 16 KiB: the per-connection buffer every peer in the benchmark uses */

/* The thread may be blocked in accept, recv or send when the signal comes, and a flag checked between calls could
 * miss a signal that lands just before one of them. _exit is async-signal-safe and ends the process at once, which
 * is all a stop needs here: the kernel closes the sockets. */
static void on_stop_signal(int signo)
{
    (void)signo;
    _exit(0);
}

static int install_stop_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART, although the handler never returns */
    return sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ? -1 : 0;
}

/* Returns a blocking listening socket on 127.0.0.1:port, or -1. */
static int listen_on_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, BACKLOG) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Port 0 asks the kernel to choose; report the port that was really bound. */
static int bound_port(int fd)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    return getsockname(fd, (struct sockaddr *)&addr, &len) == 0 ? ntohs(addr.sin_port) : -1;
}

/* A blocking send may still return early (a signal, or a send buffer smaller than the data), so loop. */
static int send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL); /* a closed peer is EPIPE, not a fatal SIGPIPE */
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Echoes until EOF (recv returns 0) or an error such as ECONNRESET; both end the same way, quietly. */
static void serve(int fd)
{
    char buf[BUF_SIZE];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || send_all(fd, buf, (size_t)n) < 0)
            return;
    }
}

int main(int argc, char **argv)
{
    char *end;
    long port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc != 2 || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }

    int lfd = listen_on_loopback((int)port);
    if (lfd < 0 || install_stop_handler() < 0) {
        perror("start-up");
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", bound_port(lfd));
    fflush(stdout);

    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED)
                perror("accept"); /* EMFILE and the like: report it and keep serving */
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* small echoes must not wait for Nagle */
        serve(fd);
        close(fd);
    }
}
