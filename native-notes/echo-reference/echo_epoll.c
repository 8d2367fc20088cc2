/* echo_epoll.c: a single-threaded, level-triggered epoll echo server, the C reference for EpollServer.
 *
 * This is the multiplexed model of the lessons written the way an expert would write it in C: one thread, one
 * epoll set, non-blocking sockets, and no work beyond recv, send and the bookkeeping that backpressure needs.
 * It is what the benchmark calls the practical limit of a single-threaded reactor, so it stays minimal on purpose.
 *
 * Usage: echo_epoll PORT   (prints "listening on 127.0.0.1:PORT" once bound; SIGTERM or SIGINT exits 0)
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKLOG 511       /* the value nginx and Redis use; the kernel caps it at net.core.somaxconn anyway */
#define MAX_EVENTS 1024   /* one epoll_wait returns at most this many; more simply wait for the next call */
#define BUF_SIZE 16384    /* 16 KiB: the per-connection buffer every peer in the benchmark uses */

/* One client. The buffer holds at most one recv's worth of bytes that are still owed to the client. */
struct conn {
    int fd;
    size_t off;           /* first byte not yet sent */
    size_t len;           /* bytes in buf; off == len means nothing is owed */
    char buf[BUF_SIZE];
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

/* SIGTERM and SIGINT stay blocked except inside epoll_pwait, which unblocks them atomically. A signal that arrives
 * while the loop is busy therefore waits for the next epoll_pwait and makes it return EINTR at once, instead of
 * landing between the flag check and the wait, where plain epoll_wait would sleep through it. */
static int install_stop_handler(sigset_t *wait_mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the interrupted epoll_pwait must return EINTR */
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
        return -1;

    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    return sigprocmask(SIG_BLOCK, &stop_signals, wait_mask); /* wait_mask: the mask as it was, signals open */
}

/* The .NET runtime raises its soft RLIMIT_NOFILE to the hard limit at start-up; do the same so that a test with
 * many connections hits the same fd ceiling in every peer. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Returns the listening socket, non-blocking so that the accept loop can stop at EAGAIN, or -1. */
static int listen_on_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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

static int set_interest(int epfd, struct conn *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Closing the fd removes it from the epoll set (no other fd refers to the same socket), so no EPOLL_CTL_DEL is
 * needed. epoll_wait reports each fd at most once per call, so no later event in this batch can point at c. */
static void close_conn(struct conn *c)
{
    close(c->fd);
    free(c);
}

/* Sends what is owed. Returns 1 when everything is sent, 0 when the socket buffer is full, -1 on error. */
static int flush_conn(struct conn *c)
{
    while (c->off < c->len) {
        ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL); /* a closed peer is EPIPE */
        if (n >= 0)
            c->off += (size_t)n;
        else if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        else if (errno != EINTR)
            return -1;
    }
    c->off = c->len = 0;
    return 1;
}

/* Readable: one recv per wake-up (level-triggered epoll reports the rest next time, which keeps one busy client
 * from starving the others), then echo it at once. Whatever the socket cannot take now waits in buf, and the
 * connection stops reading until it has been flushed: that is the backpressure. */
static void on_readable(int epfd, struct conn *c)
{
    ssize_t n = recv(c->fd, c->buf, sizeof c->buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return; /* spurious wake-up or a signal: level-triggered epoll will report it again */
    if (n <= 0) {
        close_conn(c); /* 0 is EOF and nothing is owed; < 0 is ECONNRESET and friends: close quietly */
        return;
    }
    c->len = (size_t)n;
    int sent = flush_conn(c);
    if (sent < 0 || (sent == 0 && set_interest(epfd, c, EPOLLOUT) < 0))
        close_conn(c);
}

/* Writable: only armed while bytes are owed. Once they are gone, go back to reading. */
static void on_writable(int epfd, struct conn *c)
{
    int sent = flush_conn(c);
    if (sent < 0 || (sent == 1 && set_interest(epfd, c, EPOLLIN) < 0))
        close_conn(c);
}

/* Starts a connection reading. Each struct conn is allocated here and freed only by close_conn. */
static int add_conn(int epfd, int fd)
{
    struct conn *c = malloc(sizeof *c);
    if (c == NULL)
        return -1;
    c->fd = fd;
    c->off = c->len = 0;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        free(c);
        return -1;
    }
    return 0;
}

/* Accepts until the backlog is empty: with level triggering a partial drain would also be correct, but draining
 * costs one extra accept4 (EAGAIN) and saves an epoll_wait per burst of connects. */
static void accept_clients(int epfd, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue; /* a client that reset while in the backlog is no reason to stop */
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                perror("accept4"); /* EMFILE and the like: the listener stays readable and we retry next wake-up */
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* small echoes must not wait for Nagle */

        if (add_conn(epfd, fd) < 0) {
            perror("accept: add connection");
            close(fd);
        }
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

    sigset_t wait_mask;
    raise_fd_limit();
    int lfd = listen_on_loopback((int)port);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    /* The listener is registered with data.ptr NULL: every other registration points at its struct conn. */
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    if (lfd < 0 || epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0 ||
        install_stop_handler(&wait_mask) < 0) {
        perror("start-up");
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", bound_port(lfd));
    fflush(stdout);

    static struct epoll_event events[MAX_EVENTS]; /* 12 KiB: static rather than on the stack */
    while (!stop_requested) {
        int n = epoll_pwait(epfd, events, MAX_EVENTS, -1, &wait_mask);
        if (n < 0) {
            if (errno == EINTR)
                continue; /* the loop condition sees the stop flag */
            perror("epoll_pwait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            uint32_t ev = events[i].events;
            if (c == NULL)
                accept_clients(epfd, lfd);
            else if (ev & EPOLLERR)
                close_conn(c); /* a reset or similar: nothing more can be delivered */
            else if (c->off < c->len)
                on_writable(epfd, c); /* bytes are owed, so the interest is EPOLLOUT (HUP shows up as EPIPE) */
            else
                on_readable(epfd, c); /* EPOLLIN or EPOLLHUP: recv tells data, EOF and error apart */
        }
    }
    /* Exiting closes every socket; a benchmark peer has nothing else to hand back. */
    return 0;
}
