#ifndef DQSS_CJPEG_SHIM_H
#define DQSS_CJPEG_SHIM_H
// libjpeg-turbo (Debian libjpeg62-turbo-dev, pkg-config libjpeg). libjpeg reports errors by calling
// error_exit, which by default prints and calls exit(); the usual fix is setjmp/longjmp, which Swift
// cannot call. So each whole decode / encode runs inside one C function below that owns the jmp_buf:
// an error (or a truncated file) jumps back there, everything is destroyed, and the caller gets -1 and
// libjpeg's message. Nothing is ever printed. Only DQSSData's JPEG wrapper imports this module.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} dqss_jpeg_error_mgr;

static void dqss_jpeg_error_exit(j_common_ptr cinfo) __attribute__((unused, noreturn));
static void dqss_jpeg_error_exit(j_common_ptr cinfo) {
    dqss_jpeg_error_mgr *e = (dqss_jpeg_error_mgr *)cinfo->err;
    e->pub.format_message(cinfo, e->message);
    longjmp(e->jump, 1);
}

// Warnings are level -1. A file that ends early is decoded by libjpeg as grey padding with only a
// warning: we refuse it (a half-grey training image is worse than an error). Other warnings, such as
// "extraneous bytes before marker" found in a few real ImageNet files, are tolerated as PIL does.
static void dqss_jpeg_emit_message(j_common_ptr cinfo, int level) __attribute__((unused));
static void dqss_jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) dqss_jpeg_error_exit(cinfo);
    if (level < 0) cinfo->err->num_warnings++;
}
static void dqss_jpeg_output_message(j_common_ptr cinfo) __attribute__((unused));
static void dqss_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void dqss_jpeg_install(struct jpeg_error_mgr *pub) __attribute__((unused));
static void dqss_jpeg_install(struct jpeg_error_mgr *pub) {
    jpeg_std_error(pub);
    pub->error_exit = dqss_jpeg_error_exit;
    pub->emit_message = dqss_jpeg_emit_message;
    pub->output_message = dqss_jpeg_output_message;
}

static void dqss_jpeg_copy_message(char *out, size_t size, const char *text) __attribute__((unused));
static void dqss_jpeg_copy_message(char *out, size_t size, const char *text) {
    if (size == 0) return;
    strncpy(out, text, size - 1); out[size - 1] = 0;
}

/// Decode a JPEG held in memory to 8-bit samples: gray files to 1 channel, everything else to RGB
/// (CMYK/YCCK converted here: libjpeg has no CMYK->RGB path). On success returns 0 and a malloc'ed
/// buffer of width*height*channels bytes in *pixels, to be released with free(); on failure -1 with
/// libjpeg's message in `message` and nothing to release.
static inline int dqss_jpeg_decode(const unsigned char *data, unsigned long size, long long maxPixels,
                                   unsigned char **pixels, int *width, int *height, int *channels,
                                   char *message, size_t messageSize) {
    struct jpeg_decompress_struct cinfo;
    dqss_jpeg_error_mgr err;
    // volatile: modified after setjmp and read after the longjmp.
    unsigned char *volatile out = NULL;
    unsigned char *volatile row = NULL;
    *pixels = NULL;
    cinfo.err = &err.pub;
    dqss_jpeg_install(&err.pub);
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(out); free(row);
        dqss_jpeg_copy_message(message, messageSize, err.message);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, size);
    jpeg_read_header(&cinfo, TRUE);
    // The declared size is checked before anything is allocated: a tiny file can declare gigapixels.
    if (maxPixels > 0 && (long long)cinfo.image_width * (long long)cinfo.image_height > maxPixels) {
        snprintf(err.message, sizeof err.message, "JPEG declares %ux%u = %lld pixels, more than the limit of %lld",
                 (unsigned)cinfo.image_width, (unsigned)cinfo.image_height,
                 (long long)cinfo.image_width * (long long)cinfo.image_height, maxPixels);
        longjmp(err.jump, 1);
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    int gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
    cinfo.out_color_space = cmyk ? JCS_CMYK : (gray ? JCS_GRAYSCALE : JCS_RGB);
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, c = gray ? 1 : 3;
    if (w <= 0 || h <= 0 || w > 65536 || h > 65536) {
        snprintf(err.message, sizeof err.message, "JPEG size %dx%d outside 1...65536", w, h);
        longjmp(err.jump, 1);
    }
    out = (unsigned char *)malloc((size_t)w * (size_t)h * (size_t)c);
    row = (unsigned char *)malloc((size_t)w * (size_t)cinfo.output_components);
    if (!out || !row) {
        snprintf(err.message, sizeof err.message, "out of memory for a %dx%d JPEG", w, h);
        longjmp(err.jump, 1);
    }
    // Adobe CMYK JPEGs store inverted ink (what Photoshop writes); others store plain CMYK.
    int inverted = cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < cinfo.output_height) {
        unsigned char *dst = out + (size_t)cinfo.output_scanline * (size_t)w * (size_t)c;
        JSAMPROW rows[1] = { cmyk ? row : dst };
        jpeg_read_scanlines(&cinfo, rows, 1);
        if (cmyk) {
            for (int x = 0; x < w; x++) {
                const unsigned char *s = row + 4 * x;
                int k = inverted ? s[3] : 255 - s[3];
                for (int ch = 0; ch < 3; ch++) {
                    int v = inverted ? s[ch] : 255 - s[ch];
                    dst[3 * x + ch] = (unsigned char)((v * k + 127) / 255);
                }
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    *pixels = out; *width = w; *height = h; *channels = c;
    return 0;
}

/// Encode 8-bit gray (1) or RGB (3) samples as a baseline JPEG of `quality` (1...100) in memory. On
/// success returns 0 and a malloc'ed buffer in *jpeg (*jpegSize bytes), to be released with free().
static inline int dqss_jpeg_encode(const unsigned char *pixels, int width, int height, int channels, int quality,
                                   unsigned char **jpeg, unsigned long *jpegSize, char *message, size_t messageSize) {
    struct jpeg_compress_struct cinfo;
    dqss_jpeg_error_mgr err;
    unsigned char *volatile buffer = NULL;
    unsigned long bufferSize = 0;
    *jpeg = NULL; *jpegSize = 0;
    cinfo.err = &err.pub;
    dqss_jpeg_install(&err.pub);
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        dqss_jpeg_copy_message(message, messageSize, err.message);
        return -1;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, (unsigned char **)&buffer, &bufferSize);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = channels;
    cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW rows[1] = { (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * (size_t)width * (size_t)channels) };
        jpeg_write_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *jpeg = buffer; *jpegSize = bufferSize;
    return 0;
}
#endif
