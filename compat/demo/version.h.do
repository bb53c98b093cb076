# version.h is generated from VERSION; it changes (and its dependants rebuild) only
# when VERSION does.
redo-ifchange VERSION
read -r v <VERSION
printf '#ifndef VERSION_H\n#define VERSION_H\n#define DEMO_VERSION "%s"\n#endif\n' "$v"
