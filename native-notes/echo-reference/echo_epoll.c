/* echo_epoll.c: a level-triggered epoll echo server, the C reference for EpollServer.
 *
 * This is the multiplexed model of the lessons written the way an expert would write it in C: one thread, one
 * epoll set, non-blocking sockets, and no work beyond recv, send and the bookkeeping that backpressure needs.
 * It is what the benchmark calls the practical limit of a single-threaded reactor, so it stays minimal on purpose.
 * THREADS runs that many such reactors, each with its own listener bound with SO_REUSEPORT (nginx's reuseport:
 * the kernel spreads connections across the listeners), so nothing is shared on the per-message path.
 *
 * Usage: echo_epoll PORT [THREADS]   (THREADS 1..1024, default 1; prints "listening on 127.0.0.1:PORT" once every
 *        listener is bound; SIGTERM or SIGINT exits 0)
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKLOG 511       /* the value nginx and Redis use; the kernel caps it at net.core.somaxconn anyway */
#define MAX_EVENTS 1024   /* one epoll_wait returns at most this many; more simply wait for the next call */
#define BUF_SIZE 16384    /* 16 KiB: the per-connection buffer every peer in the benchmark uses */
#define MAX_THREADS 1024  /* a sanity bound on the argument, far above any core count we benchmark */

/* One client. The buffer holds at most one recv's worth of bytes that are still owed to the client. */
struct conn {
    int fd;
    size_t off;           /* first byte not yet sent */
    size_t len;           /* bytes in buf; off == len means nothing is owed */
    char buf[BUF_SIZE];
};

/* One reactor: a thread with its own listener and epoll set. main fills it in before the thread starts. */
struct reactor {
    int lfd;
    int epfd;
    pthread_t thread;
};

/* The stop eventfd is registered in every epoll set with this address as data.ptr; the listener has NULL, and
 * every other registration points at its struct conn. */
static char stop_tag;

/* SIGTERM and SIGINT are blocked before any reactor starts, so every thread inherits the mask and none can take
 * them; they stay pending until main collects them with sigwait, which cannot miss one that came early. A
 * background job of a non-interactive shell inherits SIGINT ignored, and POSIX leaves sigwait on an ignored signal
 * unspecified, so the disposition goes back to the default, which is harmless while the signal is blocked. */
static int block_stop_signals(sigset_t *stop_signals)
{
    sigemptyset(stop_signals);
    sigaddset(stop_signals, SIGTERM);
    sigaddset(stop_signals, SIGINT);
    errno = pthread_sigmask(SIG_BLOCK, stop_signals, NULL);
    if (errno != 0)
        return -1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ? -1 : 0;
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

/* Returns the listening socket, non-blocking so that the accept loop can stop at EAGAIN, or -1. SO_REUSEPORT lets
 * each reactor bind its own listener to the port, and the kernel spreads connections across them by a hash of the
 * addresses; it is set with one reactor too, so every thread count runs the same code. */
static int listen_on_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
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

/* One reactor's loop, until the stop eventfd becomes readable. Stop signals are blocked in this thread, so only
 * main ever takes them. */
static void *run_reactor(void *arg)
{
    const struct reactor *r = arg;
    int epfd = r->epfd, lfd = r->lfd;
    struct epoll_event events[MAX_EVENTS]; /* 12 KiB on this thread's stack */
    for (;;) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue; /* a stop and continue from a debugger, say */
            perror("epoll_wait");
            _exit(1); /* unlike exit, safe if two threads fail at once; stderr is unbuffered, so nothing is lost */
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == &stop_tag)
                return NULL; /* connections still open are closed when the process exits */
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
}

/* Opens one reactor's listener and epoll set, and registers the listener and the shared stop eventfd in it. */
static int open_reactor(struct reactor *r, int port, int stopfd)
{
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &stop_tag };
    r->lfd = listen_on_loopback(port);
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (r->lfd < 0 || r->epfd < 0 || epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->lfd, &lev) < 0 ||
        epoll_ctl(r->epfd, EPOLL_CTL_ADD, stopfd, &sev) < 0)
        return -1;
    return 0;
}

/* Binds every listener before any thread starts. Port 0 asks the kernel to choose, so the listeners after the
 * first bind the port the first one really got. */
static int open_reactors(struct reactor *rs, int count, int port, int stopfd)
{
    for (int i = 0; i < count; i++) {
        if (open_reactor(&rs[i], i == 0 ? port : bound_port(rs[0].lfd), stopfd) < 0)
            return -1;
    }
    return 0;
}

static int start_reactors(struct reactor *rs, int count)
{
    for (int i = 0; i < count; i++) {
        errno = pthread_create(&rs[i].thread, NULL, run_reactor, &rs[i]);
        if (errno != 0)
            return -1; /* main then returns 1, and exiting ends the threads already started */
    }
    return 0;
}

/* The stop eventfd is never read, so once written it stays readable in every epoll set (level-triggered) and each
 * loop sees it on its next epoll_wait, however busy. */
static void stop_reactors(struct reactor *rs, int count, int stopfd)
{
    uint64_t one = 1;
    if (write(stopfd, &one, sizeof one) != sizeof one) {
        perror("stop");
        _exit(1);
    }
    for (int i = 0; i < count; i++) {
        pthread_join(rs[i].thread, NULL);
        close(rs[i].lfd);
        close(rs[i].epfd);
    }
    close(stopfd);
}

/* Returns the number s spells out in full if it lies in [min, max], else -1. */
static long parse_range(const char *s, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return end == s || *end != '\0' || errno != 0 || v < min || v > max ? -1 : v;
}

int main(int argc, char **argv)
{
    long port = argc == 2 || argc == 3 ? parse_range(argv[1], 0, 65535) : -1;
    long threads = argc == 3 ? parse_range(argv[2], 1, MAX_THREADS) : 1;
    if (port < 0 || threads < 0) {
        fprintf(stderr, "usage: %s PORT [THREADS]   (THREADS 1..%d, default 1)\n", argv[0], MAX_THREADS);
        return 2;
    }

    sigset_t stop_signals;
    struct reactor *rs = calloc((size_t)threads, sizeof *rs);
    int stopfd = -1;
    raise_fd_limit();
    if (block_stop_signals(&stop_signals) < 0 || rs == NULL || (stopfd = eventfd(0, EFD_CLOEXEC)) < 0 ||
        open_reactors(rs, (int)threads, (int)port, stopfd) < 0 || start_reactors(rs, (int)threads) < 0) {
        perror("start-up");
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", bound_port(rs[0].lfd));
    fflush(stdout);

    int signo;
    sigwait(&stop_signals, &signo); /* returns once SIGTERM or SIGINT is pending; it fails only on a bad set */
    stop_reactors(rs, (int)threads, stopfd);
    free(rs);
    return 0;
}
