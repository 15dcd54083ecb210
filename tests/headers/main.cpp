// Every public header compiles on its own: the sources beside this file are generated, one per
// header (tests/headers/generate.py), and linked here; running it only proves it was built.
int main() { return 0; }
