/*
 * resolver.c — name lookups: getaddrinfo, getnameinfo, the gethostbyname and gethostbyaddr
 * families, res_query, res_search, res_querydomain, res_send and their res_n forms.
 *
 * glibc's resolver reads files and talks to name servers through its own internal calls, which
 * greenpoll never sees, so a lookup can only block its carrier: each is libc's call made inside
 * SHIM_BLOCKING (shim.h), and while it waits the carrier's other tasks run elsewhere. Results,
 * errno, h_errno and the per-thread resolver state (_res) are libc's, on the calling task.
 *
 * The NSS modules glibc carries inside libc.so (files, dns) call nothing interposed, so nothing
 * in the bracket parks. A module loaded from a library of its own (nss-resolve, nss-mdns,
 * nss-myhostname) calls the exported functions, greenpoll's: one of its calls that takes a
 * green path (a poll with a timeout, a read of a socket with nothing to read) would park
 * inside the bracket, which sched.h forbids. Host lookups configured "files dns" (Debian's
 * default, and this machine's) load no such module.
 */
#include "shim.h"

#include <netdb.h>
#include <resolv.h>

GR_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			  struct addrinfo **res)
{
	SHIM_CALLED(getaddrinfo);
	return SHIM_BLOCKING(REAL(getaddrinfo)(node, service, hints, res));
}

GR_EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
			  socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
	SHIM_CALLED(getnameinfo);
	return SHIM_BLOCKING(REAL(getnameinfo)(sa, salen, host, hostlen, serv, servlen, flags));
}

GR_EXPORT struct hostent *gethostbyname(const char *name)
{
	SHIM_CALLED(gethostbyname);
	return SHIM_BLOCKING(REAL(gethostbyname)(name));
}

GR_EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
	SHIM_CALLED(gethostbyname2);
	return SHIM_BLOCKING(REAL(gethostbyname2)(name, af));
}

GR_EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
			      struct hostent **result, int *h_errnop)
{
	SHIM_CALLED(gethostbyname_r);
	return SHIM_BLOCKING(REAL(gethostbyname_r)(name, ret, buf, buflen, result, h_errnop));
}

GR_EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
			       size_t buflen, struct hostent **result, int *h_errnop)
{
	SHIM_CALLED(gethostbyname2_r);
	return SHIM_BLOCKING(
		REAL(gethostbyname2_r)(name, af, ret, buf, buflen, result, h_errnop));
}

GR_EXPORT struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
	SHIM_CALLED(gethostbyaddr);
	return SHIM_BLOCKING(REAL(gethostbyaddr)(addr, len, type));
}

GR_EXPORT int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret,
			      char *buf, size_t buflen, struct hostent **result, int *h_errnop)
{
	SHIM_CALLED(gethostbyaddr_r);
	return SHIM_BLOCKING(
		REAL(gethostbyaddr_r)(addr, len, type, ret, buf, buflen, result, h_errnop));
}

GR_EXPORT int res_query(const char *dname, int class, int type, unsigned char *answer,
			int anslen)
{
	SHIM_CALLED(res_query);
	return SHIM_BLOCKING(REAL(res_query)(dname, class, type, answer, anslen));
}

GR_EXPORT int res_search(const char *dname, int class, int type, unsigned char *answer,
			 int anslen)
{
	SHIM_CALLED(res_search);
	return SHIM_BLOCKING(REAL(res_search)(dname, class, type, answer, anslen));
}

GR_EXPORT int res_querydomain(const char *name, const char *domain, int class, int type,
			      unsigned char *answer, int anslen)
{
	SHIM_CALLED(res_querydomain);
	return SHIM_BLOCKING(REAL(res_querydomain)(name, domain, class, type, answer, anslen));
}

GR_EXPORT int res_send(const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
	SHIM_CALLED(res_send);
	return SHIM_BLOCKING(REAL(res_send)(msg, msglen, answer, anslen));
}

GR_EXPORT int res_nquery(res_state st, const char *dname, int class, int type,
			 unsigned char *answer, int anslen)
{
	SHIM_CALLED(res_nquery);
	return SHIM_BLOCKING(REAL(res_nquery)(st, dname, class, type, answer, anslen));
}

GR_EXPORT int res_nsearch(res_state st, const char *dname, int class, int type,
			  unsigned char *answer, int anslen)
{
	SHIM_CALLED(res_nsearch);
	return SHIM_BLOCKING(REAL(res_nsearch)(st, dname, class, type, answer, anslen));
}

GR_EXPORT int res_nquerydomain(res_state st, const char *name, const char *domain, int class,
			       int type, unsigned char *answer, int anslen)
{
	SHIM_CALLED(res_nquerydomain);
	return SHIM_BLOCKING(
		REAL(res_nquerydomain)(st, name, domain, class, type, answer, anslen));
}

GR_EXPORT int res_nsend(res_state st, const unsigned char *msg, int msglen,
			unsigned char *answer, int anslen)
{
	SHIM_CALLED(res_nsend);
	return SHIM_BLOCKING(REAL(res_nsend)(st, msg, msglen, answer, anslen));
}
