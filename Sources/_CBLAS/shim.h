#ifndef DQSS_CBLAS_SHIM_H
#define DQSS_CBLAS_SHIM_H
// pkg-config openblas -> -I/usr/include/x86_64-linux-gnu/openblas-pthread/
// cblas.h of OpenBLAS also declares openblas_set_num_threads / openblas_get_num_threads.
#include <cblas.h>
#endif
