#include "mkpart.h"

uint32_t mk_adler32(const char *s)
{
	uint32_t a = 1, b = 0;
	for (; *s; s++) {
		a = (a + (unsigned char)*s) % 65521;
		b = (b + a) % 65521;
	}
	return (b << 16) | a;
}
