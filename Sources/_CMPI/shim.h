#ifndef DQSS_CMPI_SHIM_H
#define DQSS_CMPI_SHIM_H
// pkg-config ompi-c -> -I/usr/lib/x86_64-linux-gnu/openmpi/include (Open MPI 4.1 on Debian 12).
// Never pull the MPI C++ bindings (matters if C++ interop is ever enabled).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

// Open MPI's handles are macros like ((MPI_Comm)&ompi_mpi_comm_world): Swift cannot import them, so
// they are exposed as functions. Only DQSSDistributed/MPICommunicator.swift uses this module.
static inline MPI_Comm     cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype cmpi_float(void)      { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void)     { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_int32(void)      { return MPI_INT32_T; }
static inline MPI_Datatype cmpi_int64(void)      { return MPI_INT64_T; }
static inline MPI_Datatype cmpi_byte(void)       { return MPI_BYTE; }
static inline MPI_Op       cmpi_op_sum(void)     { return MPI_SUM; }
static inline MPI_Op       cmpi_op_max(void)     { return MPI_MAX; }
static inline MPI_Op       cmpi_op_min(void)     { return MPI_MIN; }
static inline void        *cmpi_in_place(void)   { return MPI_IN_PLACE; }
static inline int          cmpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int          cmpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int          cmpi_success(void)    { return MPI_SUCCESS; }
static inline MPI_Status  *cmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status  *cmpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline int          cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
#endif
