redo-ifchange prog
