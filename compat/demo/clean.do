rm -f prog hello-rs libmk.a version.h *.o *.tmp
rm -rf crate/target
${MAKE:-make} -s -C makepart clean >&2
