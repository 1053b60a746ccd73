/*
 * Baseline for benches/test_usrsctp_bench.py: libusrsctp used the way rserpool's binding
 * uses it (UDP encapsulation, one-to-many non-blocking sockets, an upcall that only writes
 * an eventfd unless a wake-up is already outstanding, one thread polling the eventfds and
 * doing every socket call), minus Python.
 *
 *   usrsctp_pingpong rtt  COUNT SIZE   -> round trips per second
 *   usrsctp_pingpong bulk COUNT SIZE   -> MB/s (10^6 bytes) received
 *
 * It prints the rate per wall-clock second, per CPU second of the whole process (usrsctp's
 * threads included), which other load on the machine disturbs less, and per CPU second of
 * the thread doing the socket calls.
 *
 * BUSY_POLL_US=N in the environment: before sleeping in poll(), spin up to N microseconds
 * for the upcall (what rserpool's SctpParameters.busy_poll_us does).
 *
 * Both endpoints live in this one process on 127.0.0.1, like the Python bench.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <usrsctp.h>

struct end {
	struct socket *so;
	int efd;
	int pending; /* set by the first upcall since the last wake-up was consumed */
	uint16_t port;
	sctp_assoc_t assoc;
};

static void die(const char *what)
{
	fprintf(stderr, "usrsctp_pingpong: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void upcall(struct socket *so, void *arg, int flags)
{
	struct end *e = arg;
	uint64_t one = 1;
	(void)so;
	(void)flags;
	if (__atomic_exchange_n(&e->pending, 1, __ATOMIC_SEQ_CST) == 0 &&
	    write(e->efd, &one, sizeof(one)) < 0) {
		/* nothing to do: the reader polls with a timeout */
	}
}

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void open_end(struct end *e, uint16_t udp_port)
{
	const int on = 1, buf = 4 * 1024 * 1024;
	const uint16_t kinds[] = {SCTP_ASSOC_CHANGE, SCTP_PEER_ADDR_CHANGE, SCTP_SEND_FAILED_EVENT,
				  SCTP_SHUTDOWN_EVENT};
	struct sctp_udpencaps encaps;
	struct sockaddr_in sin;
	struct sockaddr *addrs;
	size_t i;

	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e->so = usrsctp_socket(AF_INET, SOCK_SEQPACKET, IPPROTO_SCTP, NULL, NULL, 0, NULL);
	if (e->efd < 0 || e->so == NULL)
		die("socket");
	usrsctp_set_non_blocking(e->so, 1);
	usrsctp_setsockopt(e->so, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof(on));
	usrsctp_setsockopt(e->so, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof(on));
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct sctp_event ev = {SCTP_FUTURE_ASSOC, kinds[i], 1};
		if (usrsctp_setsockopt(e->so, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof(ev)) < 0)
			die("SCTP_EVENT");
	}
	memset(&encaps, 0, sizeof(encaps));
	encaps.sue_address.ss_family = AF_INET;
	encaps.sue_assoc_id = SCTP_FUTURE_ASSOC;
	encaps.sue_port = htons(udp_port);
	if (usrsctp_setsockopt(e->so, IPPROTO_SCTP, SCTP_REMOTE_UDP_ENCAPS_PORT, &encaps,
			       sizeof(encaps)) < 0)
		die("SCTP_REMOTE_UDP_ENCAPS_PORT");
	usrsctp_setsockopt(e->so, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	usrsctp_setsockopt(e->so, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	e->pending = 0;
	usrsctp_set_upcall(e->so, upcall, e);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (usrsctp_bind(e->so, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("bind");
	if (usrsctp_listen(e->so, 1) < 0)
		die("listen");
	if (usrsctp_getladdrs(e->so, 0, &addrs) < 1)
		die("getladdrs");
	e->port = ntohs(((struct sockaddr_in *)addrs)->sin_port);
	usrsctp_freeladdrs(addrs);
}

/* Busy-wait up to busy_poll_us for an upcall before sleeping in poll() (0: never). */
static double busy_poll_us;

static int await_upcall(struct end *e)
{
	double deadline;
	unsigned spins = 0;
	if (busy_poll_us <= 0)
		return 0;
	deadline = clock_s(CLOCK_MONOTONIC) + busy_poll_us * 1e-6;
	while (!__atomic_load_n(&e->pending, __ATOMIC_SEQ_CST)) {
		if ((++spins & 63) == 0 && clock_s(CLOCK_MONOTONIC) >= deadline)
			return 0;
		__builtin_ia32_pause();
	}
	return 1;
}

static void wait_wakeup(struct end *e, int timeout_ms)
{
	struct pollfd p = {e->efd, POLLIN, 0};
	uint64_t v;
	if (await_upcall(e) || poll(&p, 1, timeout_ms) > 0) {
		if (read(e->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			die("eventfd");
		__atomic_store_n(&e->pending, 0, __ATOMIC_SEQ_CST); /* after the read: see binding */
	}
}

/* Receive one complete message (data, or notification if want_note); 0 if none now. */
static ssize_t recv_msg(struct end *e, char *buf, size_t len, int want_note, int *assoc)
{
	struct sctp_rcvinfo info;
	socklen_t infolen;
	unsigned int infotype;
	int flags;
	ssize_t n;

	for (;;) {
		infolen = sizeof(info);
		infotype = 0;
		flags = 0;
		n = usrsctp_recvv(e->so, buf, len, NULL, NULL, &info, &infolen, &infotype, &flags);
		if (n < 0) {
			if (errno == EWOULDBLOCK || errno == EAGAIN)
				return 0;
			die("recvv");
		}
		if (flags & MSG_NOTIFICATION) {
			if (want_note)
				return n;
			continue;
		}
		if (assoc != NULL)
			*assoc = info.rcv_assoc_id;
		if (!want_note)
			return n;
	}
}

static ssize_t wait_msg(struct end *e, char *buf, size_t len, int want_note, int *assoc)
{
	ssize_t n;
	while ((n = recv_msg(e, buf, len, want_note, assoc)) == 0)
		wait_wakeup(e, 1000);
	return n;
}

static int send_msg(struct end *e, sctp_assoc_t assoc, const char *data, size_t len)
{
	struct sctp_sndinfo info;
	memset(&info, 0, sizeof(info));
	info.snd_ppid = htonl(1);
	info.snd_assoc_id = assoc;
	if (usrsctp_sendv(e->so, data, len, NULL, 0, &info, sizeof(info), SCTP_SENDV_SNDINFO, 0) >= 0)
		return 1;
	if (errno == EWOULDBLOCK || errno == EAGAIN || errno == ENOBUFS)
		return 0;
	die("sendv");
	return -1;
}

/* A free UDP port for the encapsulation (port 0 would mean raw IP to usrsctp_init). */
static uint16_t free_udp_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		die("free UDP port");
	close(fd);
	return ntohs(sin.sin_port);
}

int main(int argc, char **argv)
{
	struct end srv, cli;
	static char buf[1 << 16];
	char *msg;
	long count, i, received = 0;
	size_t size;
	uint16_t udp_port;
	sctp_assoc_t assoc;
	int srv_assoc = 0;
	double start, cpu_start, thread_start, work;
	union sctp_notification *sn = (union sctp_notification *)buf;

	if (argc != 4)
		return 2;
	count = atol(argv[2]);
	size = (size_t)atol(argv[3]);
	msg = calloc(1, size);
	busy_poll_us = getenv("BUSY_POLL_US") ? atof(getenv("BUSY_POLL_US")) : 0;
	udp_port = free_udp_port();
	usrsctp_init(udp_port, NULL, NULL);
	usrsctp_sysctl_set_sctp_blackhole(2);
	usrsctp_sysctl_set_sctp_max_chunks_on_queue(1 << 16);
	open_end(&srv, udp_port);
	open_end(&cli, udp_port);

	struct sockaddr_in to;
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons(srv.port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (usrsctp_connectx(cli.so, (struct sockaddr *)&to, 1, &assoc) < 0 && errno != EINPROGRESS)
		die("connectx");
	do { /* until COMM_UP on both sides */
		wait_msg(&cli, buf, sizeof(buf), 1, NULL);
	} while (sn->sn_header.sn_type != SCTP_ASSOC_CHANGE);
	do {
		wait_msg(&srv, buf, sizeof(buf), 1, NULL);
	} while (sn->sn_header.sn_type != SCTP_ASSOC_CHANGE);
	srv_assoc = sn->sn_assoc_change.sac_assoc_id;

	start = clock_s(CLOCK_MONOTONIC);
	cpu_start = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	thread_start = clock_s(CLOCK_THREAD_CPUTIME_ID);
	if (strcmp(argv[1], "rtt") == 0) {
		for (i = 0; i < count; i++) {
			while (!send_msg(&cli, assoc, msg, size))
				wait_wakeup(&cli, 1);
			ssize_t n = wait_msg(&srv, buf, sizeof(buf), 0, NULL);
			while (!send_msg(&srv, srv_assoc, buf, (size_t)n))
				wait_wakeup(&srv, 1);
			wait_msg(&cli, buf, sizeof(buf), 0, NULL);
		}
		work = count;
	} else {
		long sent = 0;
		while (received < count) {
			int progress = 0;
			while (sent < count && send_msg(&cli, assoc, msg, size)) {
				sent++;
				progress = 1;
			}
			while (recv_msg(&srv, buf, sizeof(buf), 0, NULL) > 0) {
				received++;
				progress = 1;
			}
			if (!progress)
				wait_wakeup(&srv, 1);
		}
		work = (double)count * size / 1e6;
	}
	printf("%.1f %.1f %.1f\n", work / (clock_s(CLOCK_MONOTONIC) - start),
	       work / (clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu_start),
	       work / (clock_s(CLOCK_THREAD_CPUTIME_ID) - thread_start));
	fflush(stdout);
	usrsctp_close(cli.so);
	usrsctp_close(srv.so);
	/* Stop usrsctp's threads (once the closed associations are gone) before the process
	 * exits under them: exiting with them running crashed in rare runs (2 in ~300 seen). */
	for (i = 0; i < 100 && usrsctp_finish() != 0; i++)
		usleep(20000);
	return 0;
}
