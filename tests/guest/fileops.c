/*
 * fileops: run as init under umvm on a host-directory root. Prints its
 * argv, part of its environment and its ids, then exercises the file
 * syscalls (open/read/write/lseek/pread/pwrite/ftruncate, stat family,
 * rename, unlink, mkdir, rmdir, symlink/readlink, getdents through
 * opendir/readdir, getcwd/chdir/fchdir, dup2) and exits 7.
 *
 * The host puts /input.txt in the root first; fileops leaves /out.txt.
 * Any unexpected result prints the failing check to stderr and exits 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "fileops: line %d: %s: %s\n", __LINE__, \
				#x, strerror(errno));                          \
			exit(1);                                               \
		}                                                              \
	} while (0)

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints the sorted entries of `path` with their lstat types. */
static void list_dir(const char *path)
{
	char *names[64];
	int n = 0;
	struct dirent *e;
	DIR *d = opendir(path);
	CHECK(d != NULL);
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		CHECK(n < 64);
		names[n++] = strdup(e->d_name);
	}
	CHECK(errno == 0);
	CHECK(closedir(d) == 0);
	qsort(names, n, sizeof *names, by_name);
	printf("ls %s:", path);
	for (int i = 0; i < n; i++) {
		char p[PATH_MAX];
		struct stat st;
		snprintf(p, sizeof p, "%s/%s", path, names[i]);
		CHECK(lstat(p, &st) == 0);
		printf(" %s(%c)", names[i],
		       S_ISDIR(st.st_mode)   ? 'd'
		       : S_ISLNK(st.st_mode) ? 'l'
		       : S_ISREG(st.st_mode) ? 'f'
					     : '?');
		free(names[i]);
	}
	printf("\n");
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CHECK(close(fd) == 0);
}

static const char *read_file(const char *path)
{
	static char buf[4096];
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	while ((n = read(fd, buf + total, sizeof buf - 1 - total)) > 0)
		total += n;
	CHECK(n == 0);
	CHECK(close(fd) == 0);
	buf[total] = 0;
	return buf;
}

static void print_cwd(void)
{
	char cwd[PATH_MAX];
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	printf("cwd=%s\n", cwd);
}

int main(int argc, char **argv)
{
	char buf[64];
	struct stat st;
	ssize_t n;
	int fd;

	/* Line-buffered, so that output through the dup'd fd stays in order. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(022);

	printf("argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=\"%s\"\n", i, argv[i]);
	CHECK(argv[argc] == NULL);
	printf("HOME=%s\n", getenv("HOME") ? getenv("HOME") : "(unset)");
	printf("PATH=%s\n", getenv("PATH") ? getenv("PATH") : "(unset)");
	printf("TERM %s\n", getenv("TERM") && *getenv("TERM") ? "set" : "unset");
	for (int i = 0; environ[i]; i++)
		CHECK(strchr(environ[i], '=') != NULL);
	printf("pid=%d ppid=%d\n", (int)getpid(), (int)getppid());
	print_cwd();

	/* A file the host wrote. */
	printf("input: %s", read_file("/input.txt"));

	/* A directory of our own, and relative paths in it. */
	CHECK(mkdir("/work", 0755) == 0);
	CHECK(mkdir("/work", 0755) == -1 && errno == EEXIST);
	CHECK(chdir("/work") == 0);
	print_cwd();

	fd = open("a.txt", O_CREAT | O_EXCL | O_WRONLY, 0640);
	CHECK(fd >= 0);
	CHECK(write(fd, "hello, file\n", 12) == 12);
	CHECK(write(fd, "second line\n", 12) == 12);
	CHECK(close(fd) == 0);
	CHECK(open("a.txt", O_CREAT | O_EXCL | O_WRONLY, 0640) == -1 && errno == EEXIST);
	CHECK(stat("a.txt", &st) == 0);
	printf("a.txt: size=%lld mode=%o regular=%d\n", (long long)st.st_size,
	       (unsigned)(st.st_mode & 07777), S_ISREG(st.st_mode));

	fd = open("a.txt", O_RDWR);
	CHECK(fd >= 0);
	CHECK(lseek(fd, 7, SEEK_SET) == 7);
	CHECK(read(fd, buf, 4) == 4);
	printf("at 7: %.4s\n", buf);
	CHECK(lseek(fd, -5, SEEK_END) == 19);
	n = read(fd, buf, sizeof buf);
	CHECK(n == 5);
	printf("tail: %.5s", buf);
	CHECK(read(fd, buf, sizeof buf) == 0);
	CHECK(lseek(fd, 0, SEEK_CUR) == 24);
	CHECK(pwrite(fd, "HELLO", 5, 0) == 5);
	CHECK(pread(fd, buf, 12, 0) == 12);
	printf("pread: %.12s", buf);
	CHECK(lseek(fd, 0, SEEK_CUR) == 24);
	CHECK(ftruncate(fd, 12) == 0);
	CHECK(fstat(fd, &st) == 0);
	printf("after ftruncate: size=%lld\n", (long long)st.st_size);
	CHECK(close(fd) == 0);
	CHECK(read(fd, buf, 1) == -1 && errno == EBADF);

	fd = open("a.txt", O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK(write(fd, "appended\n", 9) == 9);
	CHECK(close(fd) == 0);
	printf("a.txt: %s", read_file("a.txt"));

	CHECK(rename("a.txt", "b.txt") == 0);
	CHECK(stat("a.txt", &st) == -1 && errno == ENOENT);
	CHECK(mkdir("sub", 0700) == 0);
	CHECK(stat("sub", &st) == 0 && S_ISDIR(st.st_mode));
	printf("sub: mode=%o\n", (unsigned)(st.st_mode & 07777));
	write_file("sub/c.txt", "c\n", 0600);
	CHECK(symlink("b.txt", "link") == 0);
	n = readlink("link", buf, sizeof buf);
	CHECK(n == 5);
	printf("link -> %.*s\n", (int)n, buf);
	CHECK(lstat("link", &st) == 0 && S_ISLNK(st.st_mode));
	CHECK(stat("link", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 21);
	list_dir("/work");
	list_dir("sub");

	CHECK(rmdir("sub") == -1 && errno == ENOTEMPTY);
	CHECK(unlink("sub") == -1 && errno == EISDIR);
	CHECK(unlink("sub/c.txt") == 0);
	CHECK(rmdir("sub") == 0);
	CHECK(open("missing", O_RDONLY) == -1 && errno == ENOENT);
	CHECK(open("b.txt/x", O_RDONLY) == -1 && errno == ENOTDIR);
	CHECK(unlink("link") == 0);

	/* dup2 onto a fresh fd: writes go to the same console. */
	CHECK(dup2(1, 9) == 9);
	CHECK(write(9, "via fd 9\n", 9) == 9);
	CHECK(close(9) == 0);

	CHECK(chdir("..") == 0);
	print_cwd();
	CHECK(chdir("/work/../work/.") == 0);
	print_cwd();
	fd = open("/bin", O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	CHECK(fchdir(fd) == 0);
	CHECK(close(fd) == 0);
	print_cwd();
	CHECK(chdir("/") == 0);

	CHECK(rename("/work/b.txt", "/out.txt") == 0);
	CHECK(rmdir("/work") == 0);
	list_dir("/");

	printf("done\n");
	return 7;
}
