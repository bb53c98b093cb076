# Compile $2.c into $3 and record the headers it really included.
#
# Generated headers must exist before the compiler looks for them, so ask for those
# the source names first; every other header dependency comes from the compiler's
# own -MMD list afterwards (user headers only; system headers are not tracked).
gen=
for h in version.h; do
	if grep -q "#include \"$h\"" "$2.c"; then gen="$gen $h"; fi
done
redo-ifchange "$2.c" $gen
: "${CC:=cc}"
: "${CFLAGS:=-O2 -Wall}"
$CC $CFLAGS -MMD -MF "$3.deps" -c -o "$3" "$2.c"
# "x.o: x.c a.h \
#   b.h" -> the file names after the colon.
deps=$(sed -e '1s/^[^:]*://' -e 's/\\$//' "$3.deps")
rm -f "$3.deps"
redo-ifchange $deps
