#ifndef DQSS_CHDF5_SHIM_H
#define DQSS_CHDF5_SHIM_H
// pkg-config hdf5 -> -I/usr/include/hdf5/serial (HDF5 1.10.8 on Debian 12). Only the thin wrapper in
// DQSSHDF5 imports this module: nothing above it sees an hid_t.
#include <hdf5.h>
#include <string.h>

// Type ids and property-list classes are macros over (H5open(), global): Swift cannot import them.
static inline hid_t dqss_h5_native_float(void)  { return H5T_NATIVE_FLOAT; }
static inline hid_t dqss_h5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t dqss_h5_native_int64(void)  { return H5T_NATIVE_INT64; }
static inline hid_t dqss_h5_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t dqss_h5_native_uint8(void)  { return H5T_NATIVE_UINT8; }
static inline hid_t dqss_h5_c_s1(void)          { return H5T_C_S1; }
// H5P_DEFAULT imports with the wrong type (Int32 instead of hid_t).
static inline hid_t dqss_h5_p_default(void)     { return H5P_DEFAULT; }
static inline hid_t dqss_h5_s_all(void)         { return H5S_ALL; }
static inline hid_t dqss_h5_p_file_access(void)   { return H5P_FILE_ACCESS; }
static inline hid_t dqss_h5_p_file_create(void)   { return H5P_FILE_CREATE; }
static inline hid_t dqss_h5_p_group_create(void)  { return H5P_GROUP_CREATE; }
static inline hid_t dqss_h5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline unsigned dqss_h5_f_acc_trunc(void)  { return H5F_ACC_TRUNC; }
static inline unsigned dqss_h5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned dqss_h5_f_acc_rdwr(void)   { return H5F_ACC_RDWR; }
static inline size_t   dqss_h5_variable(void)     { return H5T_VARIABLE; }
static inline hsize_t  dqss_h5_unlimited(void)    { return H5S_UNLIMITED; }
static inline unsigned dqss_h5_crt_order_flags(void) { return H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED; }

// HDF5's metadata checksum (Jenkins lookup3), exported by libhdf5 since 1.8.7 but declared only in a
// private header. Used to repair the superblock checksum of H5Fget_file_image (see HDF5File.image()).
uint32_t H5_checksum_metadata(const void *data, size_t len, uint32_t initval);

// HDF5 prints its error stack to stderr by default; the wrapper turns errors into Swift errors instead.
// In a thread-safe build the setting is per thread, so the wrapper calls this before its HDF5 calls.
static inline void dqss_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

// The current thread's error stack as one line: the outermost (API) message, then the innermost cause.
typedef struct { char outer[256]; char inner[256]; } dqss_h5_error_text;

static herr_t dqss_h5_walk_error(unsigned n, const H5E_error2_t *e, void *data) __attribute__((unused));
static herr_t dqss_h5_walk_error(unsigned n, const H5E_error2_t *e, void *data) {
    dqss_h5_error_text *t = (dqss_h5_error_text *)data;
    const char *d = (e && e->desc) ? e->desc : "";
    if (n == 0) { strncpy(t->outer, d, sizeof t->outer - 1); t->outer[sizeof t->outer - 1] = 0; }
    strncpy(t->inner, d, sizeof t->inner - 1); t->inner[sizeof t->inner - 1] = 0;
    return 0;
}

/// Fills `t` from the current error stack (walking from the API call down to the cause) and clears it.
static inline void dqss_h5_take_error(dqss_h5_error_text *t) {
    t->outer[0] = 0; t->inner[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, dqss_h5_walk_error, t);
    H5Eclear2(H5E_DEFAULT);
}
#endif
