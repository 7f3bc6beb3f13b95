#include <cblas.h>
#include <stddef.h>

/* The two LAPACK routines GPTQ factors its Hessian with; OpenBLAS exports them but installs no
 * LAPACK header. Fortran calling convention: every argument by address, then the hidden lengths
 * of the character arguments. */
void dpotrf_(const char *uplo, const blasint *n, double *a, const blasint *lda, blasint *info,
             size_t uplo_len);
void dtrtri_(const char *uplo, const char *diag, const blasint *n, double *a, const blasint *lda,
             blasint *info, size_t uplo_len, size_t diag_len);
