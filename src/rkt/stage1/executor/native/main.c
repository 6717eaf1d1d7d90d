/* rkt-stage1 [check] init|monitor FD: see stage1.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>

#include "stage1.h"

void fail(int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, "stage1: %s: %s\n", msg, strerror(err));
	else
		fprintf(stderr, "stage1: %s\n", msg);
}

/* As a shell shows it: the exit code, or 128 + the signal that killed it. */
int wait_code(int status)
{
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

int signal_fd(const int *sigs, size_t n, sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < n; i++)
		sigaddset(set, sigs[i]);
	sigprocmask(SIG_BLOCK, set, NULL);
	int sfd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		fail(errno, "signalfd");
	return sfd;
}

double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static struct plan plan;
	/* "check ROLE FD" reads and checks a plan and does nothing else (for the tests' fuzzing). */
	int check = argc == 4 && !strcmp(argv[1], "check");
	const char *role = argc == 3 + check ? argv[1 + check] : "", *end = "";
	long fd = argc == 3 + check ? strtol(argv[2 + check], (char **)&end, 10) : -1;
	if (fd < 0 || *end || fd > 1 << 20 || (strcmp(role, "init") && strcmp(role, "monitor"))) {
		fail(0, "usage: rkt-stage1 [check] init|monitor PLAN-FD");
		return FAILURE;
	}
	plan_read((int)fd, &plan, role);
	if (check)
		return 0;
	return strcmp(role, "init") ? monitor_main(&plan) : init_main(&plan);
}
