/*
 * tmpfs: run as init under umvm. Checks the mount table as system calls
 * see it: statfs/fstatfs magic numbers, st_dev per mount (stat, fstat,
 * statx), EXDEV for rename and link across mounts, EBUSY for mount
 * points, /tmp's mode, a mapping of a tmpfs file, and chdir in and out
 * of /tmp. Prints one line per check; any unexpected result prints the
 * failing check to stderr and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdint.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define CHECK(x)                                                              \
	do {                                                                  \
		if (!(x)) {                                                   \
			fprintf(stderr, "tmpfs: line %d: %s: %s\n", __LINE__, \
				#x, strerror(errno));                         \
			exit(1);                                              \
		}                                                             \
	} while (0)

#define TMPFS_MAGIC 0x01021994
#define PROC_SUPER_MAGIC 0x9fa0
#define PIPEFS_MAGIC 0x50495045
#define RENAME_NOREPLACE 1

/* The kernel's struct statx (musl 1.2.3 has no statx wrapper). */
struct kstatx {
	uint32_t mask, blksize;
	uint64_t attributes;
	uint32_t nlink, uid, gid;
	uint16_t mode, pad1;
	uint64_t ino, size, blocks, attributes_mask;
	struct {
		int64_t sec;
		uint32_t nsec;
		int32_t pad;
	} atime, btime, ctime, mtime;
	uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
	uint64_t spare[14];
};

static int rename_noreplace(const char *from, const char *to)
{
	return syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
}

static int kstatx(int dirfd, const char *path, int flags, struct kstatx *sx)
{
	return syscall(SYS_statx, dirfd, path, flags, 0x7ffU, sx);
}

static long magic(const char *path)
{
	struct statfs sf;
	CHECK(statfs(path, &sf) == 0);
	return sf.f_type;
}

static dev_t dev_of(const char *path)
{
	struct stat st;
	CHECK(stat(path, &st) == 0);
	return st.st_dev;
}

/* Runs `call` expecting failure with `want`; prints the outcome. */
#define EXPECT_ERR(call, want)                                              \
	do {                                                                \
		errno = 0;                                                  \
		int r_ = (call);                                            \
		printf("%s: %s\n", #call,                                   \
		       r_ == 0 ? "ok" : errno == (want) ? #want : strerror(errno)); \
	} while (0)

int main(void)
{
	/* statfs and fstatfs. */
	printf("statfs /tmp tmpfs: %d\n", magic("/tmp") == TMPFS_MAGIC);
	printf("statfs /dev/shm tmpfs: %d\n", magic("/dev/shm") == TMPFS_MAGIC);
	printf("statfs /dev tmpfs: %d\n", magic("/dev") == TMPFS_MAGIC);
	printf("statfs /proc proc: %d\n", magic("/proc") == PROC_SUPER_MAGIC);
	printf("statfs / not tmpfs: %d\n", magic("/") != TMPFS_MAGIC);
	struct statfs sf;
	CHECK(statfs("/tmp", &sf) == 0);
	printf("tmpfs blocks: %d nosuid,nodev: %d\n", sf.f_blocks > 0 && sf.f_bsize > 0,
	       (sf.f_flags & (ST_NOSUID | ST_NODEV)) == (ST_NOSUID | ST_NODEV));
	errno = 0;
	printf("statfs missing: %s\n", statfs("/tmp/nope", &sf) == 0 ? "ok" : strerror(errno));

	int fd = open("/tmp/f", O_RDWR | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, "tmpfs data\n", 11) == 11);
	CHECK(fstatfs(fd, &sf) == 0);
	printf("fstatfs tmpfs file: %d\n", sf.f_type == TMPFS_MAGIC);
	int p[2];
	CHECK(pipe(p) == 0);
	CHECK(fstatfs(p[0], &sf) == 0);
	printf("fstatfs pipe: %d\n", sf.f_type == PIPEFS_MAGIC);

	/* st_dev: one per mount, the same by path, fd and statx. */
	dev_t root = dev_of("/"), tmp = dev_of("/tmp"), shm = dev_of("/dev/shm");
	printf("st_dev / /tmp /dev/shm distinct: %d\n", root != tmp && tmp != shm && root != shm);
	printf("st_dev /tmp/f is /tmp's: %d\n", dev_of("/tmp/f") == tmp);
	printf("st_dev /tmp/.. is /'s: %d\n", dev_of("/tmp/..") == root);
	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	printf("fstat st_dev is /tmp's: %d\n", st.st_dev == tmp);
	struct kstatx sx;
	CHECK(kstatx(AT_FDCWD, "/tmp/f", 0, &sx) == 0);
	printf("statx dev is /tmp's: %d\n", makedev(sx.dev_major, sx.dev_minor) == tmp);
	CHECK(kstatx(fd, "", AT_EMPTY_PATH, &sx) == 0);
	printf("statx fd dev is /tmp's: %d\n", makedev(sx.dev_major, sx.dev_minor) == tmp);
	CHECK(stat("/tmp", &st) == 0);
	printf("/tmp mode: %o\n", st.st_mode & 07777);

	/* A private mapping of a tmpfs file holds its bytes (shared writable
	 * mappings wait for the page cache, as on every hostfs file). */
	char *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(m != MAP_FAILED);
	printf("mapped: %.11s", m);
	CHECK(munmap(m, 4096) == 0);
	CHECK(close(fd) == 0);

	/* Across mounts: EXDEV, whatever the host has behind them. */
	EXPECT_ERR(rename("/tmp/f", "/f"), EXDEV);
	EXPECT_ERR(rename("/tmp/f", "/dev/shm/f"), EXDEV);
	EXPECT_ERR(link("/tmp/f", "/f"), EXDEV);
	EXPECT_ERR(link("/tmp/nope", "/f"), ENOENT);
	EXPECT_ERR(rename_noreplace("/tmp/f", "/f"), EXDEV);
	/* Within one mount: fine. */
	EXPECT_ERR(rename("/tmp/f", "/tmp/g"), 0);
	EXPECT_ERR(link("/tmp/g", "/tmp/h"), 0);
	CHECK(stat("/tmp/h", &st) == 0);
	printf("nlink: %d\n", (int)st.st_nlink);
	/* Mount points are busy. */
	EXPECT_ERR(rmdir("/tmp"), EBUSY);
	EXPECT_ERR(rmdir("/dev/shm"), EBUSY);
	EXPECT_ERR(rename("/tmp", "/tmp2"), EBUSY);
	EXPECT_ERR(unlink("/tmp"), EISDIR);
	EXPECT_ERR(mkdir("/tmp", 0755), EEXIST);
	/* chdir into the tmpfs and back out through `..`. */
	char cwd[256];
	CHECK(chdir("/tmp") == 0);
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	printf("cwd: %s\n", cwd);
	CHECK(stat(".", &st) == 0);
	printf("cwd st_dev is /tmp's: %d\n", st.st_dev == tmp);
	CHECK(chdir("..") == 0);
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	printf("cwd: %s\n", cwd);
	CHECK(stat(".", &st) == 0);
	printf("cwd st_dev is /'s: %d\n", st.st_dev == root);
	return 0;
}
