/*
 * rkt-stage1: the processes that live as long as a pod (docs/architecture.md, "Why the split between Python and C"
 * compiled program waits"). Python plans everything and hands this program a finished plan;
 * it decides nothing.
 *
 *   rkt-stage1 init FD      the pod's PID 1: start the apps, reap, record statuses, stop
 *   rkt-stage1 monitor FD   rkt run's process once the pod runs: relay, forward, hand off
 *
 * FD is a file descriptor holding the plan (plan.c). Exit statuses: the pod's, or 254 with one
 * line on stderr for the program's own failures.
 */
#ifndef RKT_STAGE1_H
#define RKT_STAGE1_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FAILURE 254
#define MAX_APPS 64
#define MAX_LIST 4096 /* argv, env, groups, fds of one kind */
#define MAX_FILTERS 4

/* A counted list of strings, each NUL-terminated inside the plan's buffer. */
struct strings {
	size_t n;
	char **v; /* v[n] == NULL, ready for execve */
};

struct filter {
	const unsigned char *prog; /* struct sock_filter[], as libseccomp exports it */
	size_t len;		   /* bytes, a multiple of 8 */
};

struct app {
	const char *name;
	int mntns; /* the app's mount namespace, its root pivoted into already */
	const char *workdir;
	struct strings exec, env, pre_start, post_stop;
	uid_t uid;
	gid_t gid;
	size_t ngroups;
	gid_t *groups;
	uint64_t caps[5]; /* bounding, effective, permitted, inheritable, ambient */
	int nnp, filter_early, console, has_oom_adj, oom_adj;
	int cgroup_fds[8];
	size_t ncgroups;
	int oom_fd; /* memory.oom_control (v1) or memory.events (v2), -1: none */
	int stdio[3]; /* -1: inherit PID 1's */
	int listen[16]; /* socket activation: become fds 3.. of the app */
	size_t nlisten;
	const char *listen_names;
	int notify_fd; /* its sd_notify socket (READY=1 makes the pod ready), -1: none */
	int notified;
	struct filter filters[MAX_FILTERS];
	size_t nfilters;
	/* run time */
	pid_t pid, post_stop_pid;
	int status, done;
	double post_stop_deadline;
};

/* An app's streams as the monitor holds them (streams.c). */
struct stream {
	const char *name;
	int out, err, tty; /* its stdout and stderr pipes, or its pty: what it writes */
	int in;		   /* its stdin: a pipe, or the pty; -1 for /dev/null */
	int listen, client; /* rkt attach: the socket, and the client attached (-1: none) */
	int log, copy[3];   /* its log; whether its stdout (1) and stderr (2) still go to ours */
	size_t log_size, dropped;
};

struct plan {
	/* init */
	const char *pivot; /* where PID 1 mounts the empty root it pivots into */
	int rkt_dir;  /* where the readiness link goes (stage1 rootfs's /rkt) */
	const char *ready_link; /* its name there: supervisor-status, from rkt.pod.layout */
	int status_dir; /* where each app's exit status goes, as a file named for the app */
	int oom_dir;  /* where an OOM-killed app gets a note, -1: none */
	int ready_pipe; /* init writes one byte once the pod is ready; the monitor reads it */
	int last_cap;
	int stop_timeout, post_stop_timeout;
	struct app apps[MAX_APPS];
	size_t napps;
	/* monitor */
	pid_t pid1;
	int pty_master, pty_slave; /* --interactive, -1 otherwise */
	struct strings teardown;   /* exec'ed with --status=N once the pod is gone */
	const char *notify_socket; /* systemd's NOTIFY_SOCKET: READY=1 once the pod is ready */
	struct stream streams[MAX_APPS];
	size_t nstreams;
	int log_dir;	    /* the apps' logs (stage1/logs), -1: none */
	size_t log_max;	    /* a log's size before it is rotated, 0: never */
	int copy;	    /* the apps' output also goes to our stdout and stderr */
	int started_pipe;   /* init writes a byte once every app has started (rkt run --detach) */
};

/* streams.c */
int stream_output(struct plan *plan, struct stream *s, int fd, int which);
void stream_input(struct stream *s);
void stream_accept(struct stream *s);
void stream_close(struct plan *plan, struct stream *s);

/* plan.c */
int plan_read(int fd, struct plan *plan, const char *role);

/* init.c, app.c, monitor.c */
int init_main(struct plan *plan);
void app_exec(struct plan *plan, struct app *app, char *const *argv, int report);
int monitor_main(struct plan *plan);

/* main.c: one line on stderr, "rkt-stage1: <what>: <strerror>" when err != 0 */
void fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int wait_code(int status);
/* Block `sigs` (`n` of them, into `set`) and read them from the signalfd returned (-1: said). */
int signal_fd(const int *sigs, size_t n, sigset_t *set);
double now(void);

#endif
