#include "gtshim.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>

void gtshim_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }
void gtshim_openssl_init_no_atexit(void) {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
    OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT, NULL);
}
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
int gtshim_set_thread_name(const char *name) { return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0); }
EVP_PKEY *gtshim_ec_p256_keygen(void) { return EVP_EC_gen("P-256"); }
int gtshim_ssl_ctx_add1_chain_cert(SSL_CTX *ctx, X509 *cert) { return (int)SSL_CTX_add1_chain_cert(ctx, cert); }
int gtshim_sk_x509_num(STACK_OF(X509) *stack) { return sk_X509_num(stack); }
X509 *gtshim_sk_x509_value(STACK_OF(X509) *stack, int index) { return sk_X509_value(stack, index); }
