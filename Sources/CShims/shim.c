#include "gtshim.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>

void gtshim_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }
int gtshim_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_min_proto_version(ctx, version); }
int gtshim_ssl_ctx_set_max_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_max_proto_version(ctx, version); }
int gtshim_ssl_set_tlsext_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
long gtshim_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
long gtshim_bio_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }
int gtshim_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}
int gtshim_flock_exclusive(int fd, int nonblocking) { return flock(fd, LOCK_EX | (nonblocking ? LOCK_NB : 0)); }
int gtshim_open(const char *path, int flags, mode_t mode) { return open(path, flags, mode); }
int gtshim_errno(void) { return errno; }
