/*
 * An app's process, from fork to execve, in the order rkt.stage1.planner documents (and the
 * Python executor this replaced kept): a session of its own, its cgroups, its mount namespace
 * (already pivoted into its root), oom_score_adj, the console, the
 * working directory, bounding set, ids, seccomp (early only for a root app without
 * no_new_privs, which needs CAP_SYS_ADMIN to load it), capabilities, no_new_privs, every fd but
 * 0-2 closed, seccomp, the pre-start handler, execve. Any failure is written to `report`
 * (close-on-exec: a successful execve closes it empty) and the process exits 254.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stage1.h"

static struct app *reporting;
static int report_fd = -1;

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	char msg[1024];
	int err = errno, n = snprintf(msg, sizeof msg, "app \"%s\": ", reporting->name);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	va_end(ap);
	if (err && (size_t)n < sizeof msg)
		snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(err));
	if (write(report_fd, msg, strlen(msg)) < 0)
		_exit(FAILURE);
	_exit(FAILURE);
}

static void check(int rc, const char *what)
{
	if (rc < 0)
		die("%s", what);
}

static void write_all(int fd, const char *s, const char *what)
{
	size_t len = strlen(s);
	if (write(fd, s, len) != (ssize_t)len)
		die("%s", what);
}

static void enter_root(const struct app *a)
{
	/* The app's own mount namespace, which the Python side pivoted into the app's root
	 * (pivot_root rather than chroot: CAP_SYS_CHROOT is in the default set, and a chroot'ed
	 * root walks out of its chroot with it) with the old root detached. */
	check(setns(a->mntns, CLONE_NEWNS), "join the app's mount namespace");
	check(chdir("/"), "chdir /");
}

static void take_console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	check(fd, "open /dev/console");
	check(ioctl(fd, TIOCSCTTY, 0), "TIOCSCTTY");
	for (int i = 0; i < 3; i++)
		check(dup2(fd, i), "dup2 console");
	close(fd);
}

static void load_filters(const struct app *a)
{
	for (size_t i = 0; i < a->nfilters; i++) {
		struct sock_fprog prog = {(unsigned short)(a->filters[i].len / 8),
					  (struct sock_filter *)(void *)a->filters[i].prog};
		check((int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog),
		      "load the seccomp filter");
	}
}

static void set_ids(uid_t uid, gid_t gid, size_t n, const gid_t *groups)
{
	check(setgroups(n, groups), "setgroups");
	check(setresgid(gid, gid, gid), "setresgid");
	check(setresuid(uid, uid, uid), "setresuid");
}

static void reduce_privileges(const struct plan *plan, const struct app *a)
{
	/* Inside a user namespace (--private-users) the runtime is the host's root, which is no
	 * id there: become the namespace's root first, so that the switch below follows the usual
	 * rules. Elsewhere this changes nothing. */
	set_ids(0, 0, 0, NULL);
	check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient caps");
	for (int n = 0; n <= plan->last_cap; n++)
		if (!(a->caps[0] >> n & 1))
			check(prctl(PR_CAPBSET_DROP, n, 0, 0, 0), "drop from the bounding set");
	set_ids(a->uid, a->gid, a->ngroups, a->groups);
	if (a->filter_early)
		load_filters(a);
	struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	for (int i = 0; i < 2; i++)
		data[i] = (struct __user_cap_data_struct){(uint32_t)(a->caps[1] >> 32 * i),
							  (uint32_t)(a->caps[2] >> 32 * i),
							  (uint32_t)(a->caps[3] >> 32 * i)};
	check((int)syscall(SYS_capset, &head, data), "capset");
	for (int n = 0; n <= plan->last_cap; n++)
		if (a->caps[4] >> n & 1)
			check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, 0, 0), "raise ambient cap");
	if (a->nnp)
		check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs");
}

static void close_others(int from, int keep)
{
	/* Only 0-2 (and passed sockets) reach the app: the pod lock and every runtime fd stay
	 * behind (docs/security.md 8). */
	if (keep > from)
		check((int)syscall(SYS_close_range, from, keep - 1, 0), "close_range");
	check((int)syscall(SYS_close_range, keep + 1, ~0U, 0), "close_range");
}

/* Socket activation (sd_listen_fds(3)): the app's sockets become fds 3.., the report pipe
 * moved out of their way; the environment that says so, for this process. */
static int place_sockets(struct app *a, int report)
{
	static char count[32], pid[32], names[4096];
	int copies[16];
	for (size_t i = 0; i < a->nlisten; i++)
		check(copies[i] = fcntl(a->listen[i], F_DUPFD_CLOEXEC, 64), "dup a passed socket");
	if (report < 3 + (int)a->nlisten)
		check(report = fcntl(report, F_DUPFD_CLOEXEC, 64), "dup the report pipe");
	for (size_t i = 0; i < a->nlisten; i++)
		check(dup2(copies[i], 3 + (int)i), "dup2 a passed socket");
	snprintf(count, sizeof count, "LISTEN_FDS=%zu", a->nlisten);
	snprintf(pid, sizeof pid, "LISTEN_PID=%d", (int)getpid());
	snprintf(names, sizeof names, "LISTEN_FDNAMES=%s", a->listen_names ? a->listen_names : "");
	char **env = calloc(a->env.n + 4, sizeof *env);
	check(env ? 0 : -1, "calloc");
	memcpy(env, a->env.v, a->env.n * sizeof *env);
	env[a->env.n] = count;
	env[a->env.n + 1] = pid;
	env[a->env.n + 2] = names;
	a->env.v = env;
	return report;
}

static int run_pre_start(struct app *a, int report)
{
	pid_t pid = fork();
	check(pid, "fork the pre-start handler");
	if (pid == 0) {
		execve(a->pre_start.v[0], a->pre_start.v, a->env.v);
		die("cannot start pre-start handler %s", a->pre_start.v[0]);
	}
	(void)report;
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("wait for the pre-start handler");
	return wait_code(status);
}

void app_exec(struct plan *plan, struct app *a, char *const *argv, int report)
{
	reporting = a;
	report_fd = report;
	sigset_t none;
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* execve keeps SIG_IGN */
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* A session of its own: a host terminal it holds as 0-2 cannot take pushed input (TIOCSTI
	 * needs the controlling terminal) nor send it signals (docs/security.md 12). */
	check(setsid(), "setsid");
	for (size_t i = 0; i < a->ncgroups; i++)
		write_all(a->cgroup_fds[i], "0", "join the app's cgroup");
	for (int i = 0; i < 3; i++)
		if (a->stdio[i] >= 0)
			check(dup2(a->stdio[i], i), "dup2 stdio");
	enter_root(a);
	if (a->has_oom_adj) {
		char value[16];
		snprintf(value, sizeof value, "%d", a->oom_adj);
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
		check(fd, "open /proc/self/oom_score_adj");
		write_all(fd, value, "write oom_score_adj");
		close(fd);
	}
	if (a->console && argv == a->exec.v)
		take_console();
	check(chdir(a->workdir), a->workdir);
	if (a->nlisten && argv == a->exec.v)
		report = report_fd = place_sockets(a, report);
	reduce_privileges(plan, a);
	close_others(3 + (argv == a->exec.v ? (int)a->nlisten : 0), report);
	if (!a->filter_early)
		load_filters(a); /* as late as can be: only execve (and pre-start) runs under it */
	if (argv == a->exec.v && a->pre_start.n) {
		int code = run_pre_start(a, report);
		if (code)
			_exit(code); /* the handler's status becomes the app's */
	}
	execve(argv[0], argv, a->env.v);
	die("cannot start %s", argv[0]);
}
