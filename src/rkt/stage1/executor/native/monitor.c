/*
 * rkt run's process while the pod runs: the Python that prepared the pod exec'ed us, holding
 * the pod's lock (an inherited fd we keep) and the pod's PID 1 as a child (it set itself
 * child subreaper before the pod's first process forked PID 1 and exited).
 *
 * - SIGTERM, SIGINT and SIGHUP go on to PID 1, which stops the pod in order; a second SIGTERM
 *   or SIGINT kills the pod at once (SIGKILL to PID 1 ends its whole pid namespace).
 * - --interactive: the app's terminal is a pty of ours (docs/security.md 12); we relay it to our
 *   own terminal, in raw mode, with its window size, until PID 1 has exited.
 * - When PID 1 has exited, the pod is gone: we exec the teardown the plan names (Python: the
 *   networks' DEL, with the lock still held) with --status=N, or exit with the pod's status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <stddef.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "stage1.h"

static struct termios saved;
static int raw = 0;

static void copy_winsize(int from, int to)
{
	struct winsize ws;
	if (ioctl(from, TIOCGWINSZ, &ws) == 0)
		ioctl(to, TIOCSWINSZ, &ws);
}

static void make_raw(void)
{
	if (!isatty(0) || tcgetattr(0, &saved) < 0)
		return;
	struct termios t = saved;
	cfmakeraw(&t);
	if (tcsetattr(0, TCSANOW, &t) == 0)
		raw = 1;
}

/* Copy what is there from one fd to another; -1 once `from` is at its end. */
static int relay(int from, int to)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof buf);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return 0; /* our reader went away: drop it, keep the pod */
		off += w;
	}
	return 0;
}

/* PID 1 says the pod is ready (a byte; end of file if it gave up first): systemd learns it
 * from us, the process it started (Type=notify's NotifyAccess=main). */
static void ready(struct plan *plan)
{
	char byte;
	ssize_t n = read(plan->ready_pipe, &byte, 1);
	close(plan->ready_pipe);
	plan->ready_pipe = -1;
	const char *path = plan->notify_socket;
	if (n != 1 || !path || !*path)
		return;
	struct sockaddr_un to = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if (len >= sizeof to.sun_path)
		return;
	memcpy(to.sun_path, path, len);
	if (path[0] == '@')
		to.sun_path[0] = '\0'; /* an abstract socket */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&to,
			     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		fail(errno, "cannot tell systemd the pod is ready");
	if (fd >= 0)
		close(fd);
}

/* The apps' output streams not yet at their end. */
static int open_streams(const struct plan *plan)
{
	int open = 0;
	for (size_t i = 0; i < plan->nstreams; i++) {
		const struct stream *s = &plan->streams[i];
		open += (s->tty >= 0) + (s->out >= 0) + (s->err >= 0);
	}
	return open;
}

/* One poll over `head` (the caller's fds) and the apps' streams, handling what the streams
 * found; `timeout` as poll's. */
static void poll_streams(struct plan *plan, struct pollfd *head, size_t nhead, int timeout)
{
	struct pollfd p[4 + 4 * MAX_APPS];
	memcpy(p, head, nhead * sizeof *p);
	size_t n = nhead;
	for (size_t i = 0; i < plan->nstreams; i++) {
		struct stream *s = &plan->streams[i];
		p[n++] = (struct pollfd){s->tty >= 0 ? s->tty : s->out, POLLIN, 0};
		p[n++] = (struct pollfd){s->err, POLLIN, 0};
		p[n++] = (struct pollfd){s->client < 0 ? s->listen : -1, POLLIN, 0};
		p[n++] = (struct pollfd){s->client, POLLIN, 0};
	}
	if (poll(p, n, timeout) < 0 && errno != EINTR)
		fail(errno, "poll");
	memcpy(head, p, nhead * sizeof *p);
	for (size_t i = 0; i < plan->nstreams; i++) {
		struct stream *s = &plan->streams[i];
		struct pollfd *q = p + nhead + 4 * i;
		int *out = s->tty >= 0 ? &s->tty : &s->out;
		if (q[0].revents && stream_output(plan, s, *out, 1) < 0)
			close(*out), *out = -1;
		if (q[1].revents && stream_output(plan, s, s->err, 2) < 0)
			close(s->err), s->err = -1;
		if (q[2].revents)
			stream_accept(s);
		else if (q[3].revents)
			stream_input(s);
	}
}

int monitor_main(struct plan *plan)
{
	sigset_t set;
	int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGWINCH, SIGTTIN, SIGTTOU, SIGTSTP};
	int sfd = signal_fd(sigs, sizeof sigs / sizeof *sigs, &set);
	if (sfd < 0)
		kill(plan->pid1, SIGKILL);
	signal(SIGPIPE, SIG_IGN); /* a reader of ours that goes away is an error, not our end */
	for (size_t i = 0; i < plan->nstreams; i++) {
		struct stream *s = &plan->streams[i];
		for (int fd = 0; fd < 3; fd++) { /* never stuck reading an app's stream */
			int f = fd == 0 ? s->out : fd == 1 ? s->err : s->tty;
			if (f >= 0)
				fcntl(f, F_SETFL, fcntl(f, F_GETFL) | O_NONBLOCK);
		}
	}
	int pty = plan->pty_master, in_open = pty >= 0;
	if (pty >= 0) {
		fcntl(pty, F_SETFL, fcntl(pty, F_GETFL) | O_NONBLOCK); /* never stuck in a read */
		copy_winsize(0, pty);
		make_raw();
	}
	int stops = 0, code = -1, drain = 50; /* 5 s for the streams' ends once PID 1 is gone */
	for (;;) {
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (pid == plan->pid1)
				code = wait_code(status);
		struct pollfd p[4] = {{sfd, POLLIN, 0},
				      {pty, POLLIN, 0},
				      {in_open && pty >= 0 ? 0 : -1, POLLIN, 0},
				      {plan->ready_pipe, POLLIN, 0}};
		/* Once PID 1 is gone, so is every writer of the apps' streams: read them to their
		 * end (none left: at once), then go. */
		if (code >= 0 && (!open_streams(plan) || !drain--))
			break;
		poll_streams(plan, p, code >= 0 ? 0 : 4, code >= 0 ? 100 : -1);
		if (code >= 0)
			continue;
		if (p[3].revents)
			ready(plan);
		if (pty >= 0 && p[1].revents && relay(pty, 1) < 0)
			pty = -1; /* the pty hung up: the app is gone */
		if (in_open && p[2].revents && relay(0, plan->pty_master) < 0)
			in_open = 0;
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof si) == sizeof si) {
			int sig = (int)si.ssi_signo;
			if (sig == SIGWINCH && plan->pty_master >= 0)
				copy_winsize(0, plan->pty_master);
			else if (sig == SIGTERM || sig == SIGINT)
				kill(plan->pid1, ++stops > 1 ? SIGKILL : sig);
			else if (sig == SIGHUP)
				kill(plan->pid1, sig);
		}
	}
	for (struct pollfd p = {pty, POLLIN, 0}; pty >= 0 && poll(&p, 1, 0) > 0;)
		if (!(p.revents & POLLIN) || relay(pty, 1) < 0)
			break; /* what the app wrote last, and nothing more */
	for (size_t i = 0; i < plan->nstreams; i++)
		stream_close(plan, &plan->streams[i]);
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
	if (!plan->teardown.n)
		return code;
	char status_arg[32];
	snprintf(status_arg, sizeof status_arg, "--status=%d", code);
	char **argv = calloc(plan->teardown.n + 2, sizeof *argv);
	if (!argv)
		return code;
	memcpy(argv, plan->teardown.v, plan->teardown.n * sizeof *argv);
	argv[plan->teardown.n] = status_arg;
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	execv(argv[0], argv);
	fail(errno, "cannot start the teardown %s", argv[0]);
	return code;
}
