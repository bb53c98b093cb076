#include <stdio.h>
#include "greet.h"
#include "stats.h"
#include "strutil.h"
#include "version.h"
#include "makepart/mkpart.h"

int main(int argc, char **argv)
{
	int v[] = { 3, 1, 4, 1, 5, 9, 2, 6 };
	size_t n = sizeof v / sizeof v[0];
	char word[] = "ferredo";

	greet(argc > 1 ? argv[1] : "world");
	printf("version %s, built by redo\n", DEMO_VERSION);
	printf("sum=%ld mean=%.3f\n", stats_sum(v, n), stats_mean(v, n));
	printf("'ferredo' has %zu r's; reversed: %s\n", str_count(word, 'r'), str_reverse(word));
	printf("adler32(\"redo\")=%08lx rot13(\"redo\")=%s\n",
	       (unsigned long)mk_adler32("redo"), mk_rot13("redo"));
	return 0;
}
