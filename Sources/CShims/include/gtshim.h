#ifndef GTSHIM_H
#define GTSHIM_H
/// C wrappers for macros and variadic calls that do not import into Swift. Every symbol has the `gtshim_` prefix.
#include <openssl/ssl.h>
#include <stdint.h>
#include <sys/types.h>

/// Ignores SIGPIPE for the whole process (writes to a closed socket return EPIPE instead of killing us).
void gtshim_ignore_sigpipe(void);

/// Initialises OpenSSL without its atexit cleanup. Call it first thing in `main`: `exit()` would otherwise free
/// OpenSSL's global state while other threads (libgit2's, a TLS connection's) may still be inside libcrypto,
/// which crashed `bd sync` at exit now and then.
void gtshim_openssl_init_no_atexit(void);

/// `SSL_CTX_set_min_proto_version` / `SSL_CTX_set_max_proto_version` (macros).
int gtshim_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version);
int gtshim_ssl_ctx_set_max_proto_version(SSL_CTX *ctx, int version);
/// `SSL_set_tlsext_host_name` (macro).
int gtshim_ssl_set_tlsext_host_name(SSL *ssl, const char *name);
/// `SSL_CTX_set_mode` (macro).
long gtshim_ssl_ctx_set_mode(SSL_CTX *ctx, long mode);
/// `BIO_get_mem_data` (macro): returns the length and sets *data.
long gtshim_bio_get_mem_data(BIO *bio, char **data);
/// `fcntl(fd, F_SETFL, O_NONBLOCK)` (variadic).
int gtshim_set_nonblocking(int fd);
/// `flock(fd, LOCK_EX | (nonblocking ? LOCK_NB : 0))`.
int gtshim_flock_exclusive(int fd, int nonblocking);
/// `open(path, flags, mode)` (variadic in Swift's view).
int gtshim_open(const char *path, int flags, mode_t mode);
/// `ioctl(fd, TIOCSCTTY/..)`-free helper: `errno` as a function (thread-local macro).
int gtshim_errno(void);
/// Names the calling thread for the system (`prctl(PR_SET_NAME)`, variadic): the kernel keeps its first 15 bytes.
/// Foundation's `Thread.name` refuses longer names on Linux, leaving the name inherited from the creating thread.
int gtshim_set_thread_name(const char *name);

/// `EVP_EC_gen("P-256")` (macro over a variadic call): a new ECDSA P-256 key, or NULL.
EVP_PKEY *gtshim_ec_p256_keygen(void);
/// `SSL_CTX_add1_chain_cert` (macro): sends `cert` after the leaf in the handshake.
int gtshim_ssl_ctx_add1_chain_cert(SSL_CTX *ctx, X509 *cert);
/// `SSL_get_peer_cert_chain` is a function, but `sk_X509_num`/`sk_X509_value` are macros.
int gtshim_sk_x509_num(STACK_OF(X509) *stack);
X509 *gtshim_sk_x509_value(STACK_OF(X509) *stack, int index);

#endif
