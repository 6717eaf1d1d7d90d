/* A test app's half of systemd's protocols, for busybox images (the VM lane's tests):
 *
 *   sdhelper notify TEXT   send TEXT (e.g. "READY=1") to $NOTIFY_SOCKET, as sd_notify(3)
 *   sdhelper serve TEXT    socket activation, as sd_listen_fds(3): check LISTEN_PID is us,
 *                          then answer every connection on fd 3 with TEXT, LISTEN_FDS and
 *                          LISTEN_FDNAMES on one line
 *
 * Built static on the host by scripts/vm.sh (the guest has no compiler).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int notify(const char *text) {
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (path == NULL || strlen(path) >= sizeof(address.sun_path)) {
        fprintf(stderr, "sdhelper: no usable NOTIFY_SOCKET\n");
        return 1;
    }
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, text, strlen(text), 0, (struct sockaddr *)&address,
                         sizeof(address)) < 0) {
        perror("sdhelper: notify");
        return 1;
    }
    close(fd);
    return 0;
}

static int serve(const char *text) {
    const char *pid = getenv("LISTEN_PID"), *count = getenv("LISTEN_FDS");
    const char *names = getenv("LISTEN_FDNAMES");
    if (pid == NULL || count == NULL || atol(pid) != (long)getpid() || atoi(count) < 1) {
        fprintf(stderr, "sdhelper: no socket passed (LISTEN_PID=%s LISTEN_FDS=%s, pid %ld)\n",
                pid ? pid : "", count ? count : "", (long)getpid());
        return 1;
    }
    for (;;) {
        int connection = accept(3, NULL, NULL);
        if (connection < 0) {
            perror("sdhelper: accept");
            return 1;
        }
        dprintf(connection, "%s fds=%s names=%s\n", text, count, names ? names : "");
        close(connection);
    }
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "notify") == 0)
        return notify(argv[2]);
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return serve(argv[2]);
    fprintf(stderr, "usage: sdhelper notify TEXT | serve TEXT\n");
    return 2;
}
