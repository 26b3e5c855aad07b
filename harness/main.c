// placeholder: harness pending
int main(void) { return 1; }
