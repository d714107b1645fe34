#ifndef DQSS_CPNG_SHIM_H
#define DQSS_CPNG_SHIM_H
// pkg-config libpng -> -I/usr/include/libpng16. The simplified API (png_image) needs no setjmp.
#include <png.h>
#endif
