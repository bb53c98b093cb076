#include "mkpart.h"

const char *mk_rot13(const char *s)
{
	char *r = mk_pool_dup(s);
	for (char *p = r; *p; p++) {
		if (*p >= 'a' && *p <= 'z')
			*p = 'a' + (*p - 'a' + 13) % 26;
		else if (*p >= 'A' && *p <= 'Z')
			*p = 'A' + (*p - 'A' + 13) % 26;
	}
	return r;
}
