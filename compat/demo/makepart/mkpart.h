#ifndef MKPART_H
#define MKPART_H
#include <stdint.h>
uint32_t mk_adler32(const char *s);
const char *mk_rot13(const char *s);
char *mk_pool_dup(const char *s);
#endif
