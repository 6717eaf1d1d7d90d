/*
 * The apps' standard streams, held by the monitor (rkt 1.30's stdin/stdout/stderr modes):
 *
 * - what an app writes (its stdout and stderr pipes, or its pty) goes to its log in the pod
 *   directory, <app>.log, one line per line written, podman's k8s-file format:
 *   "2026-12-06T15:04:05.123456789Z stdout F text" (P: a part of a longer line); at the
 *   plan's size the log is rotated to <app>.log.1; what cannot be written (a full disk) is
 *   counted in <app>.dropped, and the app never waits for the disk beyond one write;
 * - in the foreground, also to rkt run's own stdout and stderr, unchanged;
 * - to the client attached on the app's socket (rkt attach), one at a time: raw for a tty,
 *   else in frames "[1 or 2][length, 4 bytes big-endian][bytes]"; what the client sends goes
 *   to the app's stdin (pipe or pty). A client that goes away or falls behind loses output,
 *   the app nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "stage1.h"

static void log_open(struct plan *plan, struct stream *s)
{
	char name[300];
	snprintf(name, sizeof name, "%s.log", s->name);
	s->log = openat(plan->log_dir, name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	s->log_size = s->log >= 0 ? (size_t)lseek(s->log, 0, SEEK_END) : 0;
}

static void log_rotate(struct plan *plan, struct stream *s)
{
	char name[300], old[310];
	snprintf(name, sizeof name, "%s.log", s->name);
	snprintf(old, sizeof old, "%s.log.1", s->name);
	close(s->log);
	renameat(plan->log_dir, name, plan->log_dir, old);
	log_open(plan, s);
}

/* One read's bytes as log lines, one timestamp for them all (conmon does the same). */
static void log_bytes(struct plan *plan, struct stream *s, int which, const char *buf, size_t n)
{
	if (plan->log_dir < 0)
		return;
	if (s->log < 0)
		log_open(plan, s);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char head[2][64];
	for (int full = 0; full < 2; full++)
		snprintf(head[full], sizeof head[full], "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ %s %c ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec, which == 2 ? "stderr" : "stdout", full ? 'F' : 'P');
	struct iovec iov[96];
	size_t niov = 0, bytes = 0;
	for (size_t off = 0; off < n;) {
		const char *nl = memchr(buf + off, '\n', n - off);
		size_t len = nl ? (size_t)(nl - (buf + off)) : n - off;
		int full = nl != NULL;
		iov[niov++] = (struct iovec){head[full], strlen(head[full])};
		iov[niov++] = (struct iovec){(char *)buf + off, len};
		iov[niov++] = (struct iovec){"\n", 1};
		bytes += iov[niov - 3].iov_len + len + 1;
		off += len + full;
		if (niov + 3 > sizeof iov / sizeof *iov || off >= n) {
			if (plan->log_max && s->log_size + bytes > plan->log_max)
				log_rotate(plan, s);
			ssize_t w = s->log >= 0 ? writev(s->log, iov, (int)niov) : -1;
			if (w < (ssize_t)bytes) /* a full disk (or no log): count what is lost */
				s->dropped += bytes - (size_t)(w > 0 ? w : 0);
			s->log_size += (size_t)(w > 0 ? w : 0);
			niov = bytes = 0;
		}
	}
}

static void to_client(struct stream *s, int which, const char *buf, size_t n)
{
	if (s->client < 0)
		return;
	unsigned char frame[5] = {(unsigned char)which, (unsigned char)(n >> 24),
				  (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
	struct iovec iov[2] = {{frame, 5}, {(char *)buf, n}};
	struct msghdr msg = {.msg_iov = s->tty >= 0 ? iov + 1 : iov, .msg_iovlen = s->tty >= 0 ? 1 : 2};
	if (sendmsg(s->client, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
		close(s->client); /* gone: the next one may come */
		s->client = -1;
	}
}

/* Take what `fd` (the app's stdout, stderr or pty; `which` 1 or 2) has; -1 at its end. */
int stream_output(struct plan *plan, struct stream *s, int fd, int which)
{
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1; /* EOF, or EIO: a pty whose every slave is closed */
	log_bytes(plan, s, which, buf, (size_t)n);
	if (plan->copy && s->copy[which] >= 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(which, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				s->copy[which] = -1; /* our reader went away: the log goes on */
				break;
			}
			off += w;
		}
	}
	to_client(s, which, buf, (size_t)n);
	return 0;
}

/* A client sent something (for the app's stdin), or went away. */
void stream_input(struct stream *s)
{
	char buf[8192];
	ssize_t n = recv(s->client, buf, sizeof buf, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && s->in >= 0) {
		if (write(s->in, buf, (size_t)n) == n)
			return; /* else the app does not read: it does not stop the monitor */
	}
	if (n > 0)
		return;
	close(s->client);
	s->client = -1;
}

void stream_accept(struct stream *s)
{
	/* Only polled while no client is attached: the next one waits in the backlog. */
	s->client = accept4(s->listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
}

void stream_close(struct plan *plan, struct stream *s)
{
	if (s->dropped && plan->log_dir >= 0) {
		char name[300], text[32];
		snprintf(name, sizeof name, "%s.dropped", s->name);
		snprintf(text, sizeof text, "%zu\n", s->dropped);
		int fd = openat(plan->log_dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		if (fd >= 0) {
			if (write(fd, text, strlen(text)) < 0)
				fail(errno, "cannot record what %s's log lost", s->name);
			close(fd);
		}
	}
	if (s->log >= 0)
		close(s->log);
}
