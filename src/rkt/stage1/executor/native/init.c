/*
 * The pod's PID 1 (after catatonit and tini): start the apps one after the other, each once
 * the previous one has exec'ed; reap every child, orphans included; forward SIGTERM, SIGINT and
 * SIGHUP to the apps, SIGTERM and SIGINT arming a timer after which the apps get SIGKILL; run
 * each app's post-stop handler once it has exited (bounded by a timeout, then SIGKILL); record
 * each app's status in rkt/status/<app> once it is completely done; exit with rkt's pod
 * status: the first app to exit non-zero, else 0.
 *
 * Signals arrive through a signalfd (the Python side blocked them before it forked us, so a
 * stop sent before we were ready is pending, not lost); the loop sleeps in poll() until the
 * nearest deadline. No app starts after a stop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stage1.h"

static int stop_signal, recorded;
#define NEVER 1e18 /* a deadline that never comes */
static double stop_deadline = NEVER;

static void signal_apps(struct plan *plan, int sig)
{
	for (size_t i = 0; i < plan->napps; i++)
		if (plan->apps[i].pid > 0)
			kill(plan->apps[i].pid, sig);
}

static void on_signal(struct plan *plan, int sig)
{
	if ((sig == SIGTERM || sig == SIGINT) && !stop_signal) {
		stop_signal = sig;
		stop_deadline = now() + plan->stop_timeout;
	}
	if (sig != SIGCHLD)
		signal_apps(plan, sig);
}

/* Take every pending signal; SIGCHLD is handled by the reaping loop. */
static void drain(struct plan *plan, int sfd)
{
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof si) == sizeof si)
		on_signal(plan, (int)si.ssi_signo);
}

static void write_file(int dir, const char *name, const char *text)
{
	char tmp[300];
	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) < 0 ||
	    close(fd) < 0 || renameat(dir, tmp, dir, name) < 0)
		fail(errno, "cannot record %s", name);
}

static void note_oom(struct plan *plan, struct app *a)
{
	/* v1 memory.oom_control and v2 memory.events both say "oom_kill N". */
	char buf[4096];
	ssize_t n = a->oom_fd >= 0 ? pread(a->oom_fd, buf, sizeof buf - 1, 0) : -1;
	if (n <= 0 || plan->oom_dir < 0)
		return;
	buf[n] = '\0';
	char *line = strstr(buf, "oom_kill ");
	if (line && (line == buf || line[-1] == '\n') && strtol(line + 9, NULL, 10) > 0)
		write_file(plan->oom_dir, a->name, "true\n");
}

static void record(struct plan *plan, struct app *a)
{
	char text[16];
	note_oom(plan, a);
	snprintf(text, sizeof text, "%d\n", a->status);
	write_file(plan->status_dir, a->name, text);
	a->done = ++recorded; /* the order the apps finished in */
}


/* Fork the app's process running argv; its pid once it has exec'ed (or ended without a word:
 * a failed pre-start handler, a signal), 0 if it could not start (the reason on stderr, the
 * child reaped). `*pid_slot` holds the pid meanwhile, so that a stop during a pre-start
 * handler reaches the app's process. */
static pid_t start(struct plan *plan, struct app *a, char *const *argv, pid_t *pid_slot,
		   int sfd)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		fail(errno, "pipe");
		return 0;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		app_exec(plan, a, argv, pipefd[1]);
	}
	close(pipefd[1]);
	if (pid < 0) {
		fail(errno, "fork app \"%s\"", a->name);
		close(pipefd[0]);
		return 0;
	}
	*pid_slot = pid;
	char msg[1025];
	ssize_t n = 1, len = 0;
	while (n != 0 && (size_t)len < sizeof msg - 1) {
		struct pollfd p[2] = {{pipefd[0], POLLIN, 0}, {sfd, POLLIN, 0}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			drain(plan, sfd); /* a stop now reaches the app (in its pre-start handler) */
		if (!p[0].revents)
			continue;
		n = read(pipefd[0], msg + len, sizeof msg - 1 - (size_t)len);
		if (n < 0 && errno != EINTR)
			break;
		len += n > 0 ? n : 0;
	}
	close(pipefd[0]);
	if (len == 0)
		return pid;
	msg[len] = '\0';
	fprintf(stderr, "stage1: %s\n", msg);
	*pid_slot = 0;
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

static void link_status(struct plan *plan, const char *state)
{
	char tmp[300];
	snprintf(tmp, sizeof tmp, "%s.tmp", plan->ready_link);
	unlinkat(plan->rkt_dir, tmp, 0);
	if (symlinkat(state, plan->rkt_dir, tmp) < 0 ||
	    renameat(plan->rkt_dir, tmp, plan->rkt_dir, plan->ready_link) < 0)
		fail(errno, "cannot write %s", plan->ready_link);
}

/* rkt status --wait-ready, and systemd's Type=notify through the monitor: the pod is ready
 * once every app has started and every app that speaks sd_notify has sent READY=1; until
 * then, with such apps, it is "started". */
static void mark_ready(struct plan *plan)
{
	for (size_t i = 0; i < plan->napps; i++)
		if (plan->apps[i].notify_fd >= 0 && !plan->apps[i].notified) {
			link_status(plan, "started");
			return;
		}
	link_status(plan, "ready");
	if (plan->ready_pipe >= 0) {
		if (write(plan->ready_pipe, "1", 1) < 0)
			fail(errno, "cannot tell the monitor the pod is ready");
		close(plan->ready_pipe);
		plan->ready_pipe = -1;
	}
}

/* Take the notifications waiting on the apps' sockets; the pod may now be ready. */
static void take_notifications(struct plan *plan, int started)
{
	int changed = 0;
	for (size_t i = 0; i < plan->napps; i++) {
		struct app *a = &plan->apps[i];
		char buf[4097];
		ssize_t n;
		while (a->notify_fd >= 0 && (n = recv(a->notify_fd, buf, sizeof buf - 1, MSG_DONTWAIT)) >= 0) {
			buf[n] = '\0';
			for (char *line = buf; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
				if (!strncmp(line, "READY=1", 7) && (line[7] == '\n' || !line[7]))
					changed |= !a->notified, a->notified = 1;
		}
	}
	if (changed && started)
		mark_ready(plan);
}

static int start_apps(struct plan *plan, int sfd)
{
	for (size_t i = 0; i < plan->napps; i++) {
		struct app *a = &plan->apps[i];
		drain(plan, sfd);
		if (stop_signal)
			return -1; /* stopped before this app started: start nothing more */
		if (!start(plan, a, a->exec.v, &a->pid, sfd))
			return -2;
	}
	mark_ready(plan);
	if (plan->started_pipe >= 0) { /* rkt run --detach returns now */
		if (write(plan->started_pipe, "1", 1) < 0)
			fail(errno, "cannot tell rkt run the pod has started");
		close(plan->started_pipe);
		plan->started_pipe = -1;
	}
	return 0;
}

static struct app *by_pid(struct plan *plan, pid_t pid, int post_stop)
{
	for (size_t i = 0; i < plan->napps; i++) {
		struct app *a = &plan->apps[i];
		if ((post_stop ? a->post_stop_pid : a->pid) == pid)
			return a;
	}
	return NULL;
}

static void exited(struct plan *plan, pid_t pid, int status, int aborting)
{
	struct app *a = by_pid(plan, pid, 0);
	if (a) {
		a->pid = 0;
		a->status = wait_code(status);
		if (a->post_stop.n && !aborting) {
			a->post_stop_deadline = now() + plan->post_stop_timeout;
			if (start(plan, a, a->post_stop.v, &a->post_stop_pid, -1))
				return;
		}
		record(plan, a);
	} else if ((a = by_pid(plan, pid, 1))) {
		a->post_stop_pid = 0;
		if (wait_code(status))
			fprintf(stderr, "stage1: app \"%s\": post-stop handler exited %d\n", a->name,
				wait_code(status));
		record(plan, a);
	} /* else an orphan re-parented to us: reaped, nothing to record */
}

static int running(struct plan *plan)
{
	for (size_t i = 0; i < plan->napps; i++)
		if (plan->apps[i].pid > 0 || plan->apps[i].post_stop_pid > 0)
			return 1;
	return 0;
}

static void supervise(struct plan *plan, int sfd, int aborting)
{
	for (;;) {
		/* Reap first: a SIGCHLD may have been read already (start() drains the signalfd). */
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			exited(plan, pid, status, aborting);
		double t = now(), next = stop_deadline;
		if (t >= stop_deadline) {
			stop_deadline = next = NEVER;
			signal_apps(plan, SIGKILL);
		}
		for (size_t i = 0; i < plan->napps; i++) {
			struct app *a = &plan->apps[i];
			if (a->post_stop_pid > 0 && t >= a->post_stop_deadline) {
				fprintf(stderr, "stage1: app \"%s\": post-stop handler timed out\n", a->name);
				kill(a->post_stop_pid, SIGKILL);
				a->post_stop_deadline = NEVER;
			}
			if (a->post_stop_pid > 0 && a->post_stop_deadline < next)
				next = a->post_stop_deadline;
		}
		if (!running(plan))
			return;
		struct pollfd p[1 + MAX_APPS] = {{sfd, POLLIN, 0}};
		for (size_t i = 0; i < plan->napps; i++)
			p[1 + i] = (struct pollfd){plan->apps[i].notified ? -1 : plan->apps[i].notify_fd,
						   POLLIN, 0};
		int timeout = next >= NEVER ? -1 : next <= t ? 0 : (int)((next - t) * 1000) + 1;
		if (poll(p, 1 + plan->napps, timeout) < 0 && errno != EINTR)
			fail(errno, "poll");
		drain(plan, sfd);
		take_notifications(plan, !aborting);
	}
}

/* Into an empty root, the old one detached: what the pod can see of us (/proc/1/mountinfo,
 * /proc/1/root) shows no host path, and nothing of the host stays mounted here. Each app has
 * its own mount namespace already; we keep only descriptors. Done here, after the exec, so that
 * the program (and a sanitizer build's runtime) was loaded from the host's filesystem. */
static int pivot(const char *where)
{
	if (mount("rkt", where, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555") < 0 ||
	    chdir(where) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
		fail(errno, "cannot pivot into an empty root at %s", where);
		return -1;
	}
	return 0;
}

int init_main(struct plan *plan)
{
	/* Nothing of the pod may open us through /proc (docs/security.md 9); the name the apps see. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_NAME, "rkt-supervisor", 0, 0, 0);
	sigset_t set;
	int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
	int sfd = signal_fd(sigs, sizeof sigs / sizeof *sigs, &set);
	if (sfd < 0)
		return FAILURE;
	if (plan->pivot && pivot(plan->pivot) < 0)
		return FAILURE;
	int started = start_apps(plan, sfd);
	if (started == -2) {
		signal_apps(plan, SIGKILL); /* an app could not start: no post-stop handlers */
		supervise(plan, sfd, 1);
		return FAILURE;
	}
	supervise(plan, sfd, 0);
	if (started == -1 && !plan->apps[0].done)
		return 128 + stop_signal; /* stopped before anything ran */
	struct app *first = NULL; /* rkt's rule: the first app to exit non-zero, else 0 */
	for (size_t i = 0; i < plan->napps; i++) {
		struct app *a = &plan->apps[i];
		if (a->done && a->status && (!first || a->done < first->done))
			first = a;
	}
	return first ? first->status : 0;
}
