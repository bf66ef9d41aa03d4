/* POSIX timers: one-shot and periodic SIGEV_SIGNAL timers whose signals
 * carry SI_TIMER, the timer id and sigev_value; a NULL sigevent (SIGALRM,
 * the id as value); SIGEV_THREAD_ID to one pthread; SIGEV_THREAD (musl's,
 * built on SIGEV_THREAD_ID and sigwaitinfo); SIGEV_NONE counting down;
 * TIMER_ABSTIME; overruns while the signal is blocked; two timers queueing
 * one real-time signal; timer_delete (a pending signal of a deleted timer
 * is dropped); errors; fork children inherit no timers and execve deletes
 * them. Prints facts, not times. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void nap_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* What the handlers saw. */
static volatile sig_atomic_t hits, last_code, last_value, last_timerid, last_overrun, last_tid;
static volatile int values[8], overruns[8];
/* The timer whose overruns the handler reads (timer_getoverrun is
 * async-signal-safe; in the handler no later signal of it can come first). */
static timer_t overrun_timer;
static volatile sig_atomic_t overrun_seen = -1;

static void handler(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)uc;
    last_code = si->si_code;
    last_value = si->si_value.sival_int;
    last_timerid = si->si_timerid;
    last_overrun = si->si_overrun;
    last_tid = syscall(SYS_gettid);
    if (hits < 8) values[hits] = si->si_value.sival_int, overruns[hits] = si->si_overrun;
    if (overrun_timer && hits == 0) overrun_seen = timer_getoverrun(overrun_timer);
    hits++;
}

static void on(int sig) {
    struct sigaction sa = { .sa_sigaction = handler, .sa_flags = SA_SIGINFO };
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, 0);
}

static void block(int sig, int how) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(how, &s, 0);
}

/* Waits (up to 3s) until the handlers ran `n` times in all. */
static int wait_hits(int n) {
    double end = now() + 3;
    while (hits < n && now() < end) nap_ms(1);
    return hits >= n;
}

static timer_t make(int notify, int sig, int value) {
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = notify;
    ev.sigev_signo = sig;
    ev.sigev_value.sival_int = value;
    timer_t t;
    if (timer_create(CLOCK_MONOTONIC, &ev, &t) < 0) {
        printf("timer_create: %s\n", strerror(errno));
        exit(1);
    }
    return t;
}

static void set(timer_t t, int flags, long value_ns, long interval_ns) {
    struct itimerspec its = {
        .it_interval = { interval_ns / 1000000000, interval_ns % 1000000000 },
        .it_value = { value_ns / 1000000000, value_ns % 1000000000 },
    };
    if (timer_settime(t, flags, &its, 0) < 0) printf("timer_settime: %s\n", strerror(errno));
}

static long left_ns(timer_t t) {
    struct itimerspec cur;
    if (timer_gettime(t, &cur) < 0) return -errno;
    return cur.it_value.tv_sec * 1000000000L + cur.it_value.tv_nsec;
}

static const char *err(long r) {
    if (r >= 0) return "ok";
    switch (errno) {
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EAGAIN: return "EAGAIN";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return strerror(errno);
    }
}

static const char *yes(int c) {
    return c ? "yes" : "no";
}

/* SIGEV_THREAD_ID: the target thread's tid, and when it may stop. */
static atomic_int worker_tid, worker_done;

static void *worker(void *arg) {
    (void)arg;
    worker_tid = syscall(SYS_gettid);
    while (!worker_done) nap_ms(1);
    return 0;
}

/* SIGEV_THREAD: calls and the value they got. */
static atomic_int thread_calls, thread_value;

static void notified(union sigval v) {
    thread_value = v.sival_int;
    thread_calls++;
}

/* After execve: the timer from before is gone, the id counter is not. */
static int after_exec(const char *id) {
    long r = syscall(SYS_timer_gettime, atoi(id), &(struct itimerspec){ 0 });
    printf("after exec: old timer %s\n", err(r));
    timer_t t = make(SIGEV_NONE, 0, 0);
    printf("after exec: next id %ld\n", (long)(intptr_t)t);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "after-exec") == 0) return after_exec(argv[2]);

    /* A one-shot timer. */
    on(SIGUSR1);
    timer_t t0 = make(SIGEV_SIGNAL, SIGUSR1, 42);
    printf("first id: %ld\n", (long)(intptr_t)t0);
    set(t0, 0, 30000000, 0);
    long left = left_ns(t0);
    printf("armed: %s\n", yes(left > 0 && left <= 30000000));
    double t = now();
    int got = wait_hits(1);
    printf("one-shot: fired %s, waited >= 20ms %s, code SI_TIMER %s, value %d, timerid matches %s, overrun %d\n",
           yes(got), yes(now() - t >= 0.02), yes(last_code == SI_TIMER), (int)last_value,
           yes(last_timerid == (long)(intptr_t)t0), (int)last_overrun);
    printf("disarmed after expiry: %s\n", yes(left_ns(t0) == 0));

    /* A periodic one, then deleted. */
    hits = 0;
    timer_t t1 = make(SIGEV_SIGNAL, SIGUSR1, 7);
    set(t1, 0, 10000000, 10000000);
    got = wait_hits(5);
    timer_delete(t1);
    int after = hits;
    nap_ms(50);
    printf("periodic: 5 signals %s, value %d, none after delete %s\n", yes(got), (int)last_value, yes(hits == after));

    /* A NULL sigevent: SIGALRM, the timer id as value. */
    on(SIGALRM);
    hits = 0;
    timer_t ta;
    timer_create(CLOCK_MONOTONIC, 0, &ta);
    set(ta, 0, 10000000, 0);
    got = wait_hits(1);
    printf("null sigevent: SIGALRM %s, value is the id %s\n", yes(got && last_code == SI_TIMER),
           yes(last_value == (long)(intptr_t)ta));
    timer_delete(ta);

    /* SIGEV_NONE: nothing is sent; timer_gettime counts down. */
    timer_t tn = make(SIGEV_NONE, 0, 0);
    set(tn, 0, 300000000, 0);
    long l1 = left_ns(tn);
    nap_ms(50);
    long l2 = left_ns(tn);
    printf("SIGEV_NONE: counts down %s\n", yes(l1 > l2 && l2 > 0 && l1 - l2 >= 40000000));
    set(tn, 0, 10000000, 0);
    nap_ms(30);
    printf("SIGEV_NONE: expired shows 0 %s\n", yes(left_ns(tn) == 0));
    set(tn, 0, 20000000, 20000000);
    nap_ms(50);
    l1 = left_ns(tn);
    printf("SIGEV_NONE: periodic stays within a period %s\n", yes(l1 > 0 && l1 <= 20000000));
    timer_delete(tn);

    /* TIMER_ABSTIME, on CLOCK_REALTIME and CLOCK_MONOTONIC. */
    hits = 0;
    struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
    timer_t tr;
    timer_create(CLOCK_REALTIME, &ev, &tr);
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    rt.tv_nsec += 40000000;
    if (rt.tv_nsec >= 1000000000) rt.tv_sec++, rt.tv_nsec -= 1000000000;
    struct itimerspec abs = { .it_value = rt };
    t = now();
    timer_settime(tr, TIMER_ABSTIME, &abs, 0);
    got = wait_hits(1);
    printf("absolute realtime: fired %s, waited >= 30ms %s\n", yes(got), yes(now() - t >= 0.03));
    timer_delete(tr);
    hits = 0;
    timer_t tm = make(SIGEV_SIGNAL, SIGUSR1, 3);
    struct itimerspec past = { .it_value = { 1, 0 } };
    t = now();
    timer_settime(tm, TIMER_ABSTIME, &past, 0);
    got = wait_hits(1);
    printf("absolute in the past: fires at once %s\n", yes(got && now() - t < 0.5));
    timer_delete(tm);

    /* Overruns: the signal stays blocked across several periods. */
    block(SIGUSR1, SIG_BLOCK);
    hits = 0;
    timer_t to = make(SIGEV_SIGNAL, SIGUSR1, 5);
    overrun_timer = to;
    set(to, 0, 10000000, 10000000);
    nap_ms(100);
    left = left_ns(to);
    printf("requeue pending: within a period %s\n", yes(left > 0 && left <= 10000000));
    block(SIGUSR1, SIG_UNBLOCK);
    got = wait_hits(1);
    printf("overrun: delivered %s, si_overrun >= 5 %s, timer_getoverrun agrees %s\n", yes(got),
           yes(values[0] == 5 && overruns[0] >= 5), yes(overrun_seen == overruns[0]));
    overrun_timer = 0;
    timer_delete(to);

    /* A pending signal of a deleted timer is dropped. */
    block(SIGUSR1, SIG_BLOCK);
    hits = 0;
    timer_t td = make(SIGEV_SIGNAL, SIGUSR1, 6);
    set(td, 0, 5000000, 0);
    nap_ms(30);
    sigset_t pend;
    sigpending(&pend);
    int was_pending = sigismember(&pend, SIGUSR1);
    timer_delete(td);
    block(SIGUSR1, SIG_UNBLOCK);
    nap_ms(20);
    printf("deleted while pending: was pending %s, dropped %s\n", yes(was_pending), yes(hits == 0));

    /* Two timers, one real-time signal: both queue, in order. */
    int rt1 = SIGRTMIN + 3;
    on(rt1);
    block(rt1, SIG_BLOCK);
    hits = 0;
    timer_t q1 = make(SIGEV_SIGNAL, rt1, 1), q2 = make(SIGEV_SIGNAL, rt1, 2);
    set(q1, 0, 10000000, 0);
    set(q2, 0, 20000000, 0);
    nap_ms(50);
    block(rt1, SIG_UNBLOCK);
    got = wait_hits(2);
    printf("two timers queue: %d signals, values %d %d\n", (int)hits, values[0], values[1]);
    timer_delete(q1);
    timer_delete(q2);

    /* sigwaitinfo accepts a timer's signal. */
    int rt2 = SIGRTMIN + 4;
    block(rt2, SIG_BLOCK);
    timer_t tw = make(SIGEV_SIGNAL, rt2, 9);
    set(tw, 0, 10000000, 10000000);
    sigset_t ws;
    sigemptyset(&ws);
    sigaddset(&ws, rt2);
    siginfo_t si;
    int n = 0, ok = 1;
    for (; n < 3; n++) {
        if (sigwaitinfo(&ws, &si) != rt2 || si.si_code != SI_TIMER || si.si_value.sival_int != 9) ok = 0;
    }
    printf("sigwaitinfo: 3 timer signals %s\n", yes(ok));
    timer_delete(tw);

    /* SIGEV_THREAD_ID: to one thread of the process, by tid. */
    pthread_t th;
    pthread_create(&th, 0, worker, 0);
    while (!worker_tid) nap_ms(1);
    block(SIGUSR1, SIG_BLOCK); /* only the target thread can take it */
    hits = 0;
    struct sigevent tev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGUSR1 };
    tev.sigev_notify_thread_id = worker_tid;
    tev.sigev_value.sival_int = 11;
    timer_t tt;
    printf("thread id: create %s\n", err(timer_create(CLOCK_MONOTONIC, &tev, &tt)));
    set(tt, 0, 10000000, 0);
    got = wait_hits(1);
    printf("thread id: delivered to the thread %s, value %d\n", yes(got && last_tid == worker_tid),
           (int)last_value);
    timer_delete(tt);
    worker_done = 1;
    pthread_join(th, 0);
    block(SIGUSR1, SIG_UNBLOCK);

    /* SIGEV_THREAD (musl runs the function in a thread of its own). */
    struct sigevent thev = { .sigev_notify = SIGEV_THREAD, .sigev_notify_function = notified };
    thev.sigev_value.sival_int = 23;
    timer_t tf;
    printf("sigev_thread: create %s\n", err(timer_create(CLOCK_MONOTONIC, &thev, &tf)));
    set(tf, 0, 10000000, 10000000);
    double end = now() + 3;
    while (thread_calls < 3 && now() < end) nap_ms(1);
    timer_delete(tf);
    printf("sigev_thread: 3 calls %s, value %d\n", yes(thread_calls >= 3), (int)thread_value);

    /* Errors. */
    timer_t bad;
    struct sigevent e = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
    printf("unknown clock: %s\n", err(timer_create(12345, &e, &bad)));
    printf("raw clock: %s\n", err(timer_create(CLOCK_MONOTONIC_RAW, &e, &bad)));
    e.sigev_signo = 0;
    printf("signal 0: %s\n", err(timer_create(CLOCK_MONOTONIC, &e, &bad)));
    e.sigev_signo = 65;
    printf("signal 65: %s\n", err(timer_create(CLOCK_MONOTONIC, &e, &bad)));
    e.sigev_signo = SIGUSR1;
    e.sigev_notify = 99;
    printf("notify 99: %s\n", err(timer_create(CLOCK_MONOTONIC, &e, &bad)));
    e.sigev_notify = SIGEV_THREAD_ID;
    e.sigev_notify_thread_id = 999999;
    printf("thread id of no thread: %s\n", err(timer_create(CLOCK_MONOTONIC, &e, &bad)));
    printf("bad sigevent pointer: %s\n", err(syscall(SYS_timer_create, CLOCK_MONOTONIC, (void *)8, &bad)));
    int kid;
    printf("bad id pointer: %s\n", err(syscall(SYS_timer_create, CLOCK_MONOTONIC, 0, (void *)8)));
    printf("create (raw): %s\n", err(syscall(SYS_timer_create, CLOCK_MONOTONIC, 0, &kid)));
    struct itimerspec its = { .it_value = { 1, 0 } };
    printf("settime unknown id: %s\n", err(syscall(SYS_timer_settime, 12345, 0, &its, 0)));
    printf("settime negative id: %s\n", err(syscall(SYS_timer_settime, -1, 0, &its, 0)));
    printf("settime NULL: %s\n", err(syscall(SYS_timer_settime, kid, 0, 0, 0)));
    printf("settime bad pointer: %s\n", err(syscall(SYS_timer_settime, kid, 0, (void *)8, 0)));
    its.it_value.tv_nsec = 1000000000;
    printf("tv_nsec 1e9: %s\n", err(syscall(SYS_timer_settime, kid, 0, &its, 0)));
    its.it_value.tv_nsec = -1;
    printf("tv_nsec -1: %s\n", err(syscall(SYS_timer_settime, kid, 0, &its, 0)));
    its.it_value = (struct timespec){ -1, 0 };
    printf("tv_sec -1: %s\n", err(syscall(SYS_timer_settime, kid, 0, &its, 0)));
    its.it_value = (struct timespec){ 100, 0 };
    its.it_interval = (struct timespec){ 0, 1000000000 };
    printf("interval tv_nsec 1e9: %s\n", err(syscall(SYS_timer_settime, kid, 0, &its, 0)));
    its.it_interval.tv_nsec = 0;
    printf("bad old pointer sets anyway: %s", err(syscall(SYS_timer_settime, kid, 0, &its, (void *)8)));
    printf(", %s\n", yes(syscall(SYS_timer_gettime, kid, &its) == 0 && its.it_value.tv_sec >= 99));
    printf("gettime bad pointer: %s\n", err(syscall(SYS_timer_gettime, kid, (void *)8)));
    printf("gettime unknown id: %s\n", err(syscall(SYS_timer_gettime, 12345, &its)));
    printf("getoverrun unknown id: %s\n", err(syscall(SYS_timer_getoverrun, 12345)));
    printf("delete: %s", err(syscall(SYS_timer_delete, kid)));
    printf(", again: %s\n", err(syscall(SYS_timer_delete, kid)));

    /* Fork: the child has no timers, and numbers its own from 0. Its
     * execve deletes them, and the id counter goes on (the child has one
     * thread: musl's SIGEV_THREAD helper may still be ending here). */
    timer_t keep = make(SIGEV_NONE, 0, 0);
    set(keep, 0, 100000000000L, 0);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        long r = syscall(SYS_timer_gettime, (long)(intptr_t)keep, &its);
        timer_t c = make(SIGEV_NONE, 0, 0);
        set(c, 0, 100000000000L, 0);
        printf("fork child: parent's timer %s, first id %ld\n", err(r), (long)(intptr_t)c);
        char id[16];
        snprintf(id, sizeof id, "%ld", (long)(intptr_t)c);
        fflush(stdout);
        execl("/proc/self/exe", argv[0], "after-exec", id, (char *)0);
        printf("execl: %s\n", strerror(errno));
        return 1;
    }
    int status;
    waitpid(child, &status, 0);
    printf("child status: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    printf("parent keeps its timer: %s\n", yes(left_ns(keep) > 0));
    return 0;
}
