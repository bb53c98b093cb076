objs="main.o greet.o stats.o strutil.o"
redo-ifchange $objs libmk.a
${CC:-cc} -o "$3" $objs libmk.a
