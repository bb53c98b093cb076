#include "stats.h"

long stats_sum(const int *v, size_t n)
{
	long s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return s;
}

double stats_mean(const int *v, size_t n)
{
	return n ? (double)stats_sum(v, n) / (double)n : 0.0;
}
