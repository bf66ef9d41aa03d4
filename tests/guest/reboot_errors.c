/*
 * reboot_errors: reboot(2)'s refusals, in Linux's order: EPERM without
 * CAP_SYS_BOOT (before the magic numbers are looked at), EINVAL for a
 * wrong magic number or an unknown command, EFAULT for RESTART2's
 * unreadable string; CAD_ON and CAD_OFF succeed with any of the four
 * second magic numbers. Prints one line per call: its name, then "= 0"
 * or "= -1 ERRNO". Nothing here may halt or restart the machine.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAGIC1 0xfee1deadu
#define MAGIC2 672274793u
#define CAD_ON 0x89abcdefu
#define CAD_OFF 0u
#define RESTART2 0xa1b2c3d4u
#define KEXEC 0x45584543u
#define SW_SUSPEND 0xd000fce2u

static const char *name(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	default: return strerror(e);
	}
}

static void call(const char *what, unsigned m1, unsigned m2, unsigned cmd, void *arg)
{
	long r = syscall(SYS_reboot, m1, m2, cmd, arg);
	if (r == 0)
		printf("%s = 0\n", what);
	else
		printf("%s = -1 %s\n", what, name(errno));
	fflush(stdout);
}

int main(void)
{
	call("bad magic1", 0x12345678u, MAGIC2, CAD_OFF, NULL);
	call("bad magic2", MAGIC1, 1u, CAD_OFF, NULL);
	call("magic2 cad_off", MAGIC1, MAGIC2, CAD_OFF, NULL);
	call("magic2a cad_on", MAGIC1, 85072278u, CAD_ON, NULL);
	call("magic2b cad_off", MAGIC1, 369367448u, CAD_OFF, NULL);
	call("magic2c cad_on", MAGIC1, 537993216u, CAD_ON, NULL);
	/* The upper 32 bits of each argument are not looked at. */
	syscall(SYS_reboot, 0xffffffff00000000ul | MAGIC1, MAGIC2, 0x100000000ul | CAD_ON, NULL) == 0
		? printf("wide args = 0\n") : printf("wide args = -1 %s\n", name(errno));
	call("unknown cmd", MAGIC1, MAGIC2, 0x12345678u, NULL);
	call("kexec", MAGIC1, MAGIC2, KEXEC, NULL);
	call("sw_suspend", MAGIC1, MAGIC2, SW_SUSPEND, NULL);
	call("restart2 bad string", MAGIC1, MAGIC2, RESTART2, (void *)8);
	if (setuid(1000) != 0) {
		perror("setuid");
		return 1;
	}
	call("uid 1000 cad_off", MAGIC1, MAGIC2, CAD_OFF, NULL);
	call("uid 1000 bad magic", 1u, 2u, 0x12345678u, NULL);
	return 0;
}
