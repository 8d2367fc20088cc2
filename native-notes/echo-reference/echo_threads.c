/* echo_threads.c: the lessons' thread-per-connection echo server: the main thread accepts, and each client gets
 * a detached thread that runs the blocking recv/send loop until EOF.
 *
 * Clients no longer wait for each other, but every client costs a thread (a stack and a kernel task), and every
 * message costs a wake-up of that thread. It is in the benchmark to show where that cost starts to dominate.
 *
 * Usage: echo_threads PORT   (prints "listening on 127.0.0.1:PORT" once bound; SIGTERM or SIGINT exits 0)
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKLOG 511       /* the value nginx and Redis use; the kernel caps it at net.core.somaxconn anyway */
#define BUF_SIZE 16384    /* 16 KiB: the per-connection buffer every peer in the benchmark uses */

/* glibc's default stack is ulimit -s (usually 8 MiB) of address space per thread: 80 GiB for ten thousand
 * clients, which strict overcommit settings refuse. 256 KiB is still sixteen times the 16 KiB buffer that is the
 * only large thing on a connection thread's stack. */
#define THREAD_STACK_SIZE (256 * 1024)

/* Any thread may take the signal, blocked in accept, recv or send. _exit is async-signal-safe and ends the whole
 * process from whichever thread runs the handler, with no flag that a blocked thread could fail to see. */
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

/* One client's whole life: echo until EOF or an error such as ECONNRESET, then close quietly. */
static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[BUF_SIZE];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || send_all(fd, buf, (size_t)n) < 0)
            break;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    char *end;
    long port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc != 2 || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }

    /* Detached: nobody joins a client thread, and its resources go back as soon as it returns. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);

    raise_fd_limit();
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

        /* The fd travels inside the pointer itself. The lessons malloc it instead, because passing &connfd would
         * let the next accept overwrite it before the thread reads it; a value needs neither. */
        pthread_t tid;
        int err = pthread_create(&tid, &attr, serve, (void *)(intptr_t)fd);
        if (err != 0) {
            fprintf(stderr, "pthread_create: %s\n", strerror(err)); /* EAGAIN: out of threads; drop this client */
            close(fd);
        }
    }
}
