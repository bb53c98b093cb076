# The C program (whose .do files also run make on makepart/) and the Rust program
# (built by cargo), side by side.
redo-ifchange prog hello-rs
