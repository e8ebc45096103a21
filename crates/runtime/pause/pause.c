/* peapod's infra ("pause") process: PID 1 of a pod sandbox. It holds the
 * pod's namespaces open, reaps zombies (it is the pod's PID-namespace init
 * with shareProcessNamespace) and exits on SIGINT/SIGTERM. Same contract as
 * Kubernetes' pause.c; built statically by build.rs so it needs no image. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void sigdown(int signo) {
  (void)signo;
  _exit(0);
}

static void sigreap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    printf("peapod-pause\n");
    return 0;
  }
  struct sigaction down = {.sa_handler = sigdown};
  struct sigaction reap = {.sa_handler = sigreap, .sa_flags = SA_NOCLDSTOP};
  if (sigaction(SIGINT, &down, NULL) < 0 || sigaction(SIGTERM, &down, NULL) < 0 ||
      sigaction(SIGCHLD, &reap, NULL) < 0)
    return 1;
  for (;;)
    pause();
  return 42;
}
