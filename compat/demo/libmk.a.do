# A make sub-project built from redo. make joins redo's jobserver (MAKEFLAGS), so
# `redo -j4` runs at most 4 jobs in the whole tree, make's recipes included.
redo-ifchange makepart/Makefile makepart/*.c makepart/*.h
${MAKE:-make} -s -C makepart libmk.a >&2
cp makepart/libmk.a "$3"
