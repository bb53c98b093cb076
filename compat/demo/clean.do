rm -f prog libmk.a version.h *.o *.tmp
${MAKE:-make} -s -C makepart clean >&2
