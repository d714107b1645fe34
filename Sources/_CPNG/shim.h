#ifndef DQSS_CPNG_SHIM_H
#define DQSS_CPNG_SHIM_H
// pkg-config libpng -> -I/usr/include/libpng16. The simplified API (png_image) needs no setjmp.
#include <png.h>

// Helpers for what Swift cannot import directly (a char array field, function-like macros).
static inline const char *dqss_png_message(const png_image *image) { return image->message; }
static inline int dqss_png_failed(const png_image *image) { return PNG_IMAGE_FAILED(*image); }
static inline png_uint_32 dqss_png_version(void) { return PNG_IMAGE_VERSION; }
static inline png_uint_32 dqss_png_format_gray(void) { return PNG_FORMAT_GRAY; }
static inline png_uint_32 dqss_png_format_rgb(void) { return PNG_FORMAT_RGB; }
static inline png_uint_32 dqss_png_flag_color(void) { return PNG_FORMAT_FLAG_COLOR; }
#endif
