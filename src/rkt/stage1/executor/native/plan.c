/*
 * The plan: the only bytes this program reads that it did not make. Python writes it
 * (rkt.stage1.executor.planfile); it is a sequence of netstrings, "LEN:BYTES,", that starts with
 * "rkt-stage1-plan", the version "1" and the role, then keys each followed by their values:
 *
 *   init:    pivot PATH  rkt-dir FD  ready-link NAME  status-dir FD  oom-dir FD  last-cap N
 *            stop-timeout S  post-stop-timeout S
 *            app NAME, then for that app: mntns FD  workdir P  uid N  gid N  groups N G...
 *            caps B E P I A  nnp 0|1  filter BYTES  filter-early 0|1  console 0|1
 *            oom-score-adj N  cgroup FD  oom FD  stdio FD FD FD
 *            exec N ARG...  env N K=V...  pre-start N ARG...  post-stop N ARG...
 *            listen FD  listen-names N1:N2  notify FD;  ready-pipe FD (the pod's)
 *            started-pipe FD (the pod's)
 *   monitor: pid1 PID  pty FD FD  teardown N ARG...  ready-pipe FD  notify-socket PATH
 *            log-dir FD  log-max BYTES  copy 0|1
 *            stream NAME, then for that app: out FD  err FD  in FD  tty FD  attach FD
 *
 * Every length and number is checked, strings may not hold NUL (filters are binary), lists and
 * counts are bounded, and anything unknown or missing is an error naming the key: exit 254.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stage1.h"

#define MAX_PLAN (16 << 20)

struct cursor {
	char *p, *end;
	const char *key; /* for messages */
};

static char *token(struct cursor *c, size_t *len)
{
	size_t n = 0, digits = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && digits < 9) {
		n = n * 10 + (size_t)(*c->p++ - '0');
		digits++;
	}
	if (!digits || c->p >= c->end || *c->p != ':' || (size_t)(c->end - c->p) < n + 2 ||
	    c->p[n + 1] != ',') {
		fail(0, "plan: malformed value after \"%s\"", c->key);
		exit(FAILURE);
	}
	char *s = ++c->p;
	s[n] = '\0'; /* the ',' becomes the string's terminator */
	c->p += n + 1;
	*len = n;
	return s;
}

static char *str(struct cursor *c)
{
	size_t len;
	char *s = token(c, &len);
	if (strlen(s) != len) {
		fail(0, "plan: NUL byte in a value of \"%s\"", c->key);
		exit(FAILURE);
	}
	return s;
}

static long long num(struct cursor *c, long long lo, long long hi)
{
	char *s = str(c), *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fail(0, "plan: \"%s\": %s is not a number in [%lld, %lld]", c->key, s, lo, hi);
		exit(FAILURE);
	}
	return v;
}

static uint64_t unum(struct cursor *c)
{
	char *s = str(c), *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-') {
		fail(0, "plan: \"%s\": %s is not an unsigned number", c->key, s);
		exit(FAILURE);
	}
	return v;
}

static int fd_value(struct cursor *c)
{
	return (int)num(c, 0, 1 << 20);
}

static void list(struct cursor *c, struct strings *out, size_t min)
{
	size_t n = (size_t)num(c, (long long)min, MAX_LIST);
	out->v = calloc(n + 1, sizeof *out->v);
	if (!out->v) {
		fail(ENOMEM, "plan");
		exit(FAILURE);
	}
	for (size_t i = 0; i < n; i++)
		out->v[i] = str(c);
	out->n = n;
}

static struct app *current(struct plan *plan, const char *key)
{
	if (!plan->napps) {
		fail(0, "plan: \"%s\" before any app", key);
		exit(FAILURE);
	}
	return &plan->apps[plan->napps - 1];
}

static const char *const APP_KEYS[] = {
	"mntns", "workdir", "uid", "gid", "groups", "caps", "nnp", "filter-early", "console",
	"oom-score-adj", "cgroup", "oom", "stdio", "filter", "exec", "env", "pre-start",
	"post-stop", "listen", "listen-names", "notify", NULL};

static void app_key(struct plan *plan, struct cursor *c, const char *key)
{
	size_t k = 0;
	while (APP_KEYS[k] && strcmp(APP_KEYS[k], key))
		k++;
	if (!APP_KEYS[k]) {
		fail(0, "plan: unknown key \"%s\"", key);
		exit(FAILURE);
	}
	struct app *a = current(plan, key);
	if (!strcmp(key, "mntns"))
		a->mntns = fd_value(c);
	else if (!strcmp(key, "workdir"))
		a->workdir = str(c);
	else if (!strcmp(key, "uid"))
		a->uid = (uid_t)num(c, 0, 0xFFFFFFFE);
	else if (!strcmp(key, "gid"))
		a->gid = (gid_t)num(c, 0, 0xFFFFFFFE);
	else if (!strcmp(key, "groups")) {
		a->ngroups = (size_t)num(c, 0, 65536);
		a->groups = calloc(a->ngroups + 1, sizeof *a->groups);
		for (size_t i = 0; a->groups && i < a->ngroups; i++)
			a->groups[i] = (gid_t)num(c, 0, 0xFFFFFFFE);
	} else if (!strcmp(key, "caps")) {
		for (int i = 0; i < 5; i++)
			a->caps[i] = unum(c);
	} else if (!strcmp(key, "nnp"))
		a->nnp = (int)num(c, 0, 1);
	else if (!strcmp(key, "filter-early"))
		a->filter_early = (int)num(c, 0, 1);
	else if (!strcmp(key, "console"))
		a->console = (int)num(c, 0, 1);
	else if (!strcmp(key, "oom-score-adj")) {
		a->has_oom_adj = 1;
		a->oom_adj = (int)num(c, -1000, 1000);
	} else if (!strcmp(key, "cgroup")) {
		if (a->ncgroups == sizeof a->cgroup_fds / sizeof *a->cgroup_fds) {
			fail(0, "plan: too many cgroups for app \"%s\"", a->name);
			exit(FAILURE);
		}
		a->cgroup_fds[a->ncgroups++] = fd_value(c);
	} else if (!strcmp(key, "oom"))
		a->oom_fd = fd_value(c);
	else if (!strcmp(key, "stdio")) {
		for (int i = 0; i < 3; i++)
			a->stdio[i] = (int)num(c, -1, 1 << 20);
	} else if (!strcmp(key, "filter")) {
		size_t len;
		const unsigned char *prog = (unsigned char *)token(c, &len);
		if (a->nfilters == MAX_FILTERS || !len || len % 8 || len / 8 > 4096) {
			fail(0, "plan: bad seccomp filter for app \"%s\"", a->name);
			exit(FAILURE);
		}
		a->filters[a->nfilters++] = (struct filter){prog, len};
	} else if (!strcmp(key, "listen")) {
		if (a->nlisten == sizeof a->listen / sizeof *a->listen) {
			fail(0, "plan: too many sockets for app \"%s\"", a->name);
			exit(FAILURE);
		}
		a->listen[a->nlisten++] = fd_value(c);
	} else if (!strcmp(key, "listen-names"))
		a->listen_names = str(c);
	else if (!strcmp(key, "notify"))
		a->notify_fd = fd_value(c);
	else if (!strcmp(key, "exec"))
		list(c, &a->exec, 1);
	else if (!strcmp(key, "env"))
		list(c, &a->env, 0);
	else if (!strcmp(key, "pre-start"))
		list(c, &a->pre_start, 0);
	else if (!strcmp(key, "post-stop"))
		list(c, &a->post_stop, 0);
	else {
		fail(0, "plan: unknown key \"%s\"", key);
		exit(FAILURE);
	}
}

static void check(struct plan *plan, const char *role)
{
	if (!strcmp(role, "monitor")) {
		if (plan->pid1 <= 0) {
			fail(0, "plan: the monitor needs \"pid1\"");
			exit(FAILURE);
		}
		return;
	}
	if (plan->rkt_dir < 0 || plan->status_dir < 0 || !plan->ready_link ||
	    strchr(plan->ready_link, '/') || !plan->napps || plan->last_cap < 0) {
		fail(0, "plan: init needs \"rkt-dir\", \"ready-link\" (a name), \"status-dir\", "
			"\"last-cap\" and at least one app");
		exit(FAILURE);
	}
	for (size_t i = 0; i < plan->napps; i++) {
		struct app *a = &plan->apps[i];
		if (a->mntns < 0 || !a->workdir || !a->exec.n || !a->env.v || a->workdir[0] != '/' ||
		    strchr(a->name, '/')) {
			fail(0, "plan: app \"%s\" needs \"mntns\", an absolute \"workdir\", \"exec\" "
				"and \"env\"", a->name);
			exit(FAILURE);
		}
	}
}

int plan_read(int fd, struct plan *plan, const char *role)
{
	size_t size = 0, cap = 65536;
	char *buf = malloc(cap);
	for (ssize_t n = 1; buf && n > 0;) {
		if (size == cap && (cap *= 2) <= MAX_PLAN)
			buf = realloc(buf, cap);
		if (!buf || size == cap) {
			fail(ENOMEM, "plan: larger than %d bytes", MAX_PLAN);
			exit(FAILURE);
		}
		n = read(fd, buf + size, cap - size);
		if (n < 0 && errno == EINTR)
			n = 1;
		else if (n < 0) {
			fail(errno, "plan: read");
			exit(FAILURE);
		} else
			size += (size_t)n;
	}
	close(fd);
	memset(plan, 0, sizeof *plan);
	plan->rkt_dir = plan->oom_dir = plan->pty_master = plan->pty_slave = plan->ready_pipe = -1;
	plan->log_dir = plan->started_pipe = plan->status_dir = -1;
	plan->last_cap = -1;
	plan->stop_timeout = plan->post_stop_timeout = 10;
	struct cursor c = {buf, buf + size, "header"};
	if (strcmp(str(&c), "rkt-stage1-plan") || strcmp(str(&c), "1") || strcmp(str(&c), role)) {
		fail(0, "plan: not a version 1 plan for \"%s\"", role);
		exit(FAILURE);
	}
	while (c.p < c.end) {
		const char *key = c.key = str(&c);
		if (!strcmp(key, "rkt-dir"))
			plan->rkt_dir = fd_value(&c);
		else if (!strcmp(key, "ready-link"))
			plan->ready_link = str(&c);
		else if (!strcmp(key, "status-dir"))
			plan->status_dir = fd_value(&c);
		else if (!strcmp(key, "pivot"))
			plan->pivot = str(&c);
		else if (!strcmp(key, "ready-pipe"))
			plan->ready_pipe = fd_value(&c);
		else if (!strcmp(key, "notify-socket"))
			plan->notify_socket = str(&c);
		else if (!strcmp(key, "oom-dir"))
			plan->oom_dir = fd_value(&c);
		else if (!strcmp(key, "last-cap"))
			plan->last_cap = (int)num(&c, 0, 63);
		else if (!strcmp(key, "stop-timeout"))
			plan->stop_timeout = (int)num(&c, 0, 86400);
		else if (!strcmp(key, "post-stop-timeout"))
			plan->post_stop_timeout = (int)num(&c, 0, 86400);
		else if (!strcmp(key, "pid1"))
			plan->pid1 = (pid_t)num(&c, 1, 1 << 22);
		else if (!strcmp(key, "pty")) {
			plan->pty_master = fd_value(&c);
			plan->pty_slave = fd_value(&c);
		} else if (!strcmp(key, "teardown"))
			list(&c, &plan->teardown, 1);
		else if (!strcmp(key, "log-dir"))
			plan->log_dir = fd_value(&c);
		else if (!strcmp(key, "log-max"))
			plan->log_max = (size_t)num(&c, 0, 1LL << 50);
		else if (!strcmp(key, "copy"))
			plan->copy = (int)num(&c, 0, 1);
		else if (!strcmp(key, "started-pipe"))
			plan->started_pipe = fd_value(&c);
		else if (!strcmp(key, "stream")) {
			if (plan->nstreams == MAX_APPS) {
				fail(0, "plan: more than %d streams", MAX_APPS);
				exit(FAILURE);
			}
			struct stream *st = &plan->streams[plan->nstreams++];
			*st = (struct stream){str(&c), -1, -1, -1, -1, -1, -1, -1, {0, 1, 1}, 0, 0};
		} else if (plan->nstreams && !strcmp(key, "out"))
			plan->streams[plan->nstreams - 1].out = fd_value(&c);
		else if (plan->nstreams && !strcmp(key, "err"))
			plan->streams[plan->nstreams - 1].err = fd_value(&c);
		else if (plan->nstreams && !strcmp(key, "in"))
			plan->streams[plan->nstreams - 1].in = fd_value(&c);
		else if (plan->nstreams && !strcmp(key, "tty"))
			plan->streams[plan->nstreams - 1].tty = fd_value(&c);
		else if (plan->nstreams && !strcmp(key, "attach"))
			plan->streams[plan->nstreams - 1].listen = fd_value(&c);
		else if (!strcmp(key, "app")) {
			if (plan->napps == MAX_APPS) {
				fail(0, "plan: more than %d apps", MAX_APPS);
				exit(FAILURE);
			}
			struct app *a = &plan->apps[plan->napps++];
			a->name = str(&c);
			a->oom_fd = a->mntns = a->notify_fd = -1;
			a->stdio[0] = a->stdio[1] = a->stdio[2] = -1;
		} else
			app_key(plan, &c, key);
	}
	check(plan, role);
	return 0;
}
